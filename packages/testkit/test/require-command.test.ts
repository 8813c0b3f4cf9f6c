import { describe, expect, it } from 'vitest';
import { requireCommand } from '../src/index.js';

describe('requireCommand', () => {
  it('finds a tool that exists', () => {
    expect(requireCommand('sh', 'dash', {}).available).toBe(true);
  });

  it('skips with an install hint when a tool is missing outside CI', () => {
    const r = requireCommand('no-such-tool-xyz', 'no-such-package', {});
    expect(r.available).toBe(false);
    expect(r.message).toContain('apt-get install no-such-package');
  });

  it('fails under CI=true when a tool is missing', () => {
    expect(() => requireCommand('no-such-tool-xyz', 'no-such-package', { CI: 'true' })).toThrow(/CI=true/);
  });
});

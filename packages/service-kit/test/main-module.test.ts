import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isMainModule } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'service-kit-main-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('isMainModule', () => {
  const file = join(dir, 'main.js');
  writeFileSync(file, '');
  const link = join(dir, 'bin-link');
  symlinkSync(file, link);
  const url = pathToFileURL(file).href;

  it('matches the script itself, through a symlink, and without the extension', () => {
    expect(isMainModule(url, file)).toBe(true);
    expect(isMainModule(url, link)).toBe(true);
    expect(isMainModule(url, join(dir, 'main'))).toBe(true);
  });

  it('rejects other scripts and a missing argv[1]', () => {
    expect(isMainModule(url, join(dir, 'other.js'))).toBe(false);
    expect(isMainModule(url, undefined)).toBe(false);
    expect(isMainModule('node:test', file)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { ManagedProcess, waitFor } from '../src/index.js';

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let n = 0;
    await expect(waitFor(() => (++n >= 3 ? n : undefined), { intervalMs: 1 })).resolves.toBe(3);
  });

  it('fails on the deadline, naming what it waited for and the last error', async () => {
    await expect(
      waitFor(
        () => {
          throw new Error('nope');
        },
        { timeoutMs: 30, intervalMs: 5, what: 'the moon' },
      ),
    ).rejects.toThrow(/the moon.*nope/);
  });
});

describe('ManagedProcess', () => {
  it('starts, kills with SIGKILL and restarts a real process', async () => {
    const p = new ManagedProcess({
      name: 'sleeper',
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
    });
    p.start();
    expect(p.running).toBe(true);
    const first = p.pid;
    await p.kill();
    expect(p.running).toBe(false);
    await p.restart();
    expect(p.running).toBe(true);
    expect(p.pid).not.toBe(first);
    await p.close();
    expect(p.running).toBe(false);
  });
});

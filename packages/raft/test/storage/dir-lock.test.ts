import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@flynn-edge/testkit';
import { describe, expect, it } from 'vitest';
import { DirLockedError, FileStorage } from '../../src/storage/index.js';

// One process per data directory: a second process is refused while the first lives, and a lock
// left by a killed process is taken over.

const dist = fileURLToPath(new URL('../../dist/storage/index.js', import.meta.url));

describe('data directory lock', () => {
  it('refuses a second process and takes over after the holder is SIGKILLed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raft-lock-'));
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { FileStorage } = await import(${JSON.stringify(dist)}); await FileStorage.open(${JSON.stringify(dir)}); console.log('locked'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    holder.stdout!.on('data', (d) => (out += d));
    await waitFor(() => out.includes('locked'), { timeoutMs: 10_000, what: 'the holder to take the lock' });
    await expect(FileStorage.open(dir)).rejects.toBeInstanceOf(DirLockedError);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    const { storage } = await FileStorage.open(dir);
    await storage.close();
  });
});

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ZfsDriver } from '../src/index.js';

/** A pool name no other test file (or run) uses: zfs-fuse is one daemon per machine. */
export function uniquePoolName(tag: string): string {
  return `fe-${tag}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export async function tempDir(tag: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `flynn-zfs-${tag}-`));
}

export async function sparseFile(file: string, bytes: number): Promise<string> {
  await writeFile(file, '', { mode: 0o600 });
  await truncate(file, bytes);
  return file;
}

/**
 * Destroys the pools (forcefully, retrying while zfs-fuse still calls them busy) and removes the
 * temp dirs. A pool that cannot be destroyed fails the cleanup: a leaked pool keeps zfs-fuse busy.
 */
export async function cleanup(driver: ZfsDriver, pools: string[], dirs: string[]): Promise<void> {
  const leaked: string[] = [];
  for (const pool of pools) {
    let lastError: unknown;
    for (let attempt = 0; attempt < 20 && (await driver.poolExists(pool).catch(() => false)); attempt++) {
      try {
        await driver.destroyPool(pool, true);
      } catch (err) {
        lastError = err;
        if (process.env.ZFS_TEST_DEBUG) process.stderr.write(`destroy ${pool}: ${(err as Error).message}\n`);
        await sleep(250);
      }
    }
    if (await driver.poolExists(pool).catch(() => false))
      leaked.push(`${pool}: ${(lastError as Error)?.message}`);
  }
  for (const dir of dirs) await rm(dir, { recursive: true, force: true }).catch(() => {});
  if (leaked.length > 0) throw new Error(`could not destroy pools: ${leaked.join('; ')}`);
}

export const MiB = 2 ** 20;

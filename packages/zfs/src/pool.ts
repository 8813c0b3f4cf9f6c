// Flynn's default pool: use an existing pool, else create one on a sparse file under the volume
// path, or import that file when it is already there (spec §4.6).

import { constants } from 'node:fs';
import { mkdir, open, statfs, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { ZfsDriver } from './driver.js';

export const DEFAULT_POOL_NAME = 'flynn-default';
export const DEFAULT_VOLPATH = '/var/lib/flynn/volumes';
/** Used when the size of the filesystem holding volPath cannot be read. */
export const FALLBACK_POOL_SIZE = 100 * 2 ** 30;
/** Dataset types created under the pool (zfs-fuse has no zvols, so only data volumes). */
export const DATASET_TYPES = ['data'] as const;

export interface EnsurePoolOptions {
  driver: ZfsDriver;
  /** Default flynn-default. */
  name?: string;
  /** Default /var/lib/flynn/volumes. */
  volPath?: string;
  /** Backing file size in bytes; default 70 % of the filesystem holding volPath. */
  size?: number;
}

export interface PoolInfo {
  name: string;
  /** How the pool was found: it existed, was created, or was imported from the backing file. */
  origin: 'existing' | 'created' | 'imported';
  /** The backing file (whether or not it is in use). */
  vdevPath: string;
}

export function vdevPathFor(volPath: string, name: string): string {
  return path.join(volPath, 'zfs', 'vdev', `${name}-zpool.vdev`);
}

async function defaultSize(volPath: string): Promise<number> {
  try {
    const s = await statfs(volPath);
    const total = s.bsize * s.blocks;
    if (total > 0) return Math.floor((total * 0.7) / 8192) * 8192;
  } catch {
    // fall through
  }
  return FALLBACK_POOL_SIZE;
}

export async function ensurePool(options: EnsurePoolOptions): Promise<PoolInfo> {
  const { driver } = options;
  const name = options.name ?? DEFAULT_POOL_NAME;
  const volPath = path.resolve(options.volPath ?? DEFAULT_VOLPATH);
  const vdevPath = vdevPathFor(volPath, name);
  let origin: PoolInfo['origin'] = 'existing';

  if (!(await driver.exists(name))) {
    await mkdir(path.dirname(vdevPath), { recursive: true, mode: 0o755 });
    let created = false;
    try {
      // O_EXCL: never overwrite a file that may hold a pool.
      const fh = await open(vdevPath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      try {
        await fh.truncate(options.size ?? (await defaultSize(volPath)));
      } finally {
        await fh.close();
      }
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (created) {
      try {
        await driver.createPool(name, [vdevPath], { mountpoint: 'none' });
      } catch (err) {
        // The file is ours and empty: remove it so that the next start does not try to import it.
        await unlink(vdevPath).catch(() => {});
        throw err;
      }
      origin = 'created';
    } else {
      try {
        await driver.importPool(name, path.dirname(vdevPath));
      } catch (err) {
        // Never overwrite the file: it may hold data.
        throw new Error(
          `pool ${name} is missing and ${vdevPath} exists but could not be imported: ${(err as Error).message}`,
          { cause: err },
        );
      }
      origin = 'imported';
    }
  }

  for (const type of DATASET_TYPES) {
    const child = `${name}/${type}`;
    if (!(await driver.exists(child))) await driver.createDataset(child);
  }
  return { name, origin, vdevPath };
}

// Test helper: makes sure some ZFS answers (starting zfs-fuse when nothing does) and stops only a
// daemon it started. With CI=true a missing zfs-fuse is a failure; otherwise the ZFS tests skip
// with a message saying what to install.

import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireCommand } from '@flynn-edge/testkit';
import { ensureZfsFuse, type ZfsFuseHandle, zfsReachable } from '../src/index.js';

export const INSTALL_HINT =
  'ZFS tests need root and zfs-fuse: `apt-get install zfs-fuse` (or run bash .ci/run)';

export interface ZfsTestEnv {
  available: boolean;
  message: string;
  handle?: ZfsFuseHandle;
}

/** Starts zfs-fuse if no ZFS answers. Throws under CI=true when that is impossible. */
export async function startZfsForTests(env = process.env): Promise<ZfsTestEnv> {
  if (await zfsReachable()) return { available: true, message: 'ZFS is answering' };
  const tool = requireCommand('zfs-fuse', 'zfs-fuse', env);
  if (!tool.available) return { available: false, message: tool.message };
  if (process.getuid?.() !== 0) {
    const message = `${INSTALL_HINT}; not running as root`;
    if (env.CI === 'true') throw new Error(`CI=true and ${message}`);
    return { available: false, message };
  }
  // One daemon per machine, so one fixed pid file (no temp dir left behind per run).
  try {
    const handle = await ensureZfsFuse({ pidFile: path.join(tmpdir(), 'flynn-edge-zfs-fuse.pid') });
    return { available: true, message: 'started zfs-fuse', handle };
  } catch (err) {
    const message = `${INSTALL_HINT}: ${(err as Error).message}`;
    if (env.CI === 'true') throw new Error(`CI=true and ${message}`);
    return { available: false, message };
  }
}

/** For test files: is ZFS usable now? Under CI=true a missing ZFS throws instead of skipping. */
export async function zfsAvailableForTests(env = process.env): Promise<boolean> {
  if (await zfsReachable().catch(() => false)) return true;
  const message = `${INSTALL_HINT} (no ZFS daemon or module answers)`;
  if (env.CI === 'true') throw new Error(`CI=true and ${message}`);
  process.stderr.write(`skipping ZFS tests: ${message}\n`);
  return false;
}

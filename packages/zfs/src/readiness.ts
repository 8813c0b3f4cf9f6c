// Why ZFS volumes are off, in words an operator can act on: not root, zfs-fuse not installed,
// its daemon not running, or running but not answering. Detection (probeZfs) is kept apart from
// the wording (zfsReadiness), so the wording is testable without changing the machine.

import { access, constants, readdir, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { ZfsDriver } from './driver.js';

export interface ZfsFacts {
  /** `zpool list` works. */
  answers: boolean;
  /** What `zpool list` said when it failed. */
  error?: string;
  root: boolean;
  /** The zfs-fuse binary is on PATH (or in /usr/sbin, /sbin). */
  installed: boolean;
  /** A running zfs-fuse process. */
  pid?: number;
}

export type ZfsReadiness =
  | { ready: true }
  | { ready: false; missing: 'root' | 'zfs-fuse' | 'daemon' | 'answer'; message: string };

const START = 'zfs-fuse --pidfile /run/zfs-fuse.pid';

export function zfsReadiness(f: ZfsFacts): ZfsReadiness {
  if (f.answers) return { ready: true };
  if (!f.root) {
    return {
      ready: false,
      missing: 'root',
      message: `volumes need root (zfs-fuse needs /dev/fuse)${f.installed ? '' : ' and zfs-fuse (apt-get install zfs-fuse)'}: run as root`,
    };
  }
  if (!f.installed) {
    return {
      ready: false,
      missing: 'zfs-fuse',
      message: `zfs-fuse is not installed: apt-get install zfs-fuse, then start it with \`${START}\``,
    };
  }
  if (f.pid === undefined) {
    return {
      ready: false,
      missing: 'daemon',
      message: `zfs-fuse is installed but its daemon is not running: start it with \`${START}\``,
    };
  }
  return {
    ready: false,
    missing: 'answer',
    message: `zfs-fuse is running (pid ${f.pid}) but does not answer \`zpool list\`${f.error ? ` (${f.error})` : ''}: restart it with \`kill ${f.pid}; ${START}\``,
  };
}

async function onPath(name: string): Promise<boolean> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].filter(Boolean);
  for (const dir of dirs) {
    try {
      await access(join(dir, name), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

/** The pid of a process whose name is `name`, from /proc. */
async function processNamed(name: string): Promise<number | undefined> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const comm = await readFile(`/proc/${e}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === name) return Number(e);
  }
  return undefined;
}

export async function probeZfs(driver = new ZfsDriver()): Promise<ZfsFacts> {
  try {
    await driver.zpool(['list', '-H', '-o', 'name'], { timeoutMs: 10_000 });
    return { answers: true, root: process.getuid?.() === 0, installed: true };
  } catch (err) {
    const [installed, pid] = await Promise.all([onPath('zfs-fuse'), processNamed('zfs-fuse')]);
    const said = (err as { stderr?: string }).stderr || (err as Error).message;
    const error = said.trim().split('\n')[0];
    return { answers: false, error, root: process.getuid?.() === 0, installed, pid };
  }
}

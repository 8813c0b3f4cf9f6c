// Starting zfs-fuse (Debian's userspace ZFS) when no ZFS is answering, and stopping it again only
// if we started it. zfs-fuse is one daemon per machine: a second start fails on its lock, so two
// starters racing is harmless (the loser finds the winner's daemon answering).

import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ZfsDriver } from './driver.js';
import { ZfsUnavailableError } from './exec.js';

export interface ZfsFuseHandle {
  /** True when this call started the daemon (and stop() may end it). */
  startedByUs: boolean;
  pid?: number;
  /**
   * Ends the daemon if this handle started it and no pool is left (other users may still have
   * pools on it). `force` stops it even with pools. Never touches a daemon it did not start.
   */
  stop(options?: { force?: boolean; timeoutMs?: number }): Promise<boolean>;
}

export interface EnsureZfsFuseOptions {
  /** Where zfs-fuse writes its pid. */
  pidFile: string;
  /** Default "zfs-fuse". */
  binary?: string;
  driver?: ZfsDriver;
  /** How long to wait for the daemon to answer; default 20 s. */
  timeoutMs?: number;
}

/** True when `zpool list` works (a zfs-fuse daemon or the kernel module answers). */
export async function zfsReachable(driver = new ZfsDriver()): Promise<boolean> {
  try {
    await driver.zpool(['list', '-H', '-o', 'name'], { timeoutMs: 10_000 });
    return true;
  } catch (err) {
    if (err instanceof ZfsUnavailableError) return false;
    throw err;
  }
}

function processGone(pid: number): Promise<boolean> {
  return readFile(`/proc/${pid}/stat`, 'utf8').then(
    // A zombie (state Z) has exited; its parent just has not reaped it yet.
    (stat) => /^\d+ \(.*\) Z/.test(stat),
    () => true,
  );
}

/**
 * zfs-fuse refuses to start (exit 1, no message) while its pid file exists, even when that pid is
 * long gone, as after a crash or a killed session. Removes the file unless it names a live zfs-fuse.
 * Returns true when it removed one.
 */
export async function clearStalePidFile(pidFile: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number.parseInt(await readFile(pidFile, 'utf8'), 10);
  } catch {
    return false;
  }
  if (Number.isInteger(pid) && pid > 1) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('zfs-fuse') && !(await processGone(pid))) return false;
  }
  await rm(pidFile, { force: true });
  return true;
}

function runOnce(command: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

export async function ensureZfsFuse(options: EnsureZfsFuseOptions): Promise<ZfsFuseHandle> {
  const driver = options.driver ?? new ZfsDriver();
  const notOurs: ZfsFuseHandle = { startedByUs: false, stop: async () => false };
  if (await zfsReachable(driver)) return notOurs;

  const binary = options.binary ?? 'zfs-fuse';
  if (process.getuid?.() !== 0) {
    throw new ZfsUnavailableError(
      'zfs-fuse must be started as root (it needs /dev/fuse); volumes are unavailable',
      binary,
      [],
      null,
      '',
    );
  }
  const args = ['--pidfile', options.pidFile];
  const startOnce = async (): Promise<{ code: number | null; stderr: string }> => {
    await clearStalePidFile(options.pidFile);
    try {
      // zfs-fuse daemonizes: this returns once the daemon has forked.
      return await runOnce(binary, args);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ZfsUnavailableError(
        e.code === 'ENOENT'
          ? `${binary} not found: install it with apt-get install zfs-fuse`
          : `${binary}: ${e.message}`,
        binary,
        args,
        null,
        e.message,
      );
    }
  };

  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let result = await startOnce();
  let lastStart = Date.now();
  while (!(await zfsReachable(driver))) {
    if (Date.now() >= deadline) {
      throw new ZfsUnavailableError(
        `zfs-fuse did not start answering (exit status ${result.code}${result.stderr ? `: ${result.stderr.trim()}` : ''})`,
        binary,
        args,
        result.code,
        result.stderr,
      );
    }
    // A failed start usually means a previous daemon is still shutting down and holds the lock:
    // try again once it is gone.
    if (result.code !== 0 && Date.now() - lastStart > 500) {
      result = await startOnce();
      lastStart = Date.now();
    }
    await sleep(50);
  }
  // Exit status 0 means our start won; otherwise another starter's daemon is answering.
  if (result.code !== 0) return notOurs;
  let pid: number | undefined;
  try {
    pid = Number.parseInt(await readFile(options.pidFile, 'utf8'), 10);
  } catch {
    return notOurs;
  }
  if (!Number.isInteger(pid) || pid <= 1) return notOurs;
  const ourPid = pid;

  return {
    startedByUs: true,
    pid: ourPid,
    async stop(stopOptions = {}) {
      if (await processGone(ourPid)) return false;
      if (!stopOptions.force) {
        const pools = await driver.listPools().catch(() => []);
        if (pools.length > 0) return false;
      }
      try {
        process.kill(ourPid, 'SIGTERM');
      } catch {
        return false;
      }
      const stopDeadline = Date.now() + (stopOptions.timeoutMs ?? 20_000);
      while (!(await processGone(ourPid))) {
        if (Date.now() >= stopDeadline) {
          process.kill(ourPid, 'SIGKILL');
          break;
        }
        await sleep(50);
      }
      return true;
    },
  };
}

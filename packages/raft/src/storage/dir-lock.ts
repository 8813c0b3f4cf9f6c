import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

// One process per data directory: two Raft members writing one WAL would corrupt it silently.
// The lock is a file holding the owner's pid, created exclusively. A lock left by a process that
// is gone (SIGKILL, power loss) is taken over; one held by a live process refuses to open.

export const LOCK_FILE = 'LOCK';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(
      `${dir} is in use by process ${pid}; stop it first (or remove ${join(dir, LOCK_FILE)} if that pid is not a Raft member)`,
    );
  }
}

/** Takes the lock; resolves with a function that releases it. */
export async function lockDir(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return () => unlink(path).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number.parseInt((await readFile(path, 'utf8').catch(() => '')).trim(), 10);
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner))
      throw new DirLockedError(dir, owner);
    // Stale (its process is gone) or unreadable: take it over.
    await unlink(path).catch(() => {});
  }
  throw new Error(`could not lock ${dir}`);
}

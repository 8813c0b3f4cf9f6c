import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// One daemon supervises a state directory at a time. Two reading the same job output would write
// its lines twice: after a hand-over whose old daemon died, systemd starts a daemon again while
// the new one may still be winding down (saving offsets, flushing logs). `<state>/daemon.pid`
// names the daemon in charge; a starting daemon waits for another live one to go, except for the
// daemon handing over to it (its parent).

const FILE = 'daemon.pid';

/** A live flynn-host process (not a reused pid). */
function isDaemon(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('flynn-host');
  } catch {
    return false;
  }
}

export class StateLock {
  private readonly file: string;

  constructor(stateDir: string) {
    this.file = join(stateDir, FILE);
  }

  /** The pid written there, if any. */
  holder(): number | undefined {
    try {
      const pid = Number(readFileSync(this.file, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Waits until no other live daemon holds the directory (`parent`, handing over, does not count),
   * then takes it. Throws after `timeoutMs`.
   */
  async acquire(opts: { parent?: number; timeoutMs: number; onWait?: (pid: number) => void }): Promise<void> {
    const deadline = Date.now() + opts.timeoutMs;
    let told = false;
    for (;;) {
      const pid = this.holder();
      if (pid === undefined || pid === process.pid || pid === opts.parent || !isDaemon(pid)) break;
      if (!told) opts.onWait?.(pid);
      told = true;
      if (Date.now() > deadline)
        throw new Error(`another flynn-host (pid ${pid}) still supervises this state directory`);
      await sleep(100);
    }
    this.take();
  }

  /** Names this process (a daemon supervising again after a failed hand-over). */
  take(): void {
    mkdirSync(join(this.file, '..'), { recursive: true });
    const tmp = `${this.file}.${process.pid}`;
    writeFileSync(tmp, `${process.pid}\n`);
    renameSync(tmp, this.file);
  }
}

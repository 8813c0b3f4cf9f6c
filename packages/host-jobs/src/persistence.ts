import { join } from 'node:path';
import { isFinished } from './lifecycle.js';
import type { SpoolOffsets } from './output.js';
import { isSameProcessAlive, readProcStat } from './procfs.js';
import { readJson, writeJsonAtomic } from './state.js';
import type { Job } from './types.js';

// The manager's state on disk, so that a new manager re-adopts the jobs an old one left running:
// `jobs.json` (every job, with its spool offsets and backoff) and `offsets.json` (the spool
// offsets alone, rewritten often while lines flow). Both are replaced atomically.

export interface PersistedJob {
  job: Job;
  spool: SpoolOffsets;
  backoffMs: number;
}

interface PersistedState {
  version: 1;
  hostId: string;
  jobs: PersistedJob[];
}

interface PersistedOffsets {
  version: 1;
  spools: Record<string, SpoolOffsets>;
}

/** Offsets only grow: per stream, the later of the two. */
function laterOffsets(a: SpoolOffsets, b: SpoolOffsets | undefined): SpoolOffsets {
  if (!b) return a;
  const pick = (x: SpoolOffsets['stdout'], y: SpoolOffsets['stdout']) => (y.offset >= x.offset ? y : x);
  return { stdout: pick(a.stdout, b.stdout), stderr: pick(a.stderr, b.stderr) };
}

export class StateFiles {
  constructor(readonly dir: string) {}

  get statePath(): string {
    return join(this.dir, 'jobs.json');
  }

  get offsetsPath(): string {
    return join(this.dir, 'offsets.json');
  }

  /** A job's spool files. */
  jobDir(id: string): string {
    return join(this.dir, 'jobs', id);
  }

  private read<T>(path: string): T | undefined {
    try {
      return readJson(path) as T | undefined;
    } catch (err) {
      throw new Error(`${path}: unreadable state file (${(err as Error).message})`);
    }
  }

  /**
   * The jobs a previous manager saved, as a new manager takes them over: not registered, not its
   * children, spools at the later of the two files' offsets. Throws on a state file it cannot use.
   */
  load(warn: (err: Error) => void): PersistedJob[] {
    const raw = this.read<PersistedState>(this.statePath);
    if (raw !== undefined && (raw.version !== 1 || !Array.isArray(raw.jobs))) {
      throw new Error(`${this.statePath}: not a job state file (version ${String(raw.version)})`);
    }
    let offsets: PersistedOffsets | undefined;
    try {
      offsets = this.read<PersistedOffsets>(this.offsetsPath);
    } catch (err) {
      // torn (a disk error, a crash of the machine): the state file's offsets are older, not lost
      warn(new Error(`${(err as Error).message}; using the offsets in the state file`));
    }
    return (raw?.jobs ?? []).map((p) => ({
      job: { ...p.job, registered: false, child: false },
      spool: laterOffsets(p.spool, offsets?.spools?.[p.job.id]),
      backoffMs: p.backoffMs,
    }));
  }

  saveOffsets(spools: Record<string, SpoolOffsets>): void {
    writeJsonAtomic(this.offsetsPath, { version: 1, spools } satisfies PersistedOffsets);
  }

  save(hostId: string, jobs: PersistedJob[]): void {
    writeJsonAtomic(this.statePath, { version: 1, hostId, jobs } satisfies PersistedState);
  }
}

/** What becomes of a saved job when a new manager starts. */
export type Recovery =
  | { kind: 'adopt' }
  /** Its process is gone (or the pid names another one), or it was never spawned. */
  | { kind: 'exited'; why: string }
  | { kind: 'restart'; delayMs: number }
  | { kind: 'none' };

export function recovery(job: Job): Recovery {
  if (job.state === 'running' && job.pid !== undefined) {
    if (isSameProcessAlive(job.pid, job.procStartTime)) return { kind: 'adopt' };
    const st = readProcStat(job.pid);
    const why =
      st && st.state !== 'Z' && job.procStartTime !== undefined && st.startTime !== job.procStartTime
        ? `pid ${job.pid} now names another process`
        : `pid ${job.pid} is gone`;
    return {
      kind: 'exited',
      why: `${why}: the job exited while no manager supervised it; exit status unknown`,
    };
  }
  if (!isFinished(job)) {
    return { kind: 'exited', why: 'the manager stopped before the job was spawned; exit status unknown' };
  }
  if (job.restartAt && !job.stopRequested) {
    return { kind: 'restart', delayMs: Math.max(0, Date.parse(job.restartAt) - Date.now()) };
  }
  return { kind: 'none' };
}

/** A re-adopted job (not our child) whose process has gone. */
export function adoptedExited(job: Job): boolean {
  if (job.state !== 'running' || job.child || job.pid === undefined) return false;
  return !isSameProcessAlive(job.pid, job.procStartTime);
}

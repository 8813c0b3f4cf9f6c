import type { Job, JobState } from './types.js';

// A job's states and the transitions between them. The manager decides when; these functions say
// what each transition changes on the job.
//
// | from               | to       | when                                                               |
// | ------------------ | -------- | ------------------------------------------------------------------ |
// | (none)             | starting | run(): the spec is valid; ports are being allocated                |
// | starting           | running  | spawned, with a pid                                                |
// | starting           | failed   | no free ports, or a spawn error (`error`)                          |
// | running            | done     | exit 0, or any exit after stop()                                   |
// | running            | crashed  | any other exit, or a re-adopted pid found gone (status unknown)    |
// | starting (on disk) | crashed  | the previous manager stopped before spawning (done after a stop)   |
// | crashed, done      | starting | the restart policy, after the backoff (`restartAt` until then)     |
//
// stop() cancels a pending restart. done, crashed and failed are finished; a finished job
// without a pending restart is over for good: it holds no ports and its spools go.

export interface RestartBackoff {
  /** First restart delay (default 1000 ms); doubles on every crash in a row… */
  initialMs?: number;
  /** …up to this (default 30 s). */
  maxMs?: number;
  /** A run at least this long resets the delay to initialMs (default 10 s). */
  resetAfterMs?: number;
}

export const FINISHED: ReadonlySet<JobState> = new Set(['done', 'crashed', 'failed']);

export function isFinished(job: Job): boolean {
  return FINISHED.has(job.state);
}

/** Finished with no restart pending. */
export function isOver(job: Job): boolean {
  return isFinished(job) && !job.restartAt;
}

export function resolveBackoff(b: RestartBackoff = {}): Required<RestartBackoff> {
  return {
    initialMs: b.initialMs ?? 1000,
    maxMs: b.maxMs ?? 30_000,
    resetAfterMs: b.resetAfterMs ?? 10_000,
  };
}

/** The delay of the restart due now, and the delay after it (doubled, capped). */
export function nextBackoff(
  backoffMs: number,
  ranMs: number,
  b: Required<RestartBackoff>,
): { delay: number; next: number } {
  const delay = ranMs >= b.resetAfterMs ? b.initialMs : backoffMs;
  return { delay, next: Math.min(delay * 2, b.maxMs) };
}

/** starting → running. */
export function markRunning(job: Job, pid: number, procStartTime: number | undefined): void {
  job.pid = pid;
  job.procStartTime = procStartTime;
  job.child = true;
  job.state = 'running';
  job.startedAt = new Date().toISOString();
}

/**
 * running → done or crashed. `unknown` says why the exit status is unknown (a re-adopted
 * process). Returns the note for the job's init lines.
 */
export function markExited(
  job: Job,
  code: number | null,
  signal: NodeJS.Signals | null,
  unknown?: string,
): string {
  job.endedAt = new Date().toISOString();
  job.exitStatus = code;
  job.signal = signal;
  if (unknown) {
    job.error = unknown;
    job.state = job.stopRequested ? 'done' : 'crashed';
    return unknown;
  }
  job.state = job.stopRequested || code === 0 ? 'done' : 'crashed';
  return signal ? `killed by signal ${signal}` : `exited with status ${code}`;
}

/** Whether the job's restart policy starts it again after this exit. */
export function wantsRestart(job: Job): boolean {
  if (job.stopRequested) return false;
  return job.restart === 'always' || (job.restart === 'on-failure' && job.state === 'crashed');
}

/** starting → failed. */
export function markFailed(job: Job, message: string): void {
  job.state = 'failed';
  job.error = message;
  job.endedAt = new Date().toISOString();
  job.restartAt = undefined;
}

/** crashed or done → starting (a restart): the last run's details go. */
export function markRestarting(job: Job): void {
  job.restarts++;
  job.restartAt = undefined;
  job.state = 'starting';
  job.pid = undefined;
  job.procStartTime = undefined;
  job.exitStatus = undefined;
  job.signal = undefined;
  job.error = undefined;
  job.endedAt = undefined;
}

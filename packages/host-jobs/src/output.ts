import { join } from 'node:path';
import { Spool, type SpoolOptions } from './spool.js';
import type { LineEvent, LinesEvent } from './types.js';

// Output tailing: each job's stdout and stderr spools read into line batches for the manager's
// listeners (the daemon's log store), paced by the consumer's backpressure, with the read offsets
// marked for saving.

/** While the line consumer is not accepting, how soon the spools are tried again. */
const BLOCKED_RETRY_MS = 10;

export interface JobSpools {
  stdout: Spool;
  stderr: Spool;
}

/** Where a job's spools were read up to (and freed up to); saved in the state files. */
export interface SpoolOffsets {
  stdout: { offset: number; punched: number };
  stderr: { offset: number; punched: number };
}

/** `<dir>/stdout` and `<dir>/stderr`, resumed at the saved offsets. */
export function openSpools(dir: string, from: SpoolOffsets | undefined, opts?: SpoolOptions): JobSpools {
  const open = (stream: 'stdout' | 'stderr') =>
    new Spool(join(dir, stream), from?.[stream].offset ?? 0, from?.[stream].punched ?? 0, opts);
  return { stdout: open('stdout'), stderr: open('stderr') };
}

export function spoolOffsets(s: JobSpools): SpoolOffsets {
  return {
    stdout: { offset: s.stdout.offset, punched: s.stdout.punched },
    stderr: { offset: s.stderr.offset, punched: s.stderr.punched },
  };
}

/** Bytes written and not yet read. */
export function backlogBytes(s: JobSpools): number {
  return s.stdout.size() - s.stdout.offset + (s.stderr.size() - s.stderr.offset);
}

/** One of the spools had more than a read's budget waiting. */
function hasMore(s: JobSpools): boolean {
  return s.stdout.more || s.stderr.more;
}

/** The lines of a batch one by one, each copied. */
export function* eachLine(ev: LinesEvent): Generator<LineEvent> {
  for (let i = 0; i < ev.starts.length; i++) {
    const line = Buffer.from(ev.data.subarray(ev.starts[i]!, ev.ends[i]!));
    const { job, stream } = ev;
    yield ev.offset === undefined
      ? { job, stream, line }
      : { job, stream, line, offset: ev.offset + ev.starts[i]! };
  }
}

/** A manager's note about a job, as a one-line `init` batch. */
export function noteEvent(job: string, text: string): LinesEvent {
  const data = Buffer.from(text);
  return { job, stream: 'init', data, starts: [0], ends: [data.length] };
}

/** A job as the tailer sees it. */
export interface TailedJob {
  job: { id: string };
  spools: JobSpools;
  /** Spool files are gone (the job finished for good). */
  spoolsRemoved: boolean;
  /** The job is over for good: its spools go once read to the end. */
  finishing?: boolean;
}

/** What the tailer takes from its manager. */
export interface TailContext<E extends TailedJob> {
  jobs(): Iterable<E>;
  closed(): boolean;
  /** The consumer's backpressure: while it answers false, spools are not read. */
  accepting?: () => boolean;
  emit(ev: LinesEvent): void;
  /** A finishing job's spools were read to the end. */
  finished(e: E): void;
  saveOffsets(): void;
  warn(err: Error): void;
  track(p: Promise<unknown>): void;
}

export class OutputTailer<E extends TailedJob> {
  /** Lines were read since the offsets were last saved. */
  dirty = false;
  private tailTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private catchingUp = false;
  /** When tick last saved the offsets (ms, performance.now()). */
  private offsetsSavedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly ctx: TailContext<E>,
    /** How often spools are read, and how often at most the offsets are saved while lines flow. */
    private readonly intervals: { tailMs: number; offsetsMs: number },
  ) {}

  start(): void {
    this.tailTimer = setInterval(() => this.tick(), this.intervals.tailMs);
    this.tailTimer.unref();
  }

  stop(): void {
    if (this.tailTimer) clearInterval(this.tailTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  accepting(): boolean {
    return this.ctx.accepting?.() ?? true;
  }

  private tick(): void {
    if (this.ctx.closed()) return;
    let more = false;
    let blocked = false;
    for (const e of this.ctx.jobs()) {
      if (e.spoolsRemoved) continue;
      // The consumer is full: the rest waits in the spools until it takes more (checked again
      // shortly, not a whole tick later: a disk that catches up in a few ms should not idle).
      if (!this.accepting()) {
        blocked = true;
        break;
      }
      try {
        this.drain(e, false);
        if (e.finishing && !hasMore(e.spools)) this.ctx.finished(e);
      } catch (err) {
        this.ctx.warn(new Error(`job ${e.job.id}: reading spool: ${(err as Error).message}`));
      }
      more ||= hasMore(e.spools);
      for (const s of [e.spools.stdout, e.spools.stderr]) {
        this.ctx.track(s.reclaim().then((msg) => msg && this.ctx.warn(new Error(msg))));
      }
    }
    // At most every offsetsMs while lines flow (a write, an fsync and a rename on the event loop):
    // a crash repeats the lines read since the last save, it never loses any.
    const now = performance.now();
    if (this.dirty && now - this.offsetsSavedAt >= this.intervals.offsetsMs) {
      this.offsetsSavedAt = now;
      this.ctx.saveOffsets();
    }
    if (blocked && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.tick();
      }, BLOCKED_RETRY_MS);
      this.retryTimer.unref();
    }
    // A spool had more than one read's budget waiting: go on at once (after pending I/O).
    if (more && !blocked && !this.catchingUp) {
      this.catchingUp = true;
      setImmediate(() => {
        this.catchingUp = false;
        this.tick();
      });
    }
  }

  /**
   * Reads the job's spools to the end while the consumer accepts (the final read of a job that
   * exited). Returns whether everything was read.
   */
  drainPaced(e: TailedJob): boolean {
    if (!this.ctx.accepting) {
      this.drain(e, true);
      return true;
    }
    while (this.accepting()) {
      this.drain(e, false);
      if (!hasMore(e.spools)) {
        // A last read with `final` takes a partial last line too.
        this.drain(e, true);
        return true;
      }
    }
    return false;
  }

  /** Emits every complete line waiting in the job's spools (all of it with `final`). */
  drain(e: TailedJob, final: boolean): void {
    if (e.spoolsRemoved) return;
    for (const stream of ['stdout', 'stderr'] as const) {
      const spool = e.spools[stream];
      // One budget-limited read per tick; a final drain reads to the end of the file.
      for (;;) {
        const before = spool.offset;
        const b = spool.readBatch(final);
        if (spool.offset !== before) this.dirty = true;
        if (b)
          this.ctx.emit({
            job: e.job.id,
            stream,
            data: b.data,
            starts: b.starts,
            ends: b.ends,
            offset: b.offset,
          });
        if (!final || spool.offset === before) break;
      }
    }
  }
}

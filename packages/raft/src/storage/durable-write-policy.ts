// Where a WAL append waits for the disk. On the event loop (writeSync on an O_DSYNC handle) an
// append costs one syscall; through the threadpool it adds a handoff and two wakeups, which here
// was ~20 % of a discoverd node's CPU per write and 8 % of its throughput at 64 clients
// (bench/results/discoverd.md). But a synchronous write freezes the process for as long as the
// disk takes: after one slow append, appends go through the threadpool for a while, so a stalling
// disk cannot also stall heartbeats, status and metrics.

export interface DurableWritePolicyOptions {
  /**
   * A synchronous append slower than this moves appends to the threadpool. Default 50 ms: far
   * below the election timeout, and above the 10–15 ms spikes a healthy disk here shows now and then.
   */
  slowMs?: number;
  /** How long appends stay on the threadpool after a slow one. Default 10 s. */
  asyncForMs?: number;
  /** Always use the threadpool. */
  alwaysAsync?: boolean;
  now?: () => number;
}

export class DurableWritePolicy {
  private asyncUntil = 0;
  private readonly slowMs: number;
  private readonly asyncForMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: DurableWritePolicyOptions = {}) {
    this.slowMs = opts.slowMs ?? 50;
    this.asyncForMs = opts.asyncForMs ?? 10_000;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Whether the next append may block the event loop. */
  get synchronous(): boolean {
    return !this.opts.alwaysAsync && this.now() >= this.asyncUntil;
  }

  /** Reports how long a synchronous append took. */
  took(ms: number): void {
    if (ms > this.slowMs) this.asyncUntil = this.now() + this.asyncForMs;
  }
}

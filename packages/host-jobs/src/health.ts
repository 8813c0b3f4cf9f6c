import { request } from 'node:http';
import { connect } from 'node:net';

// Health checks with discoverd/health semantics (spec §1.6): a TCP connect or an HTTP GET per
// probe, each with its own timeout; the status flips after `threshold` consecutive equal results.
// Until the first "up", probes run every startIntervalMs (Flynn: 100 ms), then every intervalMs.

export interface HealthCheckSpec {
  kind: 'tcp' | 'http';
  /** Index into the job's ports. */
  port: number;
  /** HTTP path (default /). */
  path?: string;
  /** HTTP status wanted (default 200). */
  status?: number;
  /** HTTP: a substring the first 5120 bytes of the body must hold. */
  match?: string;
  /** Default 2000. */
  intervalMs?: number;
  /** Consecutive results that flip the status; default 2. */
  threshold?: number;
  /** Per-probe timeout; default 2000. */
  timeoutMs?: number;
  /** Probe interval until the first success streak; default min(100, intervalMs). */
  startIntervalMs?: number;
}

export interface ResolvedHealthCheck {
  kind: 'tcp' | 'http';
  port: number;
  path: string;
  status: number;
  match?: string;
  intervalMs: number;
  threshold: number;
  timeoutMs: number;
  startIntervalMs: number;
}

export function resolveHealthCheck(h: HealthCheckSpec): ResolvedHealthCheck {
  const intervalMs = h.intervalMs ?? 2000;
  return {
    kind: h.kind,
    port: h.port,
    path: h.path ?? '/',
    status: h.status ?? 200,
    match: h.match,
    intervalMs,
    threshold: h.threshold ?? 2,
    timeoutMs: h.timeoutMs ?? 2000,
    startIntervalMs: h.startIntervalMs ?? Math.min(100, intervalMs),
  };
}

const MATCH_BYTES = 5120;

/** One probe: resolves true on success, false on any failure (never rejects). */
export function probe(check: ResolvedHealthCheck, host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => {
      cleanup();
      finish(false);
    }, check.timeoutMs);
    let cleanup: () => void = () => {};
    if (check.kind === 'tcp') {
      const sock = connect({ host, port });
      cleanup = () => sock.destroy();
      sock.once('connect', () => {
        sock.destroy();
        finish(true);
      });
      sock.once('error', () => finish(false));
      return;
    }
    const req = request({ host, port, path: check.path, method: 'GET', agent: false }, (res) => {
      if (res.statusCode !== check.status) {
        res.destroy();
        finish(false);
        return;
      }
      if (check.match === undefined) {
        res.destroy();
        finish(true);
        return;
      }
      const want = check.match;
      let body = Buffer.alloc(0);
      res.on('data', (chunk: Buffer) => {
        body = Buffer.concat([body, chunk]).subarray(0, MATCH_BYTES);
        if (body.toString('utf8').includes(want)) {
          res.destroy();
          finish(true);
        } else if (body.length >= MATCH_BYTES) {
          res.destroy();
          finish(false);
        }
      });
      res.once('end', () => finish(body.toString('utf8').includes(want)));
      res.once('error', () => finish(false));
    });
    cleanup = () => req.destroy();
    req.once('error', () => finish(false));
    req.end();
  });
}

/** Probes until stopped, calling onChange(true|false) when the status flips. */
export class HealthMonitor {
  up = false;
  private successes = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly check: ResolvedHealthCheck,
    private readonly host: string,
    private readonly port: number,
    private readonly onChange: (up: boolean) => void,
  ) {}

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const ok = await probe(this.check, this.host, this.port);
    if (this.stopped) return;
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (!this.up && this.successes >= this.check.threshold) {
        this.up = true;
        this.onChange(true);
      }
    } else {
      this.successes = 0;
      this.failures++;
      if (this.up && this.failures >= this.check.threshold) {
        this.up = false;
        this.onChange(false);
      }
    }
    this.schedule(this.up ? this.check.intervalMs : this.check.startIntervalMs);
  }
}

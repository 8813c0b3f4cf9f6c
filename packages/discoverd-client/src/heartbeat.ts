import { type Instance, instanceId } from '@flynn-edge/discoverd-state';
import { type Clock, sleep, systemClock, type TimerHandle } from './clock.js';
import { DiscoverdError } from './errors.js';

// Registration and heartbeats (spec §1.6, Flynn's client/heartbeat.go): the first registration
// is retried (at least 5 attempts, for up to 60 s, 200 ms apart); after that the same instance is
// PUT again every 3–5 s (5 s minus up to 2 s of jitter), every 200–400 ms after a failure; close()
// stops and sends DELETE, release() stops and leaves the instance to expire or be PUT by another.

/** Job identity Flynn copies from the environment into every registered instance's meta. */
export const ENV_META_KEYS = [
  'FLYNN_APP_ID',
  'FLYNN_APP_NAME',
  'FLYNN_RELEASE_ID',
  'FLYNN_PROCESS_TYPE',
  'FLYNN_JOB_ID',
] as const;

export type Env = Record<string, string | undefined>;

export interface InstanceOptions {
  /** Default `tcp`. */
  proto?: string;
  meta?: Record<string, string>;
  /** Where EXTERNAL_IP and the FLYNN_* variables come from (default: process.env). */
  env?: Env;
}

/** `meta` plus the FLYNN_* job identity from `env`; keys the caller set explicitly win. */
export function fillMeta(
  meta: Record<string, string> | undefined,
  env: Env,
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const k of ENV_META_KEYS) {
    const v = env[k];
    if (v) out[k] = v;
  }
  if (meta) for (const [k, v] of Object.entries(meta)) out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `:port` → `$EXTERNAL_IP:port`; anything else unchanged. */
export function expandAddr(addr: string, env: Env): string {
  if (!addr.startsWith(':')) return addr;
  const ip = env.EXTERNAL_IP;
  if (!ip) {
    throw new DiscoverdError({
      code: 'validation_error',
      message: `discoverd: addr ${JSON.stringify(addr)} has no host and EXTERNAL_IP is not set`,
    });
  }
  return `${ip}${addr}`;
}

/** The instance Flynn's client would register for `addr`: proto, host, md5 id and job meta filled. */
export function buildInstance(addr: string, opts: InstanceOptions = {}): Instance {
  const env = opts.env ?? process.env;
  const proto = opts.proto || 'tcp';
  const full = expandAddr(addr, env);
  const inst: Instance = { id: instanceId(proto, full), addr: full, proto };
  const meta = fillMeta(opts.meta, env);
  if (meta) inst.meta = meta;
  return inst;
}

/** What a heartbeater needs from the client: one retried PUT, one retried DELETE. */
export interface HeartbeatTransport {
  put(service: string, inst: Instance, signal: AbortSignal): Promise<void>;
  remove(service: string, id: string): Promise<void>;
}

export interface HeartbeatTiming {
  /** Base heartbeat interval (Flynn: 5 s). */
  intervalMs?: number;
  /** Up to this much is subtracted at random from each interval (Flynn: 2 s). */
  jitterMs?: number;
  /** Retry delay after a failed heartbeat: min + random up to jitter (Flynn: 200 + 0–200 ms). */
  failureDelayMs?: number;
  failureJitterMs?: number;
  /** First registration: at least this many attempts… (Flynn: 5) */
  firstMinAttempts?: number;
  /** …and keep trying for this long (Flynn: 60 s)… */
  firstTotalMs?: number;
  /** …this far apart (Flynn: 200 ms). */
  firstDelayMs?: number;
}

export interface HeartbeaterOptions extends HeartbeatTiming {
  clock?: Clock;
  /** Random source in [0, 1) for the jitter. */
  random?: () => number;
  /** Called for every failed heartbeat (the heartbeater keeps retrying). */
  onError?: (err: Error) => void;
  /** Env used to fill meta again on setMeta (default: process.env). */
  env?: Env;
  /** Called once when close() or release() starts. */
  onClose?: () => void;
}

/** Errors that no retry can fix: the request itself is wrong. */
function isFatal(err: unknown): boolean {
  return (
    err instanceof DiscoverdError &&
    (err.status === 400 || err.status === 401 || err.code === 'aborted' || err.code === 'closed')
  );
}

export class Heartbeater {
  /** Successful PUTs so far (the first registration included). */
  beats = 0;
  /** Consecutive failed heartbeats (0 while healthy). */
  failures = 0;
  lastError: Error | undefined;
  private inst: Instance;
  private timer: TimerHandle | undefined;
  private closed = false;
  private started = false;
  private closing: Promise<void> | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly ctrl = new AbortController();
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly t: Required<HeartbeatTiming>;

  constructor(
    private readonly transport: HeartbeatTransport,
    readonly service: string,
    inst: Instance,
    private readonly opts: HeartbeaterOptions = {},
  ) {
    this.inst = inst;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.t = {
      intervalMs: opts.intervalMs ?? 5000,
      jitterMs: opts.jitterMs ?? 2000,
      failureDelayMs: opts.failureDelayMs ?? 200,
      failureJitterMs: opts.failureJitterMs ?? 200,
      firstMinAttempts: opts.firstMinAttempts ?? 5,
      firstTotalMs: opts.firstTotalMs ?? 60_000,
      firstDelayMs: opts.firstDelayMs ?? 200,
    };
  }

  /** Registers (retrying as Flynn does) and starts heartbeating; resolves once registered. */
  static async start(
    transport: HeartbeatTransport,
    service: string,
    inst: Instance,
    opts: HeartbeaterOptions = {},
  ): Promise<Heartbeater> {
    const hb = new Heartbeater(transport, service, inst, opts);
    await hb.start();
    return hb;
  }

  get id(): string {
    return this.inst.id;
  }

  get addr(): string {
    return this.inst.addr;
  }

  /** A copy of the instance being heartbeated. */
  get instance(): Instance {
    return structuredClone(this.inst);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Delay before the next heartbeat: interval minus random jitter (3–5 s by default). */
  nextInterval(): number {
    return this.t.intervalMs - this.random() * this.t.jitterMs;
  }

  /** Delay before retrying a failed heartbeat (200–400 ms by default). */
  nextFailureDelay(): number {
    return this.t.failureDelayMs + this.random() * this.t.failureJitterMs;
  }

  /** Replaces the meta (job identity from the env is kept) and re-registers at once. */
  async setMeta(meta: Record<string, string>): Promise<void> {
    if (this.closed) throw closedError();
    const next: Instance = { id: this.inst.id, addr: this.inst.addr, proto: this.inst.proto };
    const filled = fillMeta(meta, this.opts.env ?? process.env);
    if (filled) next.meta = filled;
    this.inst = next;
    await this.send();
  }

  /** Stops heartbeating and unregisters (DELETE). Never rejects; failures go to lastError. */
  close(): Promise<void> {
    return this.stop(async () => {
      try {
        await this.transport.remove(this.service, this.inst.id);
      } catch (err) {
        this.lastError = err as Error;
        this.opts.onError?.(err as Error);
      }
    });
  }

  /**
   * Stops heartbeating but leaves the instance registered (no DELETE): it stays until its TTL
   * runs out or someone PUTs it again — a daemon handing its jobs to a successor, which registers
   * the same instances, so that watchers never see them go. A later close() sends nothing.
   */
  release(): Promise<void> {
    return this.stop(async () => {});
  }

  /** The common part of close() and release(): the first call decides, later ones share it. */
  private stop(then: () => Promise<void>): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.opts.onClose?.();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.ctrl.abort(closedError());
    this.closing = (async () => {
      // Let an aborted in-flight PUT settle first so it cannot land after the DELETE.
      await this.chain.catch(() => {});
      await then();
    })();
    return this.closing;
  }

  /**
   * The first registration, retried as Flynn does (close() aborts it); then the heartbeat loop
   * starts. Call once.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('heartbeater already started');
    this.started = true;
    const start = this.clock.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.send();
        break;
      } catch (err) {
        if (this.closed) throw closedError();
        if (isFatal(err)) throw err;
        const elapsed = this.clock.now() - start;
        if (attempt >= this.t.firstMinAttempts && elapsed >= this.t.firstTotalMs) throw err;
        await sleep(this.clock, this.t.firstDelayMs, this.ctrl.signal).catch(() => {
          throw closedError();
        });
      }
    }
    this.schedule(this.nextInterval());
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer = this.clock.setTimeout(() => void this.beat(), ms);
  }

  private async beat(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    let ok = true;
    try {
      await this.send();
    } catch (err) {
      if (this.closed) return;
      ok = false;
      this.opts.onError?.(err as Error);
    }
    this.schedule(ok ? this.nextInterval() : this.nextFailureDelay());
  }

  /** One PUT of the current instance, serialised with every other send. */
  private send(): Promise<void> {
    const run = async () => {
      if (this.closed) throw closedError();
      try {
        await this.transport.put(this.service, this.inst, this.ctrl.signal);
        this.beats++;
        this.failures = 0;
      } catch (err) {
        if (this.closed) throw closedError();
        this.failures++;
        this.lastError = err as Error;
        throw err;
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => {});
    return p;
  }
}

function closedError(): DiscoverdError {
  return new DiscoverdError({ code: 'closed', message: 'discoverd: heartbeater closed' });
}

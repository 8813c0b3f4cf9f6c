import type { DiscoverdClient, Watch } from '@flynn-edge/discoverd-client';
import type { Instance } from '@flynn-edge/discoverd-state';
import type { Logger } from '@flynn-edge/service-kit';

// Backend discovery (spec §2.5): one discoverd watch per service that some route uses, reference
// counted and released with the last route. A watch that gives up (discoverd unreachable past
// its reconnect window) is restarted after 2 s; instances it missed meanwhile are reconciled
// when the new stream reaches `current`.

export interface Backend {
  service: string;
  /** "ip:port" */
  addr: string;
  app?: string;
  jobId?: string;
}

export interface BackendListener {
  up?(backend: Backend): void;
  down?(backend: Backend): void;
}

const RESTART_DELAY_MS = 2000;
/**
 * A cache whose last route went away lives this long: an update delivered as remove-then-set,
 * or a route deleted and re-created, finds its backends still there instead of a cold watch.
 */
const RELEASE_LINGER_MS = 10_000;

function toBackend(service: string, inst: Instance): Backend {
  const b: Backend = { service, addr: inst.addr };
  const app = inst.meta?.FLYNN_APP_NAME;
  const job = inst.meta?.FLYNN_JOB_ID;
  if (app) b.app = app;
  if (job) b.jobId = job;
  return b;
}

/** The live instances of one service, kept as arrays so that a request reads them without copying. */
export class ServiceCache {
  /** Every instance, in registration order. */
  all: readonly Backend[] = [];
  /** `[leader]`, or [] when the service has no leader. */
  leaderOnly: readonly Backend[] = [];
  /** Set once the first `current` arrived. */
  synced = false;
  refs = 0;
  /** Pending close after the last release. */
  lingerTimer: NodeJS.Timeout | undefined;
  private readonly byId = new Map<string, Backend>();
  private leaderId: string | undefined;
  /** Addresses taken out of rotation ahead of discoverd (a drain asked by the primary). */
  private readonly withheld = new Set<string>();
  private watch: Watch | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly service: string,
    private readonly client: DiscoverdClient,
    private readonly listener: BackendListener,
    private readonly log: Logger,
  ) {
    this.start();
  }

  private start(): void {
    const seen = new Set<string>();
    let reconciling = this.byId.size > 0;
    const w = this.client.watch(this.service, {
      onEvent: (ev) => {
        if (ev.kind === 'up' || ev.kind === 'update') {
          if (ev.instance) {
            seen.add(ev.instance.id);
            this.add(ev.instance);
          }
        } else if (ev.kind === 'down') {
          if (ev.instance) this.remove(ev.instance.id);
        } else if (ev.kind === 'leader') {
          this.leaderId = ev.instance?.id;
          this.rebuild();
        } else if (ev.kind === 'current') {
          if (reconciling) {
            for (const id of [...this.byId.keys()]) if (!seen.has(id)) this.remove(id);
            reconciling = false;
          }
          this.synced = true;
        }
      },
    });
    this.watch = w;
    void w.done.then((err) => {
      if (this.closed || this.watch !== w) return;
      this.log.warn({ service: this.service, err: err?.message }, 'service watch ended, restarting in 2s');
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (!this.closed) this.start();
      }, RESTART_DELAY_MS);
    });
  }

  private add(inst: Instance): void {
    const b = toBackend(this.service, inst);
    const old = this.byId.get(inst.id);
    this.byId.set(inst.id, b);
    this.withheld.delete(b.addr);
    this.rebuild();
    if (!old) this.listener.up?.(b);
  }

  private remove(id: string): void {
    const b = this.byId.get(id);
    if (!b) return;
    this.byId.delete(id);
    if (this.leaderId === id) this.leaderId = undefined;
    this.rebuild();
    this.listener.down?.(b);
  }

  /** Stop sending new requests to `addr` before discoverd says it is down (drain). */
  withhold(addr: string): void {
    this.withheld.add(addr);
    this.rebuild();
  }

  private rebuild(): void {
    const all: Backend[] = [];
    for (const b of this.byId.values()) if (!this.withheld.has(b.addr)) all.push(b);
    this.all = all;
    const leader = this.leaderId === undefined ? undefined : this.byId.get(this.leaderId);
    this.leaderOnly = leader && !this.withheld.has(leader.addr) ? [leader] : [];
  }

  /** Backends currently known (withheld ones included), for an `/events` snapshot. */
  known(): Backend[] {
    return [...this.byId.values()];
  }

  close(): void {
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.watch?.close();
  }
}

/** Reference-counted service caches. */
export class ServiceBackends {
  private readonly caches = new Map<string, ServiceCache>();

  constructor(
    private readonly client: DiscoverdClient,
    private readonly listener: BackendListener,
    private readonly log: Logger,
  ) {}

  acquire(service: string): ServiceCache {
    let c = this.caches.get(service);
    if (c?.lingerTimer) {
      clearTimeout(c.lingerTimer);
      c.lingerTimer = undefined;
    }
    if (!c) {
      c = new ServiceCache(service, this.client, this.listener, this.log);
      this.caches.set(service, c);
    }
    c.refs++;
    return c;
  }

  release(service: string): void {
    const c = this.caches.get(service);
    if (!c) return;
    if (--c.refs > 0) return;
    c.lingerTimer = setTimeout(() => {
      if (c.refs > 0 || this.caches.get(service) !== c) return;
      this.caches.delete(service);
      // A route going away takes its backends with it: report them down first (spec §2.9).
      for (const b of c.known()) this.listener.down?.(b);
      c.close();
    }, RELEASE_LINGER_MS);
    c.lingerTimer.unref();
  }

  get(service: string): ServiceCache | undefined {
    return this.caches.get(service);
  }

  services(): ServiceCache[] {
    return [...this.caches.values()];
  }

  close(): void {
    for (const c of this.caches.values()) {
      if (c.lingerTimer) clearTimeout(c.lingerTimer);
      c.close();
    }
    this.caches.clear();
  }
}

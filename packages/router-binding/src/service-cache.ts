import { type Clock, systemClock, type TimerHandle } from '@flynn-edge/discoverd-client';
import type { Instance } from '@flynn-edge/discoverd-state';
import type { Backend, BackendListener, Logger, ServiceWatch, WatchSource } from './types.js';

// The live instances of one service from its discoverd watch (spec §2.5). A watch that gives up
// (discoverd unreachable past its reconnect window) is restarted after 2 s; instances it missed
// meanwhile are reconciled when the new stream reaches `current`.

export const RESTART_DELAY_MS = 2000;

function toBackend(service: string, inst: Instance): Backend {
  const b: Backend = { service, addr: inst.addr };
  const app = inst.meta?.FLYNN_APP_NAME;
  const job = inst.meta?.FLYNN_JOB_ID;
  if (app) b.app = app;
  if (job) b.jobId = job;
  return b;
}

export interface ServiceCacheDeps {
  source: WatchSource;
  listener: BackendListener;
  log: Logger;
  clock?: Clock;
}

/** Backends kept as arrays, so that a request reads them without copying. */
export class ServiceCache {
  /** Every instance, in registration order. */
  all: readonly Backend[] = [];
  /** `[leader]`, or [] when the service has no leader. */
  leaderOnly: readonly Backend[] = [];
  /** Set once the first `current` arrived. */
  synced = false;
  private readonly byId = new Map<string, Backend>();
  private leaderId: string | undefined;
  /** Addresses taken out of rotation ahead of discoverd (a drain asked by the primary). */
  private readonly withheld = new Set<string>();
  private watch: ServiceWatch | undefined;
  private restartTimer: TimerHandle | undefined;
  private closed = false;
  private readonly clock: Clock;

  constructor(
    readonly service: string,
    private readonly deps: ServiceCacheDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.start();
  }

  private start(): void {
    const seen = new Set<string>();
    let reconciling = this.byId.size > 0;
    const w = this.deps.source.watch(this.service, {
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
      this.deps.log.warn(
        { service: this.service, err: err?.message },
        'service watch ended, restarting in 2s',
      );
      this.restartTimer = this.clock.setTimeout(() => {
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
    if (!old) this.deps.listener.up?.(b);
  }

  private remove(id: string): void {
    const b = this.byId.get(id);
    if (!b) return;
    this.byId.delete(id);
    if (this.leaderId === id) this.leaderId = undefined;
    this.rebuild();
    this.deps.listener.down?.(b);
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
    if (this.restartTimer !== undefined) this.clock.clearTimeout(this.restartTimer);
    this.watch?.close();
  }
}

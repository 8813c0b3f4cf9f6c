import { type Clock, systemClock, type TimerHandle } from '@flynn-edge/discoverd-client';
import { ServiceCache } from './service-cache.js';
import type { BackendListener, Logger, WatchSource } from './types.js';

// One service watch per service that some route uses, reference counted and released with the
// last route (spec §2.5).

/**
 * A cache whose last route went away lives this long: an update delivered as remove-then-set,
 * or a route deleted and re-created, finds its backends still there instead of a cold watch.
 */
export const RELEASE_LINGER_MS = 10_000;

interface Entry {
  cache: ServiceCache;
  refs: number;
  /** Pending close after the last release. */
  linger: TimerHandle | undefined;
}

export class ServiceBackends {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly source: WatchSource,
    private readonly listener: BackendListener,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  acquire(service: string): ServiceCache {
    let e = this.entries.get(service);
    if (e?.linger !== undefined) {
      this.clock.clearTimeout(e.linger);
      e.linger = undefined;
    }
    if (!e) {
      const deps = { source: this.source, listener: this.listener, log: this.log, clock: this.clock };
      e = { cache: new ServiceCache(service, deps), refs: 0, linger: undefined };
      this.entries.set(service, e);
    }
    e.refs++;
    return e.cache;
  }

  release(service: string): void {
    const e = this.entries.get(service);
    if (!e) return;
    if (--e.refs > 0) return;
    e.linger = this.clock.setTimeout(() => {
      if (e.refs > 0 || this.entries.get(service) !== e) return;
      this.entries.delete(service);
      // A route going away takes its backends with it: report them down first (spec §2.9).
      for (const b of e.cache.known()) this.listener.down?.(b);
      e.cache.close();
    }, RELEASE_LINGER_MS);
  }

  get(service: string): ServiceCache | undefined {
    return this.entries.get(service)?.cache;
  }

  services(): ServiceCache[] {
    return [...this.entries.values()].map((e) => e.cache);
  }

  close(): void {
    for (const e of this.entries.values()) {
      if (e.linger !== undefined) this.clock.clearTimeout(e.linger);
      e.cache.close();
    }
    this.entries.clear();
  }
}

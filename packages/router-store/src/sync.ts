import { type Clock, type KvClient, type KvWatch, systemClock } from '@flynn-edge/discoverd-client';
import type { KvEvent } from '@flynn-edge/discoverd-state';
import type { Route } from '@flynn-edge/router-core';
import { isRouteKey, parseRoute, ROUTES_PREFIX, routeOrder } from './layout.js';
import { KvMirror, type StoreView, VIEW_WATCH_PREFIX } from './view.js';

// Keeps a router's tables in step with the store: list `routes/`, then watch from the listing's
// revision. Each stored value is the whole route (certificate PEM included), so an event never
// needs a second read. Any failure (list error, watch given up, compaction that cannot resume)
// is logged, then after 2 s (Flynn's pause) the sync lists again and reconciles: routes gone
// from the listing are removed, changed ones set.

export interface RouteHandlers {
  set(route: Route): void;
  remove(route: Route): void;
  synced(revision: number): void;
}

export interface RouteSyncOptions {
  clock?: Clock;
  /** Pause before a resync after an error. Default 2000 ms (Flynn). */
  retryDelayMs?: number;
  /** Log sink for sync errors. Default: console.warn. */
  log?: (msg: string, err: unknown) => void;
  /**
   * While the watch runs, probe the store this often (a one-key stale list) and count an answer
   * as a sign of life: KvWatch does not surface its keep-alives. 0 disables. Default 10 s.
   */
  probeIntervalMs?: number;
  /** Passed to KvWatch: reconnect when nothing, not even a keep-alive, arrives this long. */
  idleTimeoutMs?: number;
  /** Passed to KvWatch: give up (then resync) after failing to reconnect this long. Default 30 s. */
  reconnectWindowMs?: number;
  /**
   * Also keep a StoreView for the route API's writes (`view`): the watch widens from `routes/`
   * to `route` (route ids and service records too, at the same revisions).
   */
  keepView?: boolean;
}

interface Known {
  route: Route;
  raw: string;
}

export class RouteSync {
  /** ms timestamp of the last event, successful list or probe. 0 before the first. */
  lastAliveAt = 0;
  /** Store revision the local tables reflect. 0 before the first listing. */
  revision = 0;
  /** Number of full listings (the first one included). */
  listings = 0;
  private readonly known = new Map<string, Known>();
  private readonly mirror: KvMirror | undefined;
  private readonly prefix: string;
  private readonly clock: Clock;
  private watch: KvWatch | undefined;
  private stopped = false;
  private retryTimer: unknown;
  private probeTimer: unknown;
  private running: Promise<void> | undefined;

  constructor(
    private readonly kv: KvClient,
    private readonly handlers: RouteHandlers,
    private readonly opts: RouteSyncOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.mirror = opts.keepView ? new KvMirror() : undefined;
    this.prefix = opts.keepView ? VIEW_WATCH_PREFIX : ROUTES_PREFIX;
  }

  /** The store as of `revision` (with `keepView`, after the first listing). */
  get view(): StoreView | undefined {
    return this.listings > 0 ? this.mirror : undefined;
  }

  /** The routes as this sync sees them. */
  routes(): Route[] {
    return [...this.known.values()].map((k) => k.route);
  }

  /** Starts syncing; resolves after the first listing was applied (or failed and was scheduled). */
  start(): Promise<void> {
    this.running ??= this.resync();
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    if (this.probeTimer !== undefined) this.clock.clearTimeout(this.probeTimer);
  }

  private alive(): void {
    this.lastAliveAt = this.clock.now();
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    (this.opts.log ?? ((m, e) => console.warn(m, e)))('router: sync error', err);
    this.watch?.close();
    this.watch = undefined;
    if (this.retryTimer !== undefined) return;
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      void this.resync();
    }, this.opts.retryDelayMs ?? 2000);
  }

  private async resync(): Promise<void> {
    if (this.stopped) return;
    try {
      const revision = await this.relist();
      if (this.stopped) return;
      this.startWatch(revision);
    } catch (err) {
      this.fail(err);
    }
  }

  /** Lists every route and reconciles the handlers with it; answers the listing's revision. */
  private async relist(): Promise<number> {
    const l = await this.kv.listAll(this.prefix);
    this.mirror?.reset(l.revision, l.entries);
    const fresh = new Map<string, Known>();
    for (const e of l.entries) {
      if (!isRouteKey(e.key)) continue;
      const route = parseRoute(e.value);
      if (route) fresh.set(e.key, { route, raw: e.value });
    }
    // Removals first (deepest paths first), then sets with `/` routes before their sub-paths.
    const gone = [...this.known.entries()].filter(([k]) => !fresh.has(k));
    gone.sort((a, b) => routeOrder(b[1].route, a[1].route));
    for (const [k, v] of gone) {
      this.known.delete(k);
      this.call(() => this.handlers.remove(v.route));
    }
    const sets = [...fresh.entries()].filter(([k, v]) => this.known.get(k)?.raw !== v.raw);
    sets.sort((a, b) => routeOrder(a[1].route, b[1].route));
    for (const [k, v] of sets) {
      this.known.set(k, v);
      this.call(() => this.handlers.set(v.route));
    }
    this.revision = l.revision;
    this.listings++;
    this.alive();
    this.call(() => this.handlers.synced(l.revision));
    return l.revision;
  }

  /** A handler that throws must not stop the sync (it would leave the tables half applied). */
  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      (this.opts.log ?? ((m, e) => console.warn(m, e)))('router: route handler failed', err);
    }
  }

  private startWatch(revision: number): void {
    const w = this.kv.watch(this.prefix, {
      startRevision: revision + 1,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      reconnectWindowMs: this.opts.reconnectWindowMs,
      onRevision: (rev, events) => {
        if (w !== this.watch) return;
        this.apply(rev, events);
      },
      onCompacted: async () => {
        // The server's history no longer reaches back: re-list, resume after the listing.
        try {
          return await this.relist();
        } catch (err) {
          this.fail(err);
          return undefined;
        }
      },
      onError: (err) => {
        if (w === this.watch) this.fail(err);
      },
    });
    this.watch = w;
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    const every = this.opts.probeIntervalMs ?? 10_000;
    if (every <= 0 || this.probeTimer !== undefined) return;
    this.probeTimer = this.clock.setTimeout(async () => {
      this.probeTimer = undefined;
      if (this.stopped || !this.watch) return;
      try {
        await this.kv.list(ROUTES_PREFIX, { limit: 1, stale: true });
        if (this.watch) this.alive();
      } catch {
        // The watch reports its own failure; a failed probe just does not count as life.
      }
      this.scheduleProbe();
    }, every);
  }

  /** One revision's changes: deletes first (a moved route is deleted and put at once), then puts. */
  private apply(rev: number, events: KvEvent[]): void {
    this.mirror?.apply(rev, events);
    const puts: { key: string; known: Known }[] = [];
    for (const e of events) {
      if (!isRouteKey(e.key)) continue;
      if (e.type === 'delete') {
        const k = this.known.get(e.key);
        if (!k) continue;
        this.known.delete(e.key);
        this.call(() => this.handlers.remove(k.route));
      } else {
        const raw = e.value ?? '';
        const route = parseRoute(raw);
        // An unchanged value (a `/` route re-put by a sub-path create) is not news.
        if (route && this.known.get(e.key)?.raw !== raw) puts.push({ key: e.key, known: { route, raw } });
      }
    }
    puts.sort((a, b) => routeOrder(a.known.route, b.known.route));
    for (const p of puts) {
      this.known.set(p.key, p.known);
      this.call(() => this.handlers.set(p.known.route));
    }
    this.revision = rev;
    this.alive();
  }
}

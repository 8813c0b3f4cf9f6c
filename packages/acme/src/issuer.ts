import { randomUUID } from 'node:crypto';
import type { KvClient } from '@flynn-edge/discoverd-client';
import { acmeKeys, type ManagedCertificate, type ManagedStatus, type Route } from '@flynn-edge/router-core';
import type { Metrics } from '@flynn-edge/service-kit';
import type * as acme from 'acme-client';
import { type AccountOptions, AcmeConfigError, openAccount } from './account.js';
import { deleteChallenge, putChallenge } from './challenges.js';
import { AcmeRateLimitError, installAcmeHttp } from './http.js';
import { createIssuerMetrics, type IssuerMetrics } from './metrics.js';
import { type IssuedCertificate, orderCertificate, untilAborted } from './order.js';
import {
  backoffMs,
  candidates,
  DEFAULT_PLAN_TIMING,
  due,
  isManaged,
  type ManagedRoute,
  oneLine,
  type PlanTiming,
} from './plan.js';

// The cluster's ACME issuer. Every router runs one; only the elected one (isLeader) orders. It
// reads the orders to make from the route records (`managed_certificate`), so a new issuer picks
// up where a dead one left off. Each order holds a claim in the store (acme/orders/<route id>)
// so two issuers that both believe they lead (a leadership hand-over) never order one route twice;
// an issuer that steps down aborts its orders, and an order ends before its claim may be taken over.

/**
 * What an issuer's write expects to find on the route: the status it decided on, and (review
 * finding 6) the request it served, so a name changed or asked for again meanwhile is not written.
 */
export type ManagedExpect = ManagedStatus | { status: ManagedStatus; domain: string; created_at: string };

/** The route store as the issuer uses it (RouteStore implements it). */
export interface IssuerStore {
  listRoutes(): Promise<Route[]>;
  /** A linearizable read of one route (throws when it is gone). */
  getRoute(type: string, id: string): Promise<Route>;
  /** The route as written, or undefined when not written (its state moved on, or contention). */
  recordManagedCertificate(
    routeId: string,
    update: {
      expect?: ManagedExpect;
      state: Partial<ManagedCertificate>;
      certificate?: { cert: string; key: string };
    },
  ): Promise<Route | undefined>;
}

export interface IssuerTiming extends PlanTiming {
  /** How often the leader looks at the routes (it is also kicked on route changes). Default 10 s. */
  pollMs: number;
  /** acme-client's first pause while polling an order or challenge status. Default 1 s. */
  statusPollMs: number;
  /**
   * A claim older than this is taken over even if its owner still runs. Default 10 min. An order
   * is aborted at 90% of it, so it has ended by then.
   */
  claimTtlMs: number;
}

export const DEFAULT_ISSUER_TIMING: Readonly<IssuerTiming> = Object.freeze({
  ...DEFAULT_PLAN_TIMING,
  pollMs: 10_000,
  statusPollMs: 1000,
  claimTtlMs: 600_000,
});

export interface IssuerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface IssuerOptions {
  kv: KvClient;
  store: IssuerStore;
  account: Omit<AccountOptions, 'statusPollMs'>;
  /** Whether this router is the elected issuer right now. */
  isLeader(): boolean;
  /** Issuer ids (election instance ids) still registered: claims of others are respected. */
  liveIssuers(): Promise<Set<string>>;
  /** This router's election id. */
  id(): string | undefined;
  maxInFlight?: number;
  timing?: Partial<IssuerTiming>;
  /** Resolves once this router serves the token (its own view of the store). */
  awaitLocal?(domain: string, token: string, keyAuthorization: string): Promise<void>;
  metrics?: Metrics;
  /**
   * The routes as this router's sync sees them: the plan and the metrics read them, and each due
   * route is read again fresh before its order. Undefined (or absent) before the first listing:
   * the issuer then lists the store itself.
   */
  routesView?(): Route[] | undefined;
  log?: IssuerLogger;
}

interface Claim {
  owner: string;
  session: string;
  started_at: string;
}

interface Order {
  done: Promise<void>;
  abort: AbortController;
}

/** Why an order in flight was aborted when its issuer stepped down (not a failure of the name). */
export class LeadershipLost extends Error {
  override readonly name = 'LeadershipLost';
}

/** An order that ran into its deadline (it would outlive its claim). */
export class OrderTimeout extends Error {
  override readonly name = 'OrderTimeout';
}

/** Attempts at one record write that keeps losing to other writers. */
const WRITE_ATTEMPTS = 5;

const quiet: IssuerLogger = { info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Issuer {
  readonly timing: IssuerTiming;
  readonly maxInFlight: number;
  /** Orders started by this issuer (tests count them). */
  ordersStarted = 0;
  /** The most orders this issuer ever had in flight at once. */
  maxSeenInFlight = 0;
  /** Certificates issued but not recorded (the route moved on, or the store kept refusing). */
  discarded = 0;
  private readonly inFlight = new Map<string, Order>();
  private readonly session = randomUUID();
  private readonly log: IssuerLogger;
  private readonly metrics: IssuerMetrics | undefined;
  private client: Promise<acme.Client> | undefined;
  private lastRoutes: Route[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly opts: IssuerOptions) {
    this.timing = { ...DEFAULT_ISSUER_TIMING, ...opts.timing };
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 5);
    this.log = opts.log ?? quiet;
    installAcmeHttp();
    this.metrics = opts.metrics
      ? createIssuerMetrics(opts.metrics, {
          routes: () => opts.routesView?.() ?? this.lastRoutes,
          inFlight: () => this.inFlight.size,
          leader: () => opts.isLeader(),
        })
      : undefined;
  }

  get ordersInFlight(): number {
    return this.inFlight.size;
  }

  start(): void {
    this.schedule(0);
  }

  /** Look at the routes now (a route changed, leadership was won). */
  kick(): void {
    if (!this.closed) this.schedule(0);
  }

  /**
   * This router is no longer the issuer: its orders are aborted at their next step and their
   * claims released, so the new issuer takes them over at once (the cap holds cluster-wide).
   */
  stepDown(): void {
    for (const o of this.inFlight.values()) {
      if (!o.abort.signal.aborted)
        o.abort.abort(new LeadershipLost('this router is no longer the ACME issuer'));
    }
  }

  /**
   * Stops looking for work. Orders in flight go on unless the process ends (their claims then
   * lapse with this router's registration); `waitForOrders` waits for them to finish or fail.
   */
  async close(waitForOrders = false): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.ticking;
    if (waitForOrders) await Promise.allSettled([...this.inFlight.values()].map((o) => o.done));
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.pass()
      .catch((err: Error) => this.log.warn({ err: err.message }, 'acme: could not look at the routes'))
      .finally(() => {
        this.ticking = undefined;
        if (this.closed) return;
        if (this.again) {
          this.again = false;
          this.schedule(0);
        } else this.schedule(this.timing.pollMs);
      });
    await this.ticking;
  }

  /** One look at the routes: start the orders that are due, in plan order, up to the cap. */
  private async pass(): Promise<void> {
    if (!this.opts.isLeader()) {
      this.stepDown();
      return;
    }
    const view = this.opts.routesView?.();
    const routes = view ?? (await this.opts.store.listRoutes());
    if (!view) this.lastRoutes = routes;
    const live = await this.opts.liveIssuers();
    await this.sweepChallenges();
    await this.sweepClaims(live);
    for (const { route: r } of candidates(routes, Date.now(), this.timing)) {
      if (this.closed || !this.opts.isLeader() || this.inFlight.size >= this.maxInFlight) return;
      if (this.inFlight.has(r.id)) continue;
      const claim = await this.claim(r.id, live);
      if (claim === undefined) continue;
      // The view may predate another issuer's finished order: decide again on a fresh read.
      const fresh = await this.opts.store.getRoute('http', r.id).catch(() => undefined);
      const seen = fresh && isManaged(fresh) ? due(fresh, Date.now(), this.timing) : undefined;
      if (!fresh || !isManaged(fresh) || seen === undefined) {
        await this.release(r.id, claim);
        continue;
      }
      const abort = new AbortController();
      const done = this.run(fresh, seen, claim, abort).finally(() => {
        this.inFlight.delete(r.id);
        this.kick();
      });
      this.inFlight.set(r.id, { done, abort });
      this.maxSeenInFlight = Math.max(this.maxSeenInFlight, this.inFlight.size);
    }
  }

  /** Tokens of orders that ended without cleaning up (an issuer killed mid-order) are removed. */
  private async sweepChallenges(): Promise<void> {
    const l = await this.opts.kv.listAll(acmeKeys.challengesPrefix);
    const old = Date.now() - this.timing.claimTtlMs;
    for (const e of l.entries) {
      let at = Number.NaN;
      try {
        at = Date.parse((JSON.parse(e.value) as { created_at: string }).created_at);
      } catch {}
      if (!(at >= old))
        await this.opts.kv.delete(e.key, { prevRevision: e.mod_revision }).catch(() => undefined);
    }
  }

  /**
   * Claims nobody will release: of an issuer that is gone, past their time, or of this issuer's
   * orders that are over (a release that failed). A route removed meanwhile would otherwise keep
   * its claim forever.
   */
  private async sweepClaims(live: Set<string>): Promise<void> {
    const prefix = acmeKeys.order('');
    const l = await this.opts.kv.listAll(prefix);
    for (const e of l.entries) {
      const c = parseClaim(e.value);
      const mine = c?.session === this.session;
      const over = mine
        ? !this.inFlight.has(e.key.slice(prefix.length))
        : !c || !live.has(c.owner) || !(Date.now() - Date.parse(c.started_at) < this.timing.claimTtlMs);
      if (over) await this.opts.kv.delete(e.key, { prevRevision: e.mod_revision }).catch(() => undefined);
    }
  }

  /** Takes the route's order claim; answers its revision, or undefined when another issuer holds it. */
  private async claim(routeId: string, live: Set<string>): Promise<number | undefined> {
    const key = acmeKeys.order(routeId);
    const me = this.opts.id() ?? this.session;
    const cur = await this.opts.kv.get(key);
    if (cur) {
      const c = parseClaim(cur.value);
      const fresh = c !== undefined && Date.now() - Date.parse(c.started_at) < this.timing.claimTtlMs;
      // Respect a fresh claim of another live issuer; ours from a previous process (same id,
      // another session) is dead by definition.
      if (c && fresh && c.session !== this.session && c.owner !== me && live.has(c.owner)) return undefined;
    }
    const claim: Claim = { owner: me, session: this.session, started_at: new Date().toISOString() };
    const res = await this.opts.kv.txn({
      compare: [cur ? { key, op: '=', mod_revision: cur.mod_revision } : { key, op: 'absent' }],
      success: [{ op: 'put', key, value: JSON.stringify(claim) }],
    });
    return res.succeeded ? res.revision : undefined;
  }

  private account(): Promise<acme.Client> {
    this.client ??= openAccount(this.opts.kv, {
      ...this.opts.account,
      statusPollMs: this.timing.statusPollMs,
    }).catch((err) => {
      this.client = undefined;
      throw err;
    });
    return this.client;
  }

  private async run(
    r: ManagedRoute,
    seen: ManagedStatus,
    claimRevision: number,
    abort: AbortController,
  ): Promise<void> {
    const m = r.managed_certificate;
    this.ordersStarted++;
    this.log.info({ route: r.id, domain: m.domain, status: seen }, 'acme: ordering a certificate');
    const limitMs = Math.round(this.timing.claimTtlMs * 0.9);
    const deadline = setTimeout(
      () =>
        abort.abort(new OrderTimeout(`the ACME order did not finish within ${Math.round(limitMs / 1000)} s`)),
      limitMs,
    );
    try {
      let issued: IssuedCertificate;
      try {
        // The account is shared by the orders: an order stops waiting for it, not the others.
        const client = await untilAborted(abort.signal, this.account());
        issued = await orderCertificate(
          client,
          m.domain,
          {
            publish: async (domain, token, keyAuth) => {
              await putChallenge(this.opts.kv, token, domain, keyAuth);
              await this.opts.awaitLocal?.(domain, token, keyAuth);
            },
            unpublish: (token) => deleteChallenge(this.opts.kv, token),
          },
          abort.signal,
        );
      } catch (err) {
        if (err instanceof LeadershipLost) {
          this.metrics?.ordered('aborted');
          this.log.info({ route: r.id, domain: m.domain }, 'acme: order aborted: no longer the issuer');
          return;
        }
        this.metrics?.ordered('failed');
        await this.recordFailure(r, seen, err);
        return;
      }
      // Kept even after a step-down: the certificate is good, and the write is guarded.
      const written = await this.record(r, seen, {
        state: {
          status: 'issued',
          last_error: undefined,
          attempts: 0,
          next_attempt_at: undefined,
          not_before: issued.notBefore.toISOString(),
          expires_at: issued.notAfter.toISOString(),
        },
        certificate: { cert: issued.cert, key: issued.key },
      });
      if (written) {
        this.metrics?.ordered('issued');
        this.log.info(
          { route: r.id, domain: m.domain, expires_at: issued.notAfter },
          'acme: certificate issued',
        );
      } else {
        this.discarded++;
        this.metrics?.ordered('discarded');
      }
    } finally {
      clearTimeout(deadline);
      await this.release(r.id, claimRevision);
    }
  }

  private async release(routeId: string, claimRevision: number): Promise<void> {
    await this.opts.kv
      .delete(acmeKeys.order(routeId), { prevRevision: claimRevision })
      .catch(() => undefined);
  }

  private async recordFailure(r: ManagedRoute, seen: ManagedStatus, err: unknown): Promise<void> {
    const m = r.managed_certificate;
    const attempts = (m.attempts ?? 0) + 1;
    const message = oneLine(errorMessage(err));
    // A rate limit's Retry-After is a floor: retrying sooner only meets the limit again.
    const retryAfter = err instanceof AcmeRateLimitError ? (err.retryAfterMs ?? 0) : 0;
    const next = new Date(Date.now() + Math.max(backoffMs(attempts, this.timing), retryAfter)).toISOString();
    this.log.warn(
      { route: r.id, domain: m.domain, attempts, next_attempt_at: next, err: message },
      'acme: order failed',
    );
    await this.record(r, seen, {
      state: { status: 'failed', last_error: message, attempts, next_attempt_at: next },
    });
  }

  /**
   * Writes the outcome of an order on its route, as long as the route still asks for what the
   * order served. Contention is retried with the same outcome (a certificate is never thrown
   * away for it); true when written.
   */
  private async record(
    r: ManagedRoute,
    seen: ManagedStatus,
    update: { state: Partial<ManagedCertificate>; certificate?: { cert: string; key: string } },
  ): Promise<boolean> {
    const m = r.managed_certificate;
    const ctx = { route: r.id, domain: m.domain, status: update.state.status };
    let why = 'store contention';
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      if (attempt > 0) await sleep(100 * 2 ** attempt);
      // A retry looks again first: the route may have moved on while the write lost.
      if (attempt > 0) {
        let fresh: Route;
        try {
          fresh = await this.opts.store.getRoute('http', r.id);
        } catch (err) {
          if ((err as { status?: number }).status === 404) return this.gone(ctx, 'the route was removed');
          why = (err as Error).message;
          continue;
        }
        const moved = movedOn(fresh, m, seen);
        if (moved) return this.gone(ctx, moved);
      }
      try {
        // The write lands only on the request this order answers (status, name, when asked).
        const expect: ManagedExpect = { status: seen, domain: m.domain, created_at: m.created_at };
        if (await this.opts.store.recordManagedCertificate(r.id, { ...update, expect })) return true;
        why = 'store contention or the route changed';
      } catch (err) {
        // The store refused the content (a client error): retrying cannot help.
        const status = (err as { status?: number }).status;
        if (status !== undefined && status >= 400 && status < 500)
          return this.gone(ctx, (err as Error).message);
        why = (err as Error).message;
      }
    }
    this.log.error({ ...ctx, err: why }, 'acme: could not record the order; the next pass decides again');
    return false;
  }

  private gone(ctx: object, why: string): false {
    this.log.warn({ ...ctx, why }, 'acme: order outcome not recorded: the route moved on');
    return false;
  }
}

function parseClaim(value: string): Claim | undefined {
  try {
    const c = JSON.parse(value) as Claim;
    return typeof c.owner === 'string' && typeof c.started_at === 'string' ? c : undefined;
  } catch {
    return undefined;
  }
}

/** Why the route no longer asks for what an order for (m, seen) served; undefined if it still does. */
export function movedOn(fresh: Route, m: ManagedCertificate, seen: ManagedStatus): string | undefined {
  if (!isManaged(fresh)) return 'the route no longer has a managed certificate';
  const now = fresh.managed_certificate;
  if (now.domain !== m.domain) return `the managed name changed to ${now.domain}`;
  if (now.created_at !== m.created_at) return 'the managed certificate was asked for again';
  if (now.status !== seen) return `its status is now ${now.status}`;
  return undefined;
}

/** The ACME server's problem detail when there is one, else the error's message. */
export function errorMessage(err: unknown): string {
  if (err instanceof AcmeConfigError) return err.message;
  const e = err as { message?: string; code?: string; response?: { data?: { detail?: string } } } | undefined;
  const detail = e?.response?.data?.detail;
  if (typeof detail === 'string' && detail) return detail;
  // No answer at all: say where from (axios's message names only the socket address).
  const url = (err as { config?: { url?: string } } | undefined)?.config?.url;
  if (url && e?.code && !(err as { response?: unknown }).response) return `${url}: ${e.message ?? e.code}`;
  return e?.message || String(err);
}

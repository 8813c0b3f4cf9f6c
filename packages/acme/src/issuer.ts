import { randomUUID } from 'node:crypto';
import type { KvClient } from '@flynn-edge/discoverd-client';
import { acmeKeys, type ManagedCertificate, type ManagedStatus, type Route } from '@flynn-edge/router-core';
import type { Metrics } from '@flynn-edge/service-kit';
import type * as acme from 'acme-client';
import { type AccountOptions, AcmeConfigError, openAccount } from './account.js';
import { deleteChallenge, putChallenge } from './challenges.js';
import { createIssuerMetrics, type IssuerMetrics } from './metrics.js';
import { orderCertificate } from './order.js';
import {
  backoffMs,
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
// so two issuers that both believe they lead (a leadership hand-over) never order one route twice.

/** The route store as the issuer uses it (RouteStore implements it). */
export interface IssuerStore {
  listRoutes(): Promise<Route[]>;
  /** A linearizable read of one route (throws when it is gone). */
  getRoute(type: string, id: string): Promise<Route>;
  recordManagedCertificate(
    routeId: string,
    update: {
      expect?: ManagedStatus;
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
  /** A claim older than this is taken over even if its owner still runs. Default 10 min. */
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
  /** The routes for the metrics (default: the issuer's last listing). */
  routesView?(): Route[];
  log?: IssuerLogger;
}

interface Claim {
  owner: string;
  session: string;
  started_at: string;
}

const quiet: IssuerLogger = { info() {}, warn() {}, error() {} };

export class Issuer {
  readonly timing: IssuerTiming;
  readonly maxInFlight: number;
  /** Orders started by this issuer (tests count them). */
  ordersStarted = 0;
  /** The most orders this issuer ever had in flight at once. */
  maxSeenInFlight = 0;
  private readonly inFlight = new Map<string, Promise<void>>();
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
   * Stops looking for work. Orders in flight go on unless the process ends (their claims then
   * lapse with this router's registration); `waitForOrders` waits for them to finish or fail.
   */
  async close(waitForOrders = false): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.ticking;
    if (waitForOrders) await Promise.allSettled([...this.inFlight.values()]);
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

  /** One look at the routes: start the orders that are due, up to the cap. */
  private async pass(): Promise<void> {
    if (!this.opts.isLeader()) return;
    const routes = await this.opts.store.listRoutes();
    this.lastRoutes = routes;
    await this.sweepChallenges();
    const now = Date.now();
    let live: Set<string> | undefined;
    for (const r of routes) {
      if (this.closed || !this.opts.isLeader() || this.inFlight.size >= this.maxInFlight) return;
      if (!isManaged(r) || this.inFlight.has(r.id)) continue;
      const seen = due(r.managed_certificate, now, this.timing);
      if (seen === undefined) continue;
      live ??= await this.opts.liveIssuers();
      const claim = await this.claim(r.id, live);
      if (claim === undefined) continue;
      // The listing may predate another issuer's finished order: decide again on a fresh read.
      const fresh = await this.opts.store.getRoute('http', r.id).catch(() => undefined);
      const now2 = Date.now();
      const seen2 = fresh && isManaged(fresh) ? due(fresh.managed_certificate, now2, this.timing) : undefined;
      if (!fresh || !isManaged(fresh) || seen2 === undefined) {
        await this.release(r.id, claim);
        continue;
      }
      const p = this.run(fresh, seen2, claim).finally(() => {
        this.inFlight.delete(r.id);
        this.kick();
      });
      this.inFlight.set(r.id, p);
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
      if (at < old) await this.opts.kv.delete(e.key, { prevRevision: e.mod_revision }).catch(() => undefined);
    }
  }

  /** Takes the route's order claim; answers its revision, or undefined when another issuer holds it. */
  private async claim(routeId: string, live: Set<string>): Promise<number | undefined> {
    const key = acmeKeys.order(routeId);
    const me = this.opts.id() ?? this.session;
    const cur = await this.opts.kv.get(key);
    if (cur) {
      let c: Claim | undefined;
      try {
        c = JSON.parse(cur.value) as Claim;
      } catch {}
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

  private async run(r: ManagedRoute, seen: ManagedStatus, claimRevision: number): Promise<void> {
    const m = r.managed_certificate;
    this.ordersStarted++;
    this.log.info({ route: r.id, domain: m.domain, status: seen }, 'acme: ordering a certificate');
    try {
      const client = await this.account();
      const issued = await orderCertificate(client, m.domain, {
        publish: async (domain, token, keyAuth) => {
          await putChallenge(this.opts.kv, token, domain, keyAuth);
          await this.opts.awaitLocal?.(domain, token, keyAuth);
        },
        unpublish: (token) => deleteChallenge(this.opts.kv, token),
      });
      await this.opts.store.recordManagedCertificate(r.id, {
        expect: seen,
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
      this.metrics?.ordered('issued');
      this.log.info(
        { route: r.id, domain: m.domain, expires_at: issued.notAfter },
        'acme: certificate issued',
      );
    } catch (err) {
      this.metrics?.ordered('failed');
      await this.recordFailure(r, seen, err);
    } finally {
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
    const next = new Date(Date.now() + backoffMs(attempts, this.timing)).toISOString();
    this.log.warn(
      { route: r.id, domain: m.domain, attempts, next_attempt_at: next, err: message },
      'acme: order failed',
    );
    try {
      await this.opts.store.recordManagedCertificate(r.id, {
        expect: seen,
        state: { status: 'failed', last_error: message, attempts, next_attempt_at: next },
      });
    } catch (e) {
      // The route changed under us (updated, removed): the next pass decides from its new state.
      this.log.warn({ route: r.id, err: (e as Error).message }, 'acme: could not record the failure');
    }
  }
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

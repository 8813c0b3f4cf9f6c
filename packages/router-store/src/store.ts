import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import type { KvClient, KvTxnCompare, KvTxnOp } from '@flynn-edge/discoverd-client';
import type { KvEntry } from '@flynn-edge/discoverd-state';
import {
  type Certificate,
  checkCertificate,
  claimedKeys,
  goTime,
  type HTTPRoute,
  httpDomainPrefix,
  httpRouteKey,
  idProblem,
  isRouteError,
  type ManagedCertificate,
  type ManagedStatus,
  managedRouteDomains,
  type PortRange,
  type Route,
  type RouteError,
  requiredKeys,
  tcpRouteKey,
  usedPortKey,
  type ValidateOptions,
  validateDelete,
  validateRoute,
  validateUpdate,
} from '@flynn-edge/router-core';
import { HttpError } from '@flynn-edge/service-kit';
import { certificateNotFound, contended, isRouteNotFound, routeHttpError, routeNotFound } from './errors.js';
import {
  CERTIFICATES_PREFIX,
  certificateKey,
  certificateRouteKey,
  certificateRoutesPrefix,
  certificateShaKey,
  isRouteKey,
  parseRoute,
  ROUTES_PREFIX,
  routeIdKey,
  serviceKey,
} from './layout.js';
import { inView, type StoreView } from './view.js';

// Route and certificate management on the cluster store. Each write is one KV transaction
// whose compares re-check, at commit time, every fact the validation relied on (claimed keys
// absent, the `/` route unchanged, the service record unchanged, the port never used, the
// certificate digest unclaimed). When a compare fails another writer got in between: the plan
// is rebuilt from fresh reads, so the client gets the precise error (e.g. "Duplicate route").

export interface RouteStoreOptions {
  /** HTTP listener ports; the first is the default HTTP port. */
  httpPorts: readonly number[];
  /** HTTPS listener ports; the first is the default HTTPS port. */
  httpsPorts: readonly number[];
  /** TCP route range, inclusive. */
  tcpRange: PortRange;
  now?: () => Date;
  newId?: () => string;
  /** Attempts per write when transactions keep losing races. Default 20. */
  maxAttempts?: number;
  /**
   * The router's synced copy of the route keys (RouteSync `keepView`): a write's first attempt
   * plans from it instead of reading the store.
   */
  view?: () => StoreView | undefined;
}

/** The per-service record: all routes of one service share drain_backends (Flynn's trigger). */
interface ServiceRecord {
  drain_backends: boolean;
  routes: number;
}

interface StoredCertificate {
  id: string;
  cert: string;
  key: string;
  sha256: string;
  created_at: string;
  updated_at: string;
}

/** One write, ready to commit: the transaction and what it answers on success. */
interface Plan<T> {
  compare: KvTxnCompare[];
  success: KvTxnOp[];
  result: T;
}

type Obj = Record<string, unknown>;

function sha256(pem: string): string {
  return createHash('sha256').update(pem).digest('hex');
}

function unchanged(e: KvEntry | null, key: string): KvTxnCompare {
  return e ? { key, op: '=', mod_revision: e.mod_revision } : { key, op: 'absent' };
}

/** A plan's reads straddled another writer's commit: plan again. */
class Raced extends Error {}

/** commit()'s "kept racing other writers" (the only service_unavailable it throws). */
function isContended(err: unknown): boolean {
  return err instanceof HttpError && err.code === 'service_unavailable';
}

/** A managed-certificate write whose route, state or expected status is gone: not written. */
class Gone extends Error {}

/** Which managed request an issuer's write belongs to (recordManagedCertificate's `expect`). */
export interface ManagedExpect {
  status: ManagedStatus;
  domain?: string;
  created_at?: string;
}

function managedMatches(m: ManagedCertificate, expect: ManagedStatus | ManagedExpect | undefined): boolean {
  if (expect === undefined) return true;
  const e = typeof expect === 'string' ? { status: expect } : expect;
  return (
    m.status === e.status &&
    (e.domain === undefined || m.domain === e.domain) &&
    (e.created_at === undefined || m.created_at === e.created_at)
  );
}

/**
 * The reads a write's plan makes: on a first attempt from the router's view or stale, on the
 * retries linearizable (`fresh`).
 */
interface Reader {
  readonly fresh: boolean;
  get(key: string): Promise<KvEntry | null>;
  listAll(prefix: string): Promise<{ entries: KvEntry[] }>;
}

function fail(e: RouteError): never {
  throw routeHttpError(e);
}

function isTcpPortZero(input: unknown): boolean {
  if (typeof input !== 'object' || input === null) return false;
  const o = input as Obj;
  return o.type === 'tcp' && (o.port === undefined || o.port === null || o.port === 0);
}

/**
 * The input with its path set to `/`, for a first validation pass that has not read the store
 * yet: a sub-path would fail there only because its `/` route was not looked up.
 */
function asRoot(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  return { ...(input as Obj), path: '/' };
}

export class RouteStore {
  private readonly maxAttempts: number;
  /** Revision of this store's last commit of view keys: a view behind it would miss that write. */
  private lastCommit = 0;

  constructor(
    readonly kv: KvClient,
    private readonly opts: RouteStoreOptions,
  ) {
    this.maxAttempts = opts.maxAttempts ?? 20;
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  private validateOptions(now: Date, id: string, tcpUsedEver?: ReadonlySet<number>): ValidateOptions {
    return {
      httpPorts: this.opts.httpPorts,
      httpsPorts: this.opts.httpsPorts,
      tcpRange: this.opts.tcpRange,
      now,
      newId: () => id,
      tcpUsedEver,
    };
  }

  /**
   * Runs plan → txn until a transaction commits; a plan throws the client's error, or Raced when
   * its own reads disagree because a writer got in between them.
   */
  private async commit<T>(what: string, plan: (kv: Reader) => Promise<Plan<T>>): Promise<T> {
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      // The first attempt reads the router's view (else stale reads): no round trip, or no
      // ReadIndex one. Every decision it takes is re-checked by the transaction's compares, so
      // an old copy can only make the commit fail, and a refusal based on one is re-checked with
      // linearizable reads before the client sees it.
      const kv = attempt === 0 ? this.firstReader() : this.freshReader;
      let p: Plan<T>;
      try {
        p = await plan(kv);
      } catch (err) {
        if (err instanceof Raced) continue;
        if (!kv.fresh && err instanceof HttpError) continue;
        throw err;
      }
      const r = await this.kv.txn({ compare: p.compare, success: p.success });
      if (r.succeeded) {
        // A view only ever reaches revisions that changed its keys.
        if (p.success.some((op) => op.op !== 'delete_prefix' && inView(op.key))) {
          this.lastCommit = Math.max(this.lastCommit, r.revision);
        }
        return p.result;
      }
    }
    throw contended(what);
  }

  private readonly freshReader: Reader = {
    fresh: true,
    get: (key) => this.kv.get(key),
    listAll: (prefix) => this.kv.listAll(prefix),
  };

  private readonly staleReader: Reader = {
    fresh: false,
    get: (key) => this.kv.get(key, { stale: true }),
    listAll: (prefix) => this.kv.listAll(prefix, { stale: true }),
  };

  /** The view when it has seen this store's own last write; keys it does not hold read stale. */
  private firstReader(): Reader {
    const view = this.opts.view?.();
    if (!view || view.revision < this.lastCommit) return this.staleReader;
    return {
      fresh: false,
      get: async (key) => (view.covers(key) ? view.get(key) : this.staleReader.get(key)),
      listAll: async (prefix) =>
        view.covers(prefix) ? { entries: view.list(prefix) } : this.staleReader.listAll(prefix),
    };
  }

  // ---- reads ----

  private async usedPorts(kv: Reader): Promise<Set<number>> {
    const l = await kv.listAll(usedPortKey(0).slice(0, -1));
    return new Set(l.entries.map((e) => Number(e.key.slice(e.key.lastIndexOf('/') + 1))));
  }

  private async serviceRecord(
    kv: Reader,
    service: string,
  ): Promise<{ entry: KvEntry | null; rec?: ServiceRecord }> {
    const entry = await kv.get(serviceKey(service));
    return { entry, rec: entry ? (JSON.parse(entry.value) as ServiceRecord) : undefined };
  }

  /** The route stored under an id, with its entry; 404 when missing or of another type. */
  private async current(
    type: string,
    id: string,
    kv: Reader = this.freshReader,
  ): Promise<{ route: Route; entry: KvEntry; index: KvEntry }> {
    // An id no route can have (and a key the store would refuse) is simply not found.
    if ((type !== 'http' && type !== 'tcp') || idProblem(id)) throw routeNotFound();
    const index = await kv.get(routeIdKey(type, id));
    if (!index) throw routeNotFound();
    const entry = await kv.get(index.value);
    const route = entry ? parseRoute(entry.value) : undefined;
    if (!entry || !route || route.type !== type) throw routeNotFound();
    return { route, entry, index };
  }

  /**
   * The live routes a validation of `route` must see: same domain:port (HTTP) or port (TCP), and
   * for a managed certificate the `/` routes that could hold one for the same name (peers).
   */
  private async neighbours(
    kv: Reader,
    route: Route,
  ): Promise<{ routes: Route[]; entries: Map<string, KvEntry>; peers: KvTxnCompare[] }> {
    const entries = new Map<string, KvEntry>();
    const peers: KvTxnCompare[] = [];
    if (route.type === 'http') {
      const name = route.managed_certificate?.domain;
      const peerKeys = name
        ? managedRouteDomains(name)
            .filter((d) => d !== route.domain)
            .map((d) => httpRouteKey(d, route.port, '/'))
        : [];
      const [l, ...found] = await Promise.all([
        kv.listAll(httpDomainPrefix(route.domain, route.port)),
        ...peerKeys.map((k) => kv.get(k)),
      ]);
      for (const e of l!.entries) entries.set(e.key, e);
      // Unchanged at commit: two routes claiming one name at once cannot both win.
      peerKeys.forEach((k, i) => {
        const e = found[i] as KvEntry | null;
        peers.push(unchanged(e, k));
        if (e) entries.set(k, e);
      });
    } else {
      const e = await kv.get(tcpRouteKey(route.port));
      if (e) entries.set(e.key, e);
    }
    const routes: Route[] = [];
    for (const e of entries.values()) {
      const r = parseRoute(e.value);
      if (r) routes.push(r);
    }
    return { routes, entries, peers };
  }

  private drainCheck(service: string, drain: boolean, rec: ServiceRecord | undefined): void {
    if (rec && rec.routes > 0 && rec.drain_backends !== drain) {
      fail({
        code: 'validation_error',
        message: 'Invalid route',
        field: 'drain_backends',
        reason: `all routes of service ${service} must have the same drain_backends`,
      });
    }
  }

  /**
   * Compares and ops that attach a route's certificate: reuse the certificate with the same
   * chain digest (Flynn's unique cert_sha256) or create it. Sets the route's certificate id.
   */
  private async certificateOps(kv: Reader, route: HTTPRoute, plan: Plan<unknown>): Promise<void> {
    const c = route.certificate;
    if (!c?.cert || !c.key) return;
    const sha = sha256(c.cert);
    const shaEntry = await kv.get(certificateShaKey(sha));
    const existing = shaEntry ? await kv.get(certificateKey(shaEntry.value)) : null;
    if (shaEntry && existing) {
      const stored = JSON.parse(existing.value) as StoredCertificate;
      plan.compare.push(unchanged(shaEntry, shaEntry.key), unchanged(existing, existing.key));
      // Re-put unchanged: a racing delete of this certificate (which compares its revision,
      // having seen no other user) then fails instead of removing it from under this route.
      plan.success.push({ op: 'put', key: existing.key, value: existing.value });
      route.certificate = {
        id: stored.id,
        cert: stored.cert,
        key: stored.key,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
      };
    } else {
      const id = c.id || randomUUID();
      const stored: StoredCertificate = {
        id,
        cert: c.cert,
        key: c.key,
        sha256: sha,
        created_at: route.updated_at,
        updated_at: route.updated_at,
      };
      plan.compare.push(unchanged(shaEntry, certificateShaKey(sha)), {
        key: certificateKey(id),
        op: 'absent',
      });
      plan.success.push(
        { op: 'put', key: certificateKey(id), value: JSON.stringify(stored) },
        { op: 'put', key: certificateShaKey(sha), value: id },
      );
      route.certificate = {
        id,
        cert: c.cert,
        key: c.key,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
      };
    }
    plan.success.push({ op: 'put', key: certificateRouteKey(route.certificate.id!, route.id!), value: '' });
  }

  /** The `/` route a sub-path needs: unchanged at commit, and re-put to bump its mod_revision. */
  private requireParent(route: Route, entries: Map<string, KvEntry>, plan: Plan<unknown>): void {
    for (const key of requiredKeys(route)) {
      const e = entries.get(key);
      // Validation already refused a sub-path without its `/` route.
      if (!e) throw contended('route');
      plan.compare.push({ key, op: '=', mod_revision: e.mod_revision });
      plan.success.push({ op: 'put', key, value: e.value });
    }
  }

  // ---- routes ----

  async createRoute(input: unknown): Promise<Route> {
    return this.commit('route create', async (kv) => {
      const now = this.now();
      const submittedId =
        typeof input === 'object' && input !== null && typeof (input as Obj).id === 'string'
          ? ((input as Obj).id as string)
          : '';
      const id = submittedId || this.opts.newId?.() || randomUUID();
      const used = isTcpPortZero(input) ? await this.usedPorts(kv) : undefined;
      const vopts = this.validateOptions(now, id, used);
      // First pass: shape, normalisation and the port; it tells which keys to read.
      const first = validateRoute(asRoot(input), [], vopts);
      if (first.error) fail(first.error);
      const [nb, svc, idEntry] = await Promise.all([
        this.neighbours(kv, first.route),
        this.serviceRecord(kv, first.route.service),
        kv.get(routeIdKey(first.route.type, id)),
      ]);
      const res = validateRoute(input, nb.routes, vopts);
      // port 0 picked a port that was free when the markers were read, taken when its key was.
      if (res.error && used && res.error.message === 'Duplicate route') throw new Raced();
      if (res.error) fail(res.error);
      const route = res.route;
      if (idEntry) fail({ code: 'conflict', message: 'Duplicate route', field: 'id' });
      this.drainCheck(route.service, route.drain_backends, svc.rec);

      const plan: Plan<Route> = { compare: [], success: [], result: route };
      const [key] = claimedKeys(route);
      plan.compare.push({ key: key!, op: 'absent' }, { key: routeIdKey(route.type, id), op: 'absent' });
      this.requireParent(route, nb.entries, plan);
      plan.compare.push(...nb.peers);
      plan.compare.push(unchanged(svc.entry, serviceKey(route.service)));
      plan.success.push({
        op: 'put',
        key: serviceKey(route.service),
        value: JSON.stringify({ drain_backends: route.drain_backends, routes: (svc.rec?.routes ?? 0) + 1 }),
      });
      if (route.type === 'tcp') {
        // port 0 took a never-used port: nobody may have taken it meanwhile.
        if (used) plan.compare.push({ key: usedPortKey(route.port), op: 'absent' });
        plan.success.push({ op: 'put', key: usedPortKey(route.port), value: '' });
      } else {
        await this.certificateOps(kv, route, plan);
      }
      plan.success.push(
        { op: 'put', key: key!, value: JSON.stringify(route) },
        { op: 'put', key: routeIdKey(route.type, id), value: key! },
      );
      return plan;
    });
  }

  async updateRoute(type: string, id: string, input: unknown): Promise<Route> {
    return this.commit('route update', async (kv) => {
      const cur = await this.current(type, id, kv);
      const now = this.now();
      const vopts = this.validateOptions(now, id);
      const first = validateUpdate(asRoot(input), cur.route, [], vopts);
      if (first.error) fail(first.error);
      const serviceChanged = first.route.service !== cur.route.service;
      const [nb, newSvc, oldSvc] = await Promise.all([
        this.neighbours(kv, first.route),
        this.serviceRecord(kv, first.route.service),
        serviceChanged ? this.serviceRecord(kv, cur.route.service) : undefined,
      ]);
      const res = validateUpdate(input, cur.route, nb.routes, vopts);
      if (res.error) fail(res.error);
      const route = res.route;
      const [oldKey] = claimedKeys(cur.route);
      const [newKey] = claimedKeys(route);
      const plan: Plan<Route> = { compare: [], success: [], result: route };
      plan.compare.push(
        { key: oldKey!, op: '=', mod_revision: cur.entry.mod_revision },
        { key: cur.index.key, op: '=', mod_revision: cur.index.mod_revision },
      );
      if (newKey !== oldKey) {
        // Moving a `/` route away from its domain:port must not strand its sub-paths.
        if (cur.route.type === 'http' && cur.route.path === '/') {
          const old = await this.neighbours(kv, cur.route);
          const dep = validateDelete(cur.route, old.routes);
          if (dep) fail(dep);
        }
        plan.compare.push({ key: newKey!, op: 'absent' });
        plan.success.push({ op: 'delete', key: oldKey! });
        if (route.type === 'tcp') plan.success.push({ op: 'put', key: usedPortKey(route.port), value: '' });
      }
      this.requireParent(route, nb.entries, plan);
      plan.compare.push(...nb.peers);
      if (serviceChanged) {
        this.drainCheck(route.service, route.drain_backends, newSvc.rec);
        plan.compare.push(
          unchanged(newSvc.entry, serviceKey(route.service)),
          unchanged(oldSvc!.entry, serviceKey(cur.route.service)),
        );
        plan.success.push({
          op: 'put',
          key: serviceKey(route.service),
          value: JSON.stringify({
            drain_backends: route.drain_backends,
            routes: (newSvc.rec?.routes ?? 0) + 1,
          }),
        });
        plan.success.push(...this.serviceDecrement(cur.route.service, oldSvc!.rec));
      }
      if (cur.route.type === 'http' && cur.route.certificate?.id) {
        plan.success.push({ op: 'delete', key: certificateRouteKey(cur.route.certificate.id, id) });
      }
      if (route.type === 'http') await this.certificateOps(kv, route, plan);
      plan.success.push(
        { op: 'put', key: newKey!, value: JSON.stringify(route) },
        { op: 'put', key: cur.index.key, value: newKey! },
      );
      return plan;
    });
  }

  private serviceDecrement(service: string, rec: ServiceRecord | undefined): KvTxnOp[] {
    const left = (rec?.routes ?? 1) - 1;
    return left > 0
      ? [
          {
            op: 'put',
            key: serviceKey(service),
            value: JSON.stringify({ drain_backends: rec!.drain_backends, routes: left }),
          },
        ]
      : [{ op: 'delete', key: serviceKey(service) }];
  }

  async deleteRoute(type: string, id: string): Promise<void> {
    await this.commit('route delete', async (kv) => {
      const cur = await this.current(type, id, kv);
      let entry = cur.entry;
      if (cur.route.type === 'http' && cur.route.path === '/') {
        // The listing holds the `/` route and its sub-paths at one revision; committing against
        // that `/` mod_revision fails if a sub-path create (which re-puts `/`) got in between.
        const nb = await this.neighbours(kv, cur.route);
        const dep = validateDelete(cur.route, nb.routes);
        if (dep) fail(dep);
        const seen = nb.entries.get(entry.key);
        if (!seen) throw routeNotFound();
        entry = seen;
      }
      const svc = await this.serviceRecord(kv, cur.route.service);
      const plan: Plan<undefined> = { compare: [], success: [], result: undefined };
      plan.compare.push(
        { key: entry.key, op: '=', mod_revision: entry.mod_revision },
        { key: cur.index.key, op: '=', mod_revision: cur.index.mod_revision },
        unchanged(svc.entry, serviceKey(cur.route.service)),
      );
      plan.success.push({ op: 'delete', key: entry.key }, { op: 'delete', key: cur.index.key });
      plan.success.push(...this.serviceDecrement(cur.route.service, svc.rec));
      if (cur.route.type === 'http' && cur.route.certificate?.id) {
        plan.success.push({ op: 'delete', key: certificateRouteKey(cur.route.certificate.id, id) });
      }
      return plan;
    });
  }

  /**
   * SEAM (issue 18): the issuer's write of a managed certificate's state, and on success its
   * certificate (installed as the route's, as a PUT with `certificate` would), in one transaction.
   * `expect` guards against a concurrent change: the write happens only while the route's
   * managed state still matches it (else it returns undefined): a status, or the status with
   * the `domain` and `created_at` of the request the issuer worked on (a new name is a new
   * request). Never throws for a race. An installed certificate replaces the previous issued
   * one, whose keys are deleted when no other route uses it.
   */
  async recordManagedCertificate(
    routeId: string,
    update: {
      expect?: ManagedStatus | ManagedExpect;
      state: Partial<ManagedCertificate>;
      certificate?: { cert: string; key: string };
    },
  ): Promise<Route | undefined> {
    try {
      return await this.commit('managed certificate write', (kv) => this.managedPlan(kv, routeId, update));
    } catch (err) {
      if (err instanceof Gone || isContended(err)) return undefined;
      throw err;
    }
  }

  private async managedPlan(
    kv: Reader,
    routeId: string,
    update: Parameters<RouteStore['recordManagedCertificate']>[1],
  ): Promise<Plan<Route>> {
    // A refusal read from a stale copy is re-read fresh before the issuer is told it lost.
    const gone = () => (kv.fresh ? new Gone() : new Raced());
    const cur = await this.current('http', routeId, kv).catch((err: unknown) => {
      throw isRouteNotFound(err) ? gone() : err;
    });
    const route = cur.route as HTTPRoute;
    const m = route.managed_certificate;
    if (!m || !managedMatches(m, update.expect)) throw gone();
    const now = goTime(this.now());
    const next: HTTPRoute = { ...route };
    const state: ManagedCertificate = { ...m };
    const plan: Plan<Route> = {
      compare: [{ key: cur.entry.key, op: '=', mod_revision: cur.entry.mod_revision }],
      success: [],
      result: next,
    };
    let validity: { not_before: string; expires_at: string } | undefined;
    if (update.certificate) {
      const checked = checkCertificate(update.certificate.cert, update.certificate.key, m.domain);
      if (isRouteError(checked)) fail(checked);
      const leaf = new X509Certificate(checked.cert);
      validity = {
        not_before: goTime(new Date(leaf.validFrom)),
        expires_at: goTime(new Date(leaf.validTo)),
      };
      // Installed as a PUT with this certificate would: the same keys, the same reuse by digest.
      next.updated_at = now;
      next.certificate = { cert: checked.cert, key: checked.key, created_at: now, updated_at: now };
      if (route.certificate?.id) {
        plan.success.push({ op: 'delete', key: certificateRouteKey(route.certificate.id, routeId) });
      }
      await this.certificateOps(kv, next, plan);
      const previous = route.certificate?.id;
      if (previous && previous === m.certificate_id && previous !== next.certificate.id) {
        await this.dropUnused(kv, previous, routeId, plan);
      }
      // A success ends the failure streak (unless the issuer says otherwise in `state`).
      delete state.last_error;
      delete state.attempts;
      delete state.next_attempt_at;
    }
    // The route owns the name and the creation time; the issuer owns the rest.
    Object.assign(state, update.state, { domain: m.domain, created_at: m.created_at, updated_at: now });
    if (validity && next.certificate?.id)
      Object.assign(state, { certificate_id: next.certificate.id }, validity);
    next.managed_certificate = state;
    plan.success.push({ op: 'put', key: cur.entry.key, value: JSON.stringify(next) });
    return plan;
  }

  /**
   * Deletes certificate `id` (its record, digest key and route links) when no route but
   * `routeId` uses it; the compare on its record fails if a route attached it meanwhile
   * (certificateOps re-puts the record it reuses).
   */
  private async dropUnused(kv: Reader, id: string, routeId: string, plan: Plan<unknown>): Promise<void> {
    const [e, links] = await Promise.all([
      kv.get(certificateKey(id)),
      kv.listAll(certificateRoutesPrefix(id)),
    ]);
    if (!e) return;
    if (links.entries.some((l) => l.key !== certificateRouteKey(id, routeId))) return;
    const s = JSON.parse(e.value) as StoredCertificate;
    plan.compare.push({ key: e.key, op: '=', mod_revision: e.mod_revision });
    plan.success.push(
      { op: 'delete', key: e.key },
      { op: 'delete', key: certificateShaKey(s.sha256) },
      { op: 'delete_prefix', prefix: certificateRoutesPrefix(id) },
    );
  }

  async getRoute(type: string, id: string): Promise<Route> {
    return (await this.current(type, id)).route;
  }

  /** Every route (or those of one parent_ref), newest created_at first. */
  async listRoutes(parentRef?: string): Promise<Route[]> {
    const l = await this.kv.listAll(ROUTES_PREFIX);
    const routes: Route[] = [];
    for (const e of l.entries) {
      if (!isRouteKey(e.key)) continue;
      const r = parseRoute(e.value);
      if (r && (parentRef === undefined || r.parent_ref === parentRef)) routes.push(r);
    }
    return routes.sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
  }

  // ---- certificates ----

  private toCertificate(s: StoredCertificate, routes: string[]): Certificate {
    return { id: s.id, routes, cert: s.cert, key: s.key, created_at: s.created_at, updated_at: s.updated_at };
  }

  private async certRouteIds(id: string): Promise<string[]> {
    const l = await this.kv.listAll(certificateRoutesPrefix(id));
    return l.entries.map((e) => e.key.slice(certificateRoutesPrefix(id).length));
  }

  /**
   * Stores a certificate; an identical chain returns the stored one (Flynn's unique sha256).
   * Unlike Flynn, which answered 200 even when the insert failed, an invalid pair is a 400.
   */
  async createCertificate(input: unknown): Promise<Certificate> {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new HttpError('validation_error', 'Certificate invalid: certificate must be a JSON object');
    }
    const o = input as Obj;
    const cert = typeof o.cert === 'string' ? o.cert : '';
    const key = typeof o.key === 'string' ? o.key : '';
    const checked = checkCertificate(cert, key);
    if (isRouteError(checked)) fail(checked);
    const sha = sha256(checked.cert);
    return this.commit('certificate create', async (kv) => {
      const shaEntry = await kv.get(certificateShaKey(sha));
      if (shaEntry) {
        const existing = await kv.get(certificateKey(shaEntry.value));
        if (existing) {
          const s = JSON.parse(existing.value) as StoredCertificate;
          const result = this.toCertificate(s, await this.certRouteIds(s.id));
          // Nothing to write: a transaction that only re-checks the digest still maps it.
          return { compare: [unchanged(shaEntry, shaEntry.key)], success: [], result };
        }
      }
      const now = goTime(this.now());
      const id = randomUUID();
      const s: StoredCertificate = {
        id,
        cert: checked.cert,
        key: checked.key,
        sha256: sha,
        created_at: now,
        updated_at: now,
      };
      return {
        compare: [unchanged(shaEntry, certificateShaKey(sha)), { key: certificateKey(id), op: 'absent' }],
        success: [
          { op: 'put', key: certificateKey(id), value: JSON.stringify(s) },
          { op: 'put', key: certificateShaKey(sha), value: id },
        ],
        result: this.toCertificate(s, []),
      };
    });
  }

  async listCertificates(): Promise<Certificate[]> {
    const [certs, links] = await Promise.all([
      this.kv.listAll(CERTIFICATES_PREFIX),
      this.kv.listAll('certificate-routes/'),
    ]);
    const routes = new Map<string, string[]>();
    for (const e of links.entries) {
      const [certId, routeId] = e.key.slice('certificate-routes/'.length).split('/');
      if (!certId || !routeId) continue;
      routes.set(certId, [...(routes.get(certId) ?? []), routeId]);
    }
    return certs.entries
      .map((e) => JSON.parse(e.value) as StoredCertificate)
      .map((s) => this.toCertificate(s, routes.get(s.id) ?? []))
      .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
  }

  async getCertificate(id: string): Promise<Certificate> {
    if (idProblem(id)) throw certificateNotFound();
    const e = await this.kv.get(certificateKey(id));
    if (!e) throw certificateNotFound();
    return this.toCertificate(JSON.parse(e.value) as StoredCertificate, await this.certRouteIds(id));
  }

  /** The routes using a certificate. */
  async certificateRoutes(id: string): Promise<Route[]> {
    await this.getCertificate(id);
    const ids = await this.certRouteIds(id);
    const found = await Promise.all(ids.map((rid) => this.current('http', rid).catch(() => undefined)));
    return found.filter((f) => f !== undefined).map((f) => f.route);
  }

  /**
   * Deletes a certificate; as in Flynn the routes using it stay and fall back to the default
   * certificate. Their stored values lose the certificate in the same transaction.
   */
  async deleteCertificate(id: string): Promise<void> {
    if (idProblem(id)) throw certificateNotFound();
    await this.commit('certificate delete', async (kv) => {
      const e = await kv.get(certificateKey(id));
      if (!e) throw certificateNotFound();
      const s = JSON.parse(e.value) as StoredCertificate;
      const ids = await this.certRouteIds(id);
      const users = await Promise.all(ids.map((rid) => this.current('http', rid, kv).catch(() => undefined)));
      const compare: KvTxnCompare[] = [{ key: e.key, op: '=', mod_revision: e.mod_revision }];
      const success: KvTxnOp[] = [
        { op: 'delete', key: e.key },
        { op: 'delete', key: certificateShaKey(s.sha256) },
        { op: 'delete_prefix', prefix: certificateRoutesPrefix(id) },
      ];
      const updatedAt = goTime(this.now());
      for (const u of users) {
        if (u?.route.type !== 'http' || u.route.certificate?.id !== id) continue;
        const { certificate: _dropped, ...rest } = u.route;
        compare.push({ key: u.entry.key, op: '=', mod_revision: u.entry.mod_revision });
        success.push({
          op: 'put',
          key: u.entry.key,
          value: JSON.stringify({ ...rest, updated_at: updatedAt }),
        });
      }
      return { compare, success, result: undefined };
    });
  }
}

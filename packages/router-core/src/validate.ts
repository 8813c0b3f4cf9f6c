import { randomUUID } from 'node:crypto';
import { checkCertificate, isRouteError } from './cert.js';
import { goTime } from './json.js';
import {
  MANAGED_DOMAIN_FIELD,
  MANAGED_SUB_PATH,
  MANAGED_WITH_CERTIFICATE,
  type ManagedCertificate,
  managedAwaitsIssue,
  managedDomainProblem,
} from './managed.js';
import { allocatePort } from './ports.js';
import {
  type Certificate,
  DEFAULT_TCP_RANGE,
  type HTTPRoute,
  type PortRange,
  type Route,
  type RouteError,
  type RouteSet,
  type TCPRoute,
} from './types.js';

export interface ValidateOptions {
  /** HTTP listener ports; the first is the default HTTP port. Default [80]. */
  httpPorts?: readonly number[];
  /** HTTPS listener ports; the first is the default HTTPS port. Default [443]. */
  httpsPorts?: readonly number[];
  /** TCP route range, inclusive. Default 3000–3500. */
  tcpRange?: PortRange;
  /** Accept TCP ports outside `tcpRange` (Flynn did, binding on demand). Default false. */
  allowTcpOutsideRange?: boolean;
  /**
   * Every TCP port any route ever used (from the store), for `port: 0`. When absent, the ports
   * of `existing` are used, which reuses the ports of deleted routes: pass the store's set.
   */
  tcpUsedEver?: ReadonlySet<number>;
  /** Clock for the timestamps. Default: now. */
  now?: Date;
  /** Id generator for routes without an id. Default: randomUUID. */
  newId?: () => string;
}

export type ValidateResult = { route: Route; error?: undefined } | { route?: undefined; error: RouteError };

const INVALID_ROUTE = 'Invalid route';

function invalid(field: string | undefined, reason: string): { error: RouteError } {
  const error: RouteError = { code: 'validation_error', message: INVALID_ROUTE, reason };
  if (field) error.field = field;
  return { error };
}

function conflict(message: string, field?: string): { error: RouteError } {
  const error: RouteError = { code: 'conflict', message };
  if (field) error.field = field;
  return { error };
}

const DOMAIN_LABEL = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/;

// Limits that keep every route field well inside the cluster store's 4 KiB keys (a route's key
// holds its domain and path; ids, services and certificate ids are keys of their own).
/** A DNS name's limit, wildcard prefix included. */
export const MAX_DOMAIN_LENGTH = 253;
export const MAX_PATH_LENGTH = 2048;
export const MAX_ID_LENGTH = 128;
export const MAX_PARENT_REF_LENGTH = 256;
/** A PEM chain of a dozen certificates fits easily; a key of any usual type is under 4 KiB. */
export const MAX_CERT_PEM_BYTES = 64 * 1024;
export const MAX_KEY_PEM_BYTES = 16 * 1024;

/** Ids (routes, certificates): as in URLs and store keys, so no "/", no spaces, no dot-only names. */
const ID = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$/;
/** A discoverd service the router can route to: a DNS label (discoverd allows `[a-z0-9-]+`). */
const SERVICE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why a route or certificate id is unusable, or undefined when it is fine. */
export function idProblem(id: string): string | undefined {
  if (id.length > MAX_ID_LENGTH) return `id must be at most ${MAX_ID_LENGTH} characters`;
  if (!ID.test(id)) return 'id may contain only letters, digits and "-", "_", "~", "." (not first)';
  return undefined;
}

/** Lower-case and check a route domain: `*`, `*.suffix`, or dot-separated labels. */
export function normaliseDomain(input: string): string | { reason: string } {
  const domain = input.toLowerCase();
  if (domain === '') return { reason: 'domain must not be empty' };
  if (domain === '*') return domain;
  if (domain.length > MAX_DOMAIN_LENGTH)
    return { reason: `domain must be at most ${MAX_DOMAIN_LENGTH} characters` };
  const body = domain.startsWith('*.') ? domain.slice(2) : domain;
  for (const label of body.split('.')) {
    if (label.length === 0 || label.length > 63 || !DOMAIN_LABEL.test(label)) {
      return {
        reason: body.includes('*')
          ? 'a wildcard domain must be "*" or start with "*." and have no other "*"'
          : `invalid domain ${JSON.stringify(input)}`,
      };
    }
  }
  return domain;
}

/**
 * Flynn's path trigger: empty → "/", a trailing "/" is appended, and the result must match
 * Flynn's pattern (start with "/", end with "/"), so a path must start with "/"; it is not prefixed.
 */
export function normalisePath(input: string | undefined): string | { reason: string } {
  let path = input ?? '';
  if (path === '') path = '/';
  if (!path.endsWith('/')) path += '/';
  if (!path.startsWith('/')) return { reason: 'path must start with "/"' };
  if (path.length > MAX_PATH_LENGTH) return { reason: `path must be at most ${MAX_PATH_LENGTH} characters` };
  if (/[?#\s]/.test(path)) return { reason: 'path must not contain "?", "#" or whitespace' };
  if (CONTROL.test(path)) return { reason: 'path must not contain control characters' };
  if (!PATH_CHARS.test(path)) {
    return { reason: 'path may contain only URL path characters (RFC 3986; percent-encode the rest)' };
  }
  // A request path never matches these once normalised, and a proxy's normalisation would.
  const segments = path.slice(1, -1).split('/');
  if (path !== '/' && segments.some((seg) => seg === '')) return { reason: 'path must not contain "//"' };
  if (segments.some((seg) => /^(\.|%2e){1,2}$/i.test(seg))) {
    return { reason: 'path must not contain "." or ".." segments (encoded or not)' };
  }
  return path;
}

/** RFC 3986 path characters: unreserved, sub-delims, ":", "@", "/" and %XX escapes. */
const PATH_CHARS = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/;

type Obj = Record<string, unknown>;

function optString(o: Obj, f: string, field = f): string | undefined | { error: RouteError } {
  const v = o[f];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return invalid(field, `${f} must be a string`);
  return v;
}

/** Refuses PEM input past the size limits before anything parses it. */
function pemTooBig(
  cert: string | undefined,
  key: string | undefined,
  certField: string,
  keyField: string,
): { error: RouteError } | undefined {
  if (cert && Buffer.byteLength(cert) > MAX_CERT_PEM_BYTES) {
    return invalid(certField, `certificate PEM must be at most ${MAX_CERT_PEM_BYTES} bytes`);
  }
  if (key && Buffer.byteLength(key) > MAX_KEY_PEM_BYTES) {
    return invalid(keyField, `key PEM must be at most ${MAX_KEY_PEM_BYTES} bytes`);
  }
  return undefined;
}

function optBool(o: Obj, f: string): boolean | { error: RouteError } {
  const v = o[f];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') return invalid(f, `${f} must be a boolean`);
  return v;
}

function optPort(o: Obj): number | { error: RouteError } {
  const v = o.port;
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v)) return invalid('port', 'port must be an integer');
  return v;
}

function isErr(x: unknown): x is { error: RouteError } {
  return typeof x === 'object' && x !== null && 'error' in x;
}

/**
 * Validate and normalise a submitted route (parsed JSON) against the live routes, with Flynn's
 * error codes and messages (spec §2.2–§2.3). On success the route has an id, timestamps,
 * its normalised domain/path/port and, for HTTP, a checked `certificate` (taken from the
 * deprecated `tls_cert`/`tls_key` when set, as Flynn did).
 */
export function validateRoute(
  input: unknown,
  existing: RouteSet,
  opts: ValidateOptions = {},
): ValidateResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return invalid(undefined, 'route must be a JSON object');
  }
  const o = input as Obj;
  if (o.type !== 'http' && o.type !== 'tcp') {
    return { error: { code: 'validation_error', message: 'type Invalid route type', field: 'type' } };
  }
  const service = optString(o, 'service');
  if (isErr(service)) return service;
  if (!service) return invalid('service', 'service must not be empty');
  if (!SERVICE.test(service)) {
    return invalid('service', 'service must be a DNS label: at most 63 of [a-z0-9-], no "-" first or last');
  }
  const id = optString(o, 'id');
  if (isErr(id)) return id;
  const badId = id ? idProblem(id) : undefined;
  if (badId) return invalid('id', badId);
  const parentRef = optString(o, 'parent_ref');
  if (isErr(parentRef)) return parentRef;
  if (parentRef && (parentRef.length > MAX_PARENT_REF_LENGTH || CONTROL.test(parentRef))) {
    return invalid(
      'parent_ref',
      `parent_ref must be at most ${MAX_PARENT_REF_LENGTH} characters, without control characters`,
    );
  }
  const leader = optBool(o, 'leader');
  if (isErr(leader)) return leader;
  const drain = optBool(o, 'drain_backends');
  if (isErr(drain)) return drain;
  const port = optPort(o);
  if (isErr(port)) return port;
  if (
    o.type === 'tcp' &&
    o.https_redirect !== undefined &&
    o.https_redirect !== null &&
    o.https_redirect !== false
  ) {
    return invalid('https_redirect', 'https_redirect is only valid for HTTP routes');
  }
  if (o.type === 'tcp' && o.managed_certificate !== undefined && o.managed_certificate !== null) {
    return invalid(MANAGED_DOMAIN_FIELD, 'managed certificates are for HTTP routes only');
  }

  const now = goTime(opts.now ?? new Date());
  const base = {
    id: id || (opts.newId ?? randomUUID)(),
    service,
    leader,
    created_at: now,
    updated_at: now,
    drain_backends: drain,
  };
  if (parentRef) Object.assign(base, { parent_ref: parentRef });

  const existingList = [...existing];
  // Flynn's drain trigger: all live routes of one service share drain_backends.
  for (const r of existingList) {
    if (r.service === service && r.drain_backends !== drain) {
      return invalid('drain_backends', `all routes of service ${service} must have the same drain_backends`);
    }
  }

  const httpPorts = opts.httpPorts ?? [80];
  const httpsPorts = opts.httpsPorts ?? [443];
  if (o.type === 'tcp') return validateTCP(base, port, existingList, httpPorts, httpsPorts, opts);
  return validateHTTP(o, base, port, existingList, httpPorts, httpsPorts);
}

function validateTCP(
  base: Omit<TCPRoute, 'type' | 'port'>,
  portIn: number,
  existing: Route[],
  httpPorts: readonly number[],
  httpsPorts: readonly number[],
  opts: ValidateOptions,
): ValidateResult {
  const range = opts.tcpRange ?? DEFAULT_TCP_RANGE;
  let port = portIn;
  if (port === 0) {
    const used = new Set(opts.tcpUsedEver ?? existing.filter((r) => r.type === 'tcp').map((r) => r.port));
    for (const reserved of [80, 443, ...httpPorts, ...httpsPorts]) used.add(reserved);
    const p = allocatePort(range, used);
    if (p === undefined) return conflict(`No free port in the TCP range ${range.start}-${range.end}`, 'port');
    port = p;
  }
  if (port === 80 || port === 443 || httpPorts.includes(port) || httpsPorts.includes(port)) {
    return conflict('Port reserved for HTTP/HTTPS traffic', 'port');
  }
  if (port < 1 || port > 65534) return invalid('port', 'port must be between 1 and 65534');
  if (!opts.allowTcpOutsideRange && (port < range.start || port > range.end)) {
    return invalid('port', `port must be within the TCP range ${range.start}-${range.end}`);
  }
  if (existing.some((r) => r.type === 'tcp' && r.port === port)) return conflict('Duplicate route');
  return { route: { type: 'tcp', ...base, port } };
}

function validateHTTP(
  o: Obj,
  base: Omit<HTTPRoute, 'type' | 'port' | 'domain' | 'path' | 'sticky' | 'disable_keep_alives'>,
  portIn: number,
  existing: Route[],
  httpPorts: readonly number[],
  httpsPorts: readonly number[],
): ValidateResult {
  const domainIn = optString(o, 'domain');
  if (isErr(domainIn)) return domainIn;
  const domain = normaliseDomain(domainIn ?? '');
  if (typeof domain !== 'string') return invalid('domain', domain.reason);
  const sticky = optBool(o, 'sticky');
  if (isErr(sticky)) return sticky;
  const dka = optBool(o, 'disable_keep_alives');
  if (isErr(dka)) return dka;
  const httpsRedirect = optBool(o, 'https_redirect');
  if (isErr(httpsRedirect)) return httpsRedirect;
  const tlsCert = optString(o, 'tls_cert');
  if (isErr(tlsCert)) return tlsCert;
  const tlsKey = optString(o, 'tls_key');
  if (isErr(tlsKey)) return tlsKey;

  // Port: 0 or a listener port (an HTTPS one only with the deprecated tls_cert, Flynn's quirk);
  // the default HTTP/HTTPS ports are then stored as 0, the port that serves on both.
  let port = portIn;
  if (port !== 0) {
    const allowed =
      port >= 1 && port <= 65534 && (httpPorts.includes(port) || (!!tlsCert && httpsPorts.includes(port)));
    if (!allowed) {
      return {
        error: { code: 'validation_error', message: 'Port not reserved for HTTP(S) traffic', field: 'port' },
      };
    }
    if (port === httpPorts[0] || port === httpsPorts[0]) port = 0;
  }

  let certificate: Certificate | undefined;
  let certIn: string | undefined;
  let keyIn: string | undefined;
  let certId: string | undefined;
  if (tlsCert || tlsKey) {
    const tooBig = pemTooBig(tlsCert, tlsKey, 'tls_cert', 'tls_key');
    if (tooBig) return tooBig;
    certIn = tlsCert ?? '';
    keyIn = tlsKey ?? '';
  } else if (o.certificate !== undefined && o.certificate !== null) {
    const c = o.certificate;
    if (typeof c !== 'object' || Array.isArray(c))
      return invalid('certificate', 'certificate must be an object');
    const cert = optString(c as Obj, 'cert', 'certificate');
    if (isErr(cert)) return cert;
    const key = optString(c as Obj, 'key', 'certificate');
    if (isErr(key)) return key;
    const cid = optString(c as Obj, 'id', 'certificate');
    if (isErr(cid)) return cid;
    const badCid = cid ? idProblem(cid) : undefined;
    if (badCid) return invalid('certificate', `certificate ${badCid}`);
    const tooBig = pemTooBig(cert, key, 'certificate', 'certificate');
    if (tooBig) return tooBig;
    certIn = cert ?? '';
    keyIn = key ?? '';
    certId = cid;
  }
  if (certIn !== undefined && keyIn !== undefined) {
    const checked = checkCertificate(certIn, keyIn, domain);
    if (isRouteError(checked)) return { error: checked };
    certificate = {
      cert: checked.cert,
      key: checked.key,
      created_at: base.created_at,
      updated_at: base.updated_at,
    };
    if (certId) certificate.id = certId;
  }

  // A new managed certificate is pending: the route's own certificate serves until it is issued.
  const managed = parseManaged(o.managed_certificate, domain, base.created_at);
  if (isErr(managed)) return managed;

  const pathIn = optString(o, 'path');
  if (isErr(pathIn)) return pathIn;
  const path = normalisePath(pathIn);
  if (typeof path !== 'string') return invalid('path', path.reason);

  const sameHost = existing.filter(
    (r): r is HTTPRoute => r.type === 'http' && r.domain === domain && r.port === port,
  );
  if (path !== '/' && !sameHost.some((r) => r.path === '/')) {
    return invalid('path', `default route for domain ${domain} not found`);
  }
  if (sameHost.some((r) => r.path === path)) return conflict('Duplicate route');

  const route: HTTPRoute = {
    type: 'http',
    ...base,
    port,
    domain,
    sticky,
    path,
    disable_keep_alives: dka,
  };
  if (certificate) route.certificate = certificate;
  if (httpsRedirect) route.https_redirect = true;
  if (managed) route.managed_certificate = managed;
  const placement = managedPlacement(route, existing);
  return placement ? { error: placement } : { route };
}

/**
 * Where a managed certificate may be: on a `/` route (SNI picks the `/` route's certificate, so
 * one on a sub-path would never be served), and one per name and port (else the name would be
 * ordered once per route). `existing` must hold the `/` routes of managedRouteDomains(name).
 */
export function managedPlacement(route: HTTPRoute, existing: Iterable<Route>): RouteError | undefined {
  const m = route.managed_certificate;
  if (!m) return undefined;
  if (route.path !== '/') return invalid(MANAGED_DOMAIN_FIELD, MANAGED_SUB_PATH).error;
  for (const r of existing) {
    if (r.type !== 'http' || r.port !== route.port || r.id === route.id) continue;
    if (r.managed_certificate?.domain === m.domain) {
      return invalid(
        MANAGED_DOMAIN_FIELD,
        `${m.domain} already has a managed certificate on route http/${r.id} (domain ${r.domain})`,
      ).error;
    }
  }
  return undefined;
}

/**
 * A new managed certificate from the user's `{"domain"}` (default: the route's domain); the API
 * owns the rest (status `pending`, times). `renew` needs an issued one, so it is refused here.
 */
function parseManaged(
  input: unknown,
  routeDomain: string,
  now: string,
): ManagedCertificate | undefined | { error: RouteError } {
  if (input === undefined || input === null) return undefined;
  if (typeof input !== 'object' || Array.isArray(input)) {
    return invalid('managed_certificate', 'managed_certificate must be an object like {"domain": "…"}');
  }
  const m = input as Obj;
  if (m.renew === true) return invalid('managed_certificate.renew', 'no issued managed certificate to renew');
  const name = optString(m, 'domain', MANAGED_DOMAIN_FIELD);
  if (isErr(name)) return name;
  const domain = managedDomain(name || routeDomain, routeDomain);
  if (isErr(domain)) return domain;
  return { domain, status: 'pending', created_at: now, updated_at: now };
}

/** The managed certificate's name, lower-cased and checked against the route's domain. */
export function managedDomain(input: string, routeDomain: string): string | { error: RouteError } {
  const lower = input.toLowerCase();
  // Wildcards and IP addresses first: their reasons say more than "invalid domain".
  const early = managedDomainProblem(lower, lower);
  if (early) return invalid(MANAGED_DOMAIN_FIELD, early);
  const name = normaliseDomain(lower);
  if (typeof name !== 'string') return invalid(MANAGED_DOMAIN_FIELD, name.reason);
  const problem = managedDomainProblem(name, routeDomain);
  return problem ? invalid(MANAGED_DOMAIN_FIELD, problem) : name;
}

/**
 * May `route` be deleted? Flynn refuses to delete a `/` route while sub-path routes exist on
 * its domain (and port): 400 `validation_error` "Route has dependent routes".
 */
export function validateDelete(route: Route, existing: RouteSet): RouteError | undefined {
  if (route.type !== 'http' || route.path !== '/') return undefined;
  for (const r of existing) {
    if (r.type === 'http' && r.domain === route.domain && r.port === route.port && r.path !== '/') {
      return {
        code: 'validation_error',
        message: 'Route has dependent routes',
        reason: `default route for ${route.domain} has dependent routes`,
      };
    }
  }
  return undefined;
}

/**
 * Validate an update (`PUT /routes/:type/:id`) of `current`. As in Flynn, an update cannot
 * change the domain (a different domain is 404, the route is "not found") nor `drain_backends`
 * (the stored value is kept), and a TCP update needs a non-zero port. The id and `created_at`
 * are kept, `updated_at` is the clock. Every create rule then applies against the other routes.
 * If the claimed key changes, the store transaction deletes the old key and claims the new one.
 */
export function validateUpdate(
  input: unknown,
  current: Route,
  existing: RouteSet,
  opts: ValidateOptions = {},
): ValidateResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return invalid(undefined, 'route must be a JSON object');
  }
  const o: Obj = { ...(input as Obj), type: current.type, id: current.id };
  if (current.type === 'http') {
    if (typeof o.domain === 'string' && o.domain !== '' && o.domain.toLowerCase() !== current.domain) {
      return { error: { code: 'object_not_found', message: 'route not found', field: 'domain' } };
    }
    o.domain = current.domain;
  } else if (o.port === undefined || o.port === null || o.port === 0) {
    return invalid('port', 'a TCP route update needs a non-zero port');
  }
  o.drain_backends = current.drain_backends;
  const carry = current.type === 'http' ? carryManaged(o, current, opts.now ?? new Date()) : {};
  if (isErr(carry)) return carry;
  const others = [...existing].filter((r) => !(r.id === current.id && r.type === current.type));
  const res = validateRoute(o, others, opts);
  if (res.route) {
    res.route.created_at = current.created_at;
    if (res.route.type === 'http' && res.route.certificate)
      res.route.certificate.created_at = current.created_at;
    if (res.route.type === 'http') {
      if (carry.managed) res.route.managed_certificate = carry.managed;
      if (carry.certificate) res.route.certificate = carry.certificate;
      const placement = carry.managed ? managedPlacement(res.route, others) : undefined;
      if (placement) return { error: placement };
    }
  }
  return res;
}

/**
 * Is the submitted certificate (or tls_cert) an echo rather than a new one: absent, the route's
 * current one, or a copy a GET returned (with the `id` and `created_at` only the API sets), which
 * on a managed route may be the one a renewal replaced since that GET?
 */
function echoesCertificate(o: Obj, current: Certificate | undefined): boolean {
  const c = o.certificate;
  if (typeof o.tls_cert === 'string' && o.tls_cert !== '') return o.tls_cert.trim() === current?.cert;
  if (c === undefined || c === null) return true;
  if (typeof c !== 'object' || Array.isArray(c)) return false;
  const { id, cert, created_at } = c as Obj;
  if (typeof id === 'string' && id !== '' && typeof created_at === 'string') return true;
  if (!current) return false;
  if (typeof cert === 'string' && cert !== '') return cert.trim() === current.cert;
  return id === undefined || id === current.id;
}

/**
 * The managed part of an HTTP update, applied to the input `o` before the create rules run:
 * - not mentioned, or the same domain again (a client echoing the route): the state is kept;
 * - `{"renew": true}`: an issued certificate goes to `renewing` (the issuer orders a new one);
 * - `null`: the state is removed;
 * - another domain: a new `pending` state (validated as on create).
 * While the route is (or was, for `null`) managed, an update without a certificate of its own
 * (an echoed one is ignored) keeps the one the issuer installed: after `null` it stays attached
 * as a normal certificate, so the route keeps serving HTTPS until the user replaces or deletes it.
 * A new certificate is taken while nothing is issued (pending, failed: the issuer replaces it),
 * refused once the issuer's is installed.
 */
function carryManaged(
  o: Obj,
  current: HTTPRoute,
  now: Date,
): { managed?: ManagedCertificate; certificate?: Certificate } | { error: RouteError } {
  const cur = current.managed_certificate;
  if (!cur) return {};
  const input = o.managed_certificate;
  const sameCert = echoesCertificate(o, current.certificate);
  const out: { managed?: ManagedCertificate; certificate?: Certificate } = {};
  if (input === null) {
    o.managed_certificate = undefined;
  } else if (input === undefined || (typeof input === 'object' && !Array.isArray(input))) {
    const m = (input ?? {}) as Obj;
    const name = typeof m.domain === 'string' && m.domain !== '' ? m.domain.toLowerCase() : cur.domain;
    if (m.renew === true) {
      if (name !== cur.domain) return invalid(MANAGED_DOMAIN_FIELD, 'renew keeps the domain; give no other');
      if (cur.status !== 'issued' && cur.status !== 'renewing') {
        return invalid(
          'managed_certificate.renew',
          `only an issued certificate can be renewed (it is ${cur.status})`,
        );
      }
      out.managed = { ...cur, status: 'renewing', updated_at: goTime(now) };
      o.managed_certificate = undefined;
    } else if (name === cur.domain) {
      out.managed = cur;
      o.managed_certificate = undefined;
    }
    // out.managed unset: another name, a new pending state.
    if (!sameCert && out.managed && !managedAwaitsIssue(out.managed)) {
      return invalid(MANAGED_DOMAIN_FIELD, MANAGED_WITH_CERTIFICATE);
    }
  }
  if (sameCert) {
    o.certificate = undefined;
    o.tls_cert = undefined;
    o.tls_key = undefined;
  }
  if (sameCert && current.certificate) {
    // Carried as is: validateRoute would check it against the route's domain, which a name
    // under a route wildcard does not cover; it was checked when installed.
    out.certificate = { ...current.certificate };
    delete out.certificate.routes;
  }
  return out;
}

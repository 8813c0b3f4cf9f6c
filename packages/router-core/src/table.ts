import { claimedKeys } from './keys.js';
import type { HTTPRoute, Route, TCPRoute } from './types.js';

export interface RouteTableOptions {
  /** Listener ports served by `port: 0` routes (the first HTTP and first HTTPS port). Default [80, 443]. */
  defaultPorts?: readonly number[];
}

/** Flynn splits the host into at most this many dot-separated parts for wildcard lookups. */
const WILDCARD_PARTS = 5;

/** The `/`-terminated prefix of `p` holding at most `depth` segments (depth of `/a/b/` is 2). */
function truncateToDepth(p: string, depth: number): string {
  let idx = 0;
  for (let n = 0; n < depth; n++) {
    const next = p.indexOf('/', idx + 1);
    if (next < 0) return p;
    idx = next;
  }
  return p.slice(0, idx + 1);
}

function pathDepth(path: string): number {
  let n = 0;
  for (let i = 1; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

/** The routes of one `domain:port`, matched by the longest segment-wise path prefix. */
class HostEntry {
  readonly paths = new Map<string, HTTPRoute>();
  maxDepth = 0;

  set(route: HTTPRoute): void {
    this.paths.set(route.path, route);
    this.maxDepth = Math.max(this.maxDepth, pathDepth(route.path));
  }

  delete(path: string): void {
    this.paths.delete(path);
    let d = 0;
    for (const p of this.paths.keys()) d = Math.max(d, pathDepth(p));
    this.maxDepth = d;
  }

  match(rawPath: string): HTTPRoute | undefined {
    if (this.maxDepth === 0) return this.paths.get('/');
    let p = rawPath;
    const q = p.indexOf('?');
    if (q >= 0) p = p.slice(0, q);
    if (p.charCodeAt(0) !== 47) return this.paths.get('/');
    if (p.charCodeAt(p.length - 1) !== 47) p += '/';
    let cand = truncateToDepth(p, this.maxDepth);
    for (;;) {
      const r = this.paths.get(cand);
      if (r !== undefined || cand.length === 1) return r;
      cand = cand.slice(0, cand.lastIndexOf('/', cand.length - 2) + 1);
    }
  }
}

/** Lower-case a Host header value and strip its port (`[v6]:port` keeps the brackets). */
export function normaliseHost(host: string | undefined): string {
  if (!host) return '';
  let h = host;
  if (h.charCodeAt(0) === 91) {
    const end = h.indexOf(']');
    if (end > 0) h = h.slice(0, end + 1);
  } else {
    const colon = h.lastIndexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  return h.toLowerCase();
}

/**
 * The in-memory route table a router matches requests against (spec §2.6), updated in place
 * as routes are set and removed. Lookups cost a few Map probes: the exact `host:port`, at most
 * five wildcard keys, the catch-all, then at most one probe per path segment of the longest
 * route path in the domain.
 */
export class RouteTable {
  private readonly hosts = new Map<string, HostEntry>();
  private readonly byId = new Map<string, Route>();
  private readonly tcp = new Map<number, TCPRoute>();
  private readonly defaultPorts: readonly number[];
  private wildcards = 0;

  constructor(routes: Iterable<Route> = [], opts: RouteTableOptions = {}) {
    this.defaultPorts = opts.defaultPorts ?? [80, 443];
    for (const r of routes) this.add(r);
  }

  /** Number of routes (HTTP and TCP). */
  get size(): number {
    return this.byId.size;
  }

  /** Every route in the table. */
  routes(): Route[] {
    return [...this.byId.values()];
  }

  /** A route by id. */
  get(id: string): Route | undefined {
    return this.byId.get(id);
  }

  /**
   * Set a route: it replaces the route with the same id (wherever that one was) and any route
   * holding the same domain:port:path (HTTP) or port (TCP).
   */
  add(route: Route): void {
    const ident = identity(route);
    if (this.byId.has(ident)) this.remove(ident);
    if (route.type === 'tcp') {
      const old = this.tcp.get(route.port);
      if (old) this.byId.delete(identity(old));
      this.tcp.set(route.port, route);
    } else {
      const key = `${route.domain}:${route.port}`;
      let entry = this.hosts.get(key);
      if (!entry) {
        entry = new HostEntry();
        this.hosts.set(key, entry);
        if (route.domain.startsWith('*.')) this.wildcards++;
      }
      const old = entry.paths.get(route.path);
      if (old) this.byId.delete(identity(old));
      entry.set(route);
    }
    this.byId.set(ident, route);
  }

  /** Remove a route by id (or by the route itself). Returns whether it was there. */
  remove(routeOrId: Route | string): boolean {
    const ident = typeof routeOrId === 'string' ? routeOrId : identity(routeOrId);
    const route = this.byId.get(ident);
    if (!route) return false;
    this.byId.delete(ident);
    if (route.type === 'tcp') {
      this.tcp.delete(route.port);
      return true;
    }
    const key = `${route.domain}:${route.port}`;
    const entry = this.hosts.get(key);
    if (entry) {
      entry.delete(route.path);
      if (entry.paths.size === 0) {
        this.hosts.delete(key);
        if (route.domain.startsWith('*.')) this.wildcards--;
      }
    }
    return true;
  }

  /** The lookup port for a listener port: the default ports map to 0. */
  lookupPort(listenerPort: number): number {
    return this.defaultPorts.includes(listenerPort) ? 0 : listenerPort;
  }

  /**
   * The route for a request: `host` is the Host header (lower-cased and port-stripped here),
   * `port` the listener port. Order: exact `host:port`, then `*.suffix:port` from most to least
   * specific (Flynn splits the host into at most 5 parts, so the suffixes tried are the full
   * host and what follows each of its first four dots), then `*:port`; within the chosen domain
   * the longest segment-wise path prefix. No further fallback between domains: a domain whose
   * paths do not match gives undefined (404), as in Flynn.
   */
  match(host: string | undefined, port: number, path: string): HTTPRoute | undefined {
    const entry = this.findHost(normaliseHost(host), this.lookupPort(port));
    return entry?.match(path);
  }

  /** The TCP route on a port. */
  matchTCP(port: number): TCPRoute | undefined {
    return this.tcp.get(port);
  }

  private findHost(host: string, port: number): HostEntry | undefined {
    const suffix = `:${port}`;
    const exact = this.hosts.get(host + suffix);
    if (exact) return exact;
    if (this.wildcards > 0 && host.length > 0) {
      let e = this.hosts.get(`*.${host}${suffix}`);
      if (e) return e;
      let dot = -1;
      for (let i = 1; i < WILDCARD_PARTS; i++) {
        dot = host.indexOf('.', dot + 1);
        if (dot < 0) break;
        e = this.hosts.get(`*.${host.slice(dot + 1)}${suffix}`);
        if (e) return e;
      }
    }
    return this.hosts.get(`*${suffix}`);
  }
}

function identity(route: Route): string {
  return route.id || claimedKeys(route)[0];
}

import { claimedKeys, type HTTPRoute, type Route, RouteTable, type TCPRoute } from '@flynn-edge/router-core';
import type { ResolvedRoute, RouteResolver } from '@flynn-edge/router-proxy';
import type { CertificateMaterial, SniLookupResult } from '@flynn-edge/tls';
import type { ServiceBackends } from './service-backends.js';
import type { ServiceCache } from './service-cache.js';
import type { Backend, Logger } from './types.js';

// A process's view of the routes: the route table the proxy matches against, each route bound
// to the backend cache of its service, TCP routes handed to the TCP proxy, and the certificate
// each HTTPS server name gets. Routes arrive from the store watch (set/remove) and apply at once.

export interface TcpRoutes {
  setRoute(port: number, backends: () => readonly Backend[]): Promise<void>;
  removeRoute(port: number): Promise<void>;
}

class BoundHttpRoute implements ResolvedRoute {
  readonly material: CertificateMaterial | undefined;

  constructor(
    readonly route: HTTPRoute,
    readonly cache: ServiceCache,
  ) {
    const c = route.certificate;
    this.material = c?.cert && c.key ? { certPem: c.cert, keyPem: c.key } : undefined;
  }

  get backends(): readonly Backend[] {
    return this.route.leader ? this.cache.leaderOnly : this.cache.all;
  }
}

interface BoundTcpRoute {
  route: TCPRoute;
  cache: ServiceCache;
}

export interface RouteStateOptions {
  /** The first HTTP and first HTTPS port: `port: 0` routes are served there. */
  defaultPorts: readonly number[];
  backends: ServiceBackends;
  tcp?: TcpRoutes;
  log: Logger;
}

export class RouteState implements RouteResolver {
  readonly table: RouteTable;
  private readonly http = new Map<string, BoundHttpRoute>();
  private readonly tcpRoutes = new Map<string, BoundTcpRoute>();
  private readonly backends: ServiceBackends;
  private readonly tcp: TcpRoutes | undefined;
  private readonly log: Logger;

  constructor(opts: RouteStateOptions) {
    this.table = new RouteTable([], { defaultPorts: opts.defaultPorts });
    this.backends = opts.backends;
    this.tcp = opts.tcp;
    this.log = opts.log;
  }

  get size(): number {
    return this.table.size;
  }

  set(route: Route): void {
    const id = routeId(route);
    // Acquire before releasing the old version, so an update keeps its service watch open.
    const cache = this.backends.acquire(route.service);
    this.remove(route, id);
    if (route.type === 'http') {
      this.http.set(id, new BoundHttpRoute(route, cache));
      this.table.add(route);
      return;
    }
    this.tcpRoutes.set(id, { route, cache });
    this.table.add(route);
    const backends = () => (route.leader ? cache.leaderOnly : cache.all);
    this.tcp?.setRoute(route.port, backends).catch((err: Error) => {
      this.log.error({ port: route.port, err: err.message }, 'cannot serve TCP route');
    });
  }

  remove(route: Route, id = routeId(route)): void {
    const h = this.http.get(id);
    if (h) {
      this.http.delete(id);
      this.table.remove(id);
      this.backends.release(h.route.service);
    }
    const t = this.tcpRoutes.get(id);
    if (t) {
      this.tcpRoutes.delete(id);
      this.table.remove(id);
      this.backends.release(t.route.service);
      // Another route may already have taken the port over (an update that moved ports).
      if (this.table.matchTCP(t.route.port) === undefined) {
        this.tcp?.removeRoute(t.route.port).catch((err: Error) => {
          this.log.error({ port: t.route.port, err: err.message }, 'cannot release TCP route');
        });
      }
    }
  }

  resolve(host: string | undefined, listenerPort: number, path: string): ResolvedRoute | undefined {
    const r = this.table.match(host, listenerPort, path);
    return r === undefined ? undefined : this.http.get(routeId(r));
  }

  /** Certificate choice for a TLS server name on one listener (spec §2.7): route's, default, or refuse. */
  sniLookup(listenerPort: number): (servername: string) => SniLookupResult {
    return (servername) => {
      const r = this.table.match(servername, listenerPort, '/');
      if (r === undefined) return undefined;
      return this.http.get(routeId(r))?.material ?? 'default';
    };
  }

  /** Every route in the table. */
  routes(): Route[] {
    return this.table.routes();
  }
}

/** The key RouteTable files a route under, so that `table.remove` finds what `table.add` filed. */
function routeId(route: Route): string {
  return route.id || claimedKeys(route)[0];
}

import type { Route } from '@flynn-edge/router-core';

// The store's key layout (README.md has the full table). Route keys come from router-core
// (`routes/http/<domain>:<port><path>`, `routes/tcp/<port>`, `routes/tcp-used/<port>`); the rest
// are indexes and guards kept beside them. Only `routes/http/` and `routes/tcp/` hold routes, so
// a router watches `routes/` and ignores the `routes/tcp-used/` markers.

export const ROUTES_PREFIX = 'routes/';
const HTTP_PREFIX = 'routes/http/';
const TCP_PREFIX = 'routes/tcp/';

/** `route-ids/<type>/<id>` → the route's claimed key. */
export function routeIdKey(type: string, id: string): string {
  return `route-ids/${type}/${id}`;
}

/** `route-services/<service>` → {drain_backends, routes}: guards the per-service drain rule. */
export function serviceKey(service: string): string {
  return `route-services/${service}`;
}

/** `certificates/<id>` → the stored certificate (PEM, sha256, timestamps). */
export const CERTIFICATES_PREFIX = 'certificates/';
export function certificateKey(id: string): string {
  return `${CERTIFICATES_PREFIX}${id}`;
}

/** `certificate-sha256/<hex>` → certificate id: one certificate per chain. */
export function certificateShaKey(sha: string): string {
  return `certificate-sha256/${sha}`;
}

/** `certificate-routes/<cert id>/<route id>` → "": which routes use a certificate. */
export function certificateRoutesPrefix(certId: string): string {
  return `certificate-routes/${certId}/`;
}
export function certificateRouteKey(certId: string, routeId: string): string {
  return `${certificateRoutesPrefix(certId)}${routeId}`;
}

/** Does this key hold a route (rather than a port marker)? */
export function isRouteKey(key: string): boolean {
  return key.startsWith(HTTP_PREFIX) || key.startsWith(TCP_PREFIX);
}

/** A stored route value, or undefined when it cannot be one. */
export function parseRoute(value: string): Route | undefined {
  try {
    const r = JSON.parse(value) as Route;
    if (typeof r !== 'object' || r === null || (r.type !== 'http' && r.type !== 'tcp')) return undefined;
    return r;
  } catch {
    return undefined;
  }
}

/** Order `/` routes before their sub-paths (Flynn sorts by path.Join(domain, path)). */
export function routeOrder(a: Route, b: Route): number {
  const ka = a.type === 'http' ? `0${a.domain}:${a.port}${a.path}` : `1${a.port}`;
  const kb = b.type === 'http' ? `0${b.domain}:${b.port}${b.path}` : `1${b.port}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

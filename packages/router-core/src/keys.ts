import type { Route } from './types.js';

// Cluster-store keys for routes. A domain never holds '/' or ':' (validation refuses them) and
// ports are canonical decimal, so these keys are unambiguous and prefix-safe.

/** The key an HTTP route owns: `routes/http/<domain>:<port><path>` (path starts and ends with '/'). */
export function httpRouteKey(domain: string, port: number, path: string): string {
  return `routes/http/${domain}:${port}${path}`;
}

/** The key a TCP route owns: `routes/tcp/<port>`. */
export function tcpRouteKey(port: number): string {
  return `routes/tcp/${port}`;
}

/** Marker that a TCP port was used at least once (never deleted; feeds `allocatePort`). */
export function usedPortKey(port: number): string {
  return `routes/tcp-used/${port}`;
}

/** The prefix under which every HTTP route of one domain:port lives (its `/` route included). */
export function httpDomainPrefix(domain: string, port: number): string {
  return `routes/http/${domain}:${port}/`;
}

/**
 * The keys a (validated) route claims. A create transaction compares each of them `absent`
 * and puts them; a delete removes them. Two writers claiming one key cannot both win.
 */
export function claimedKeys(route: Route): string[] {
  return route.type === 'http'
    ? [httpRouteKey(route.domain, route.port, route.path)]
    : [tcpRouteKey(route.port)];
}

/**
 * The keys that must exist for the route to be created: the `/` route of the same domain:port
 * for an HTTP sub-path. A create transaction compares each `present` and re-puts it unchanged,
 * which bumps its mod_revision; a delete of that `/` route compares the mod_revision it read
 * when it saw no dependents, so a racing sub-path create makes the delete fail (and vice versa).
 */
export function requiredKeys(route: Route): string[] {
  if (route.type === 'http' && route.path !== '/') return [httpRouteKey(route.domain, route.port, '/')];
  return [];
}

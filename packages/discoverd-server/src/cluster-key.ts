import { HttpError, presentedKey, SecretKey } from '@flynn-edge/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';

// The cluster key (design.md, "Security"): when one is set, every request to the cluster store
// (/kv/, reads too: it holds TLS private keys) and every write or membership change outside
// Flynn's registry API (non-GET /raft/*, /shutdown) must present it. Flynn's registry API
// (/services/*) stays open for compatibility.
//
// The key travels in the Authorization header only, never in the URL (URLs end up in logs and
// in the Location of a 307): `Bearer <key>`, or HTTP basic auth with the key as the password
// (any user name), compared in constant time (service-kit's SecretKey).

export const CLUSTER_KEY_MISSING =
  'discoverd: this request needs the cluster key (Authorization: Bearer <key>)';
export const CLUSTER_KEY_WRONG = 'discoverd: invalid cluster key';

/** The challenge sent with every 401 (RFC 6750); no realm-specific parameters. */
const CHALLENGE = 'Bearer realm="discoverd"';

/** True for the paths the key guards, given a route pattern or a decoded request path. */
export function isGuardedPath(method: string, path: string): boolean {
  if (path === '/kv' || path.startsWith('/kv/')) return true;
  if (path === '/shutdown' || path.startsWith('/shutdown/')) return true;
  if (path.startsWith('/raft/') || path === '/raft') return method !== 'GET' && method !== 'HEAD';
  return false;
}

/**
 * Whether a request needs the key. Both the matched route pattern and the percent-decoded path
 * are checked: the router decodes `/%6Bv/x` into the `/kv/*` route, so the raw URL alone is not
 * enough.
 */
export function needsClusterKey(req: Pick<FastifyRequest, 'method' | 'url' | 'routeOptions'>): boolean {
  const route = req.routeOptions?.url;
  if (route !== undefined && isGuardedPath(req.method, route)) return true;
  const q = req.url.indexOf('?');
  const raw = q >= 0 ? req.url.slice(0, q) : req.url;
  let path = raw;
  try {
    path = decodeURIComponent(raw);
  } catch {
    // An undecodable path cannot match a route; check it as it is.
  }
  return isGuardedPath(req.method, path.replace(/\/{2,}/g, '/'));
}

export { presentedKey };

export class ClusterKey extends SecretKey {
  constructor(key: string) {
    if (key === '') throw new Error('the cluster key must not be empty');
    super(key);
  }

  /**
   * An onRequest hook: a guarded request without the right key fails with 401 `unauthorized`
   * in Flynn's envelope and a `WWW-Authenticate` challenge. Runs before any redirect, so a
   * follower checks the key too; the client re-sends the header to the leader.
   */
  hook() {
    return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
      if (!needsClusterKey(req)) return;
      const key = presentedKey(req.headers.authorization);
      if (this.matches(key)) return;
      reply.header('www-authenticate', CHALLENGE);
      throw new HttpError('unauthorized', key === undefined ? CLUSTER_KEY_MISSING : CLUSTER_KEY_WRONG);
    };
  }
}

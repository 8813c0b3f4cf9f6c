import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from '@flynn-edge/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';

// The cluster key (design.md, "Security"): when one is set, every request to the cluster store
// (/kv/, reads too: it holds TLS private keys) and every write or membership change outside
// Flynn's registry API (non-GET /raft/*, /shutdown) must present it. Flynn's registry API
// (/services/*) stays open for compatibility.
//
// The key travels in the Authorization header only, never in the URL (URLs end up in logs and
// in the Location of a 307): `Bearer <key>`, or HTTP basic auth with the key as the password
// (any user name). Comparison is constant-time over SHA-256 digests, so neither the content nor
// the length of the key leaks through timing.

export const CLUSTER_KEY_MISSING =
  'discoverd: this request needs the cluster key (Authorization: Bearer <key>)';
export const CLUSTER_KEY_WRONG = 'discoverd: invalid cluster key';

/** The challenge sent with every 401 (RFC 6750); no realm-specific parameters. */
const CHALLENGE = 'Bearer realm="discoverd"';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

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

/** The key a request presents: a bearer token, or the password of basic auth. */
export function presentedKey(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^\s*(\S+)\s+(.*?)\s*$/.exec(authorization);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  const value = m[2]!;
  if (scheme === 'bearer') return value === '' ? undefined : value;
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const password = decoded.slice(colon + 1);
    return password === '' ? undefined : password;
  }
  return undefined;
}

export class ClusterKey {
  private readonly expected: Buffer;

  constructor(key: string) {
    if (key === '') throw new Error('the cluster key must not be empty');
    this.expected = digest(key);
  }

  /** Constant-time check of a presented key (both sides are 32-byte digests). */
  matches(candidate: string | undefined): boolean {
    const got = digest(candidate ?? '');
    // Always run the comparison, even without a candidate, so timing does not tell them apart.
    const equal = timingSafeEqual(got, this.expected);
    return candidate !== undefined && equal;
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

import { isRedirectStatus, MAX_REDIRECT_HOPS, type PeerTrust } from '@flynn-edge/discoverd-state';
import type { FastifyReply, FastifyRequest } from 'fastify';

// Flynn's redirect rule (spec §1.2): the same path and query on the target host, with the port
// taken from the request's own Host header (every node listens on the same port), scheme http
// unless the request came over TLS.

export function redirectTarget(req: FastifyRequest, targetAddr: string): string {
  const targetHost = targetAddr.slice(0, targetAddr.lastIndexOf(':'));
  const hostHeader = req.headers.host ?? '';
  const colon = hostHeader.lastIndexOf(':');
  const port = colon > 0 && !hostHeader.endsWith(']') ? hostHeader.slice(colon + 1) : '';
  const scheme = (req.raw.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  return `${scheme}://${targetHost}${port ? `:${port}` : ''}${req.raw.url ?? '/'}`;
}

export function sendRedirect(reply: FastifyReply, req: FastifyRequest, targetAddr: string): FastifyReply {
  return reply.code(307).header('location', redirectTarget(req, targetAddr)).send();
}

export interface FollowOptions {
  method: string;
  /** Sent on every hop, except `authorization`, which goes only to trusted peers. */
  headers: Record<string, string>;
  body?: string | Uint8Array;
  trust: PeerTrust;
  signal?: AbortSignal;
}

/**
 * fetch with 307s followed by hand: `fetch`'s own `redirect: 'follow'` drops Authorization on a
 * cross-origin redirect, so a follower's 307 to the leader would cost the cluster key. The key is
 * re-sent only to peers `trust` knows (see PeerTrust). Resolves with the final answer; throws on
 * a network error, a bad Location or too many redirects.
 */
export async function fetchFollowing(url: string, opts: FollowOptions): Promise<Response> {
  const { trust } = opts;
  const withKey = opts.headers;
  const withoutKey = Object.fromEntries(
    Object.entries(withKey).filter(([k]) => k.toLowerCase() !== 'authorization'),
  );
  let target = url;
  let keepKey = trust.trusts(url);
  for (let hop = 0; hop <= MAX_REDIRECT_HOPS; hop++) {
    const response = await fetch(target, {
      method: opts.method,
      headers: keepKey ? withKey : withoutKey,
      body: opts.body,
      redirect: 'manual',
      signal: opts.signal,
    });
    trust.observe(target, response.headers.get('discoverd-peers'));
    const location = response.headers.get('location');
    if (!isRedirectStatus(response.status) || !location) return response;
    await response.body?.cancel().catch(() => {});
    const next = trust.redirect(target, location);
    if ('error' in next) throw new Error(`${opts.method} ${target}: ${next.error}`);
    target = next.url;
    keepKey = next.keepKey;
  }
  throw new Error(`${opts.method} ${url}: more than ${MAX_REDIRECT_HOPS} redirects`);
}

import type { DnsDataSource, DnsInstance } from '@flynn-edge/discoverd-dns';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendRedirect } from './redirect.js';

// Proxy mode (spec §1.1, §1.2): a host that is not a Raft member answers every HTTP request except
// promote, demote and shutdown with a 307 to a random peer (no Discoverd-* headers), and serves
// DNS from a peer's data over HTTP.

// /metrics too (not in Flynn): a scrape must see this process, not a peer.
const LOCAL_PATHS = ['/raft/promote', '/raft/demote', '/shutdown', '/metrics'];

export function isLocalOnlyPath(url: string): boolean {
  return LOCAL_PATHS.some((p) => url === p || url.startsWith(`${p}?`) || url.startsWith(`${p}/`));
}

export function pickPeer(peers: readonly string[], self: string, random = Math.random): string | undefined {
  const others = peers.filter((p) => p !== self);
  if (others.length === 0) return undefined;
  return others[Math.floor(random() * others.length)];
}

export function proxyRedirect(
  req: FastifyRequest,
  reply: FastifyReply,
  peers: readonly string[],
  self: string,
): boolean {
  const peer = pickPeer(peers, self);
  if (!peer) return false;
  sendRedirect(reply, req, peer);
  return true;
}

/** DNS answers taken from a random peer's HTTP API (GET …/instances and …/leader). */
export class PeerDnsSource implements DnsDataSource {
  constructor(
    private readonly peers: () => readonly string[],
    private readonly self: string,
    private readonly timeoutMs = 2000,
  ) {}

  async instances(service: string): Promise<DnsInstance[] | undefined> {
    const r = await this.get(`/services/${encodeURIComponent(service)}/instances`);
    if (r === 404) return undefined;
    return r as DnsInstance[];
  }

  async leader(service: string): Promise<DnsInstance | undefined> {
    const r = await this.get(`/services/${encodeURIComponent(service)}/leader`);
    if (r === 404) return undefined;
    return r as DnsInstance;
  }

  private async get(path: string): Promise<unknown> {
    const peer = pickPeer(this.peers(), this.self);
    if (!peer) throw new Error('no peer to ask');
    const res = await fetch(`http://${peer}${path}`, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (res.status === 404) return 404;
    if (!res.ok) throw new Error(`peer ${peer} answered ${res.status}`);
    return res.json();
  }
}

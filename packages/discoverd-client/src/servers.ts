// The peer-trust module alone: the CLI loads this file on its fast paths, not the state machine.
import { ORIGIN_PREFIX, PeerTrust } from '@flynn-edge/discoverd-state/peer-trust';
import type { HeaderReader } from './headers.js';

export { PeerTrust };

// The list of discoverd servers a client talks to: parsed from DISCOVERD, ordered per request
// (remembered leader first for writes, last good server first for reads), and refreshed from the
// Discoverd-Peers / Discoverd-Current-Peers headers that Flynn's Go client never managed to read.
// Only trusted servers (configured, or named as peers by a trusted server) enter the list or are
// remembered: the cluster key is sent to whatever the list puts first.

export const DEFAULT_SERVER = 'http://127.0.0.1:1111';

/** Methods that change state; they go to the remembered Raft leader first. */
const WRITE_METHODS: ReadonlySet<string> = new Set(['PUT', 'POST', 'DELETE', 'PATCH']);

/** `ip:port`, `host:port/` or `https://…` → an origin-like base URL without trailing slash. */
export function normalizeServer(entry: string): string {
  let s = entry.trim();
  // Flynn checks for an "http" prefix, so "https://" is kept as it is.
  if (!s.startsWith('http://') && !s.startsWith('https://')) s = `http://${s}`;
  while (s.endsWith('/')) s = s.slice(0, -1);
  return s;
}

/**
 * Flynn's reading of the `DISCOVERD` variable: a comma list; `none`, empty or unset means
 * `http://127.0.0.1:1111`; entries without an `http` scheme get `http://`; blank entries (the
 * bootstrap manifest leaves a trailing comma) are dropped. `entry` turns one entry into a URL
 * (the CLI's also adds the default port and refuses what cannot be an address).
 */
export function parseDiscoverdEnv(
  value: string | undefined,
  entry: (e: string) => string = normalizeServer,
): string[] {
  const v = (value ?? '').trim();
  if (v === '' || v === 'none') return [DEFAULT_SERVER];
  const list = v
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '' && e !== 'none')
    .map((e) => entry(e));
  return list.length > 0 ? [...new Set(list)] : [DEFAULT_SERVER];
}

/** The base URL (scheme://host:port) of an absolute URL. */
const originCache = new Map<string, string>();

export function originOf(url: string): string {
  // Asked on every request: parse each distinct scheme+authority once.
  const key = ORIGIN_PREFIX.exec(url)?.[0];
  const known = key === undefined ? undefined : originCache.get(key);
  if (known !== undefined) return known;
  const u = new URL(url);
  const origin = `${u.protocol}//${u.host}`;
  if (key !== undefined) {
    if (originCache.size >= 256) originCache.clear();
    originCache.set(key, origin);
  }
  return origin;
}

export class ServerList {
  private list: string[];
  private leaderUrl: string | undefined;
  private goodUrl: string | undefined;
  private peersHeader = '';
  /** Highest Discoverd-Index seen (the answering node's applied Raft index). */
  lastIndex = 0;
  /** Who may receive the cluster key. */
  readonly trust: PeerTrust;

  constructor(
    servers: readonly string[],
    private readonly followPeers = true,
  ) {
    const list = [...new Set(servers.map(normalizeServer).filter((s) => s !== 'http://'))];
    this.list = list.length > 0 ? list : [DEFAULT_SERVER];
    this.trust = new PeerTrust(this.list);
  }

  get servers(): readonly string[] {
    return this.list;
  }

  /** The remembered Raft leader (the last redirect target), if any. */
  get leader(): string | undefined {
    return this.leaderUrl;
  }

  /** The server that answered last. */
  get lastGood(): string | undefined {
    return this.goodUrl;
  }

  /** Servers in the order one request should try them. */
  order(method: string): string[] {
    const first = WRITE_METHODS.has(method.toUpperCase())
      ? [this.leaderUrl, this.goodUrl]
      : [this.goodUrl, this.leaderUrl];
    const out: string[] = [];
    for (const s of [...first, ...this.list]) if (s && !out.includes(s)) out.push(s);
    return out;
  }

  /** Remembers the Raft leader (a redirect target); ignored unless it is trusted. */
  setLeader(url: string): void {
    if (this.trust.trusts(url)) this.leaderUrl = normalizeServer(url);
  }

  /** Remembers the server that answered; ignored unless it is trusted. */
  markGood(url: string): void {
    if (this.trust.trusts(url)) this.goodUrl = normalizeServer(url);
  }

  /** A server failed at the network level: stop putting it first. */
  markFailed(url: string): void {
    const s = normalizeServer(url);
    if (this.leaderUrl === s) this.leaderUrl = undefined;
    if (this.goodUrl === s) this.goodUrl = undefined;
  }

  /**
   * Reads the peer headers of a peer-mode answer. A non-empty peer list replaces the server list
   * (scheme taken from the answering server); proxies send no header and change nothing.
   */
  observe(headers: HeaderReader, answeredBy: string): void {
    const index = Number(headers.get('discoverd-index') ?? headers.get('discoverd-current-index') ?? '');
    if (Number.isSafeInteger(index) && index > this.lastIndex) this.lastIndex = index;
    const header = headers.get('discoverd-peers') ?? headers.get('discoverd-current-peers');
    this.trust.observe(answeredBy, header);
    if (!this.followPeers || !this.trust.trusts(answeredBy)) return;
    if (!header || header === this.peersHeader) return;
    const scheme = answeredBy.startsWith('https://') ? 'https://' : 'http://';
    const peers = header
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => normalizeServer(/^https?:\/\//.test(p) ? p : `${scheme}${p}`));
    if (peers.length === 0) return;
    this.peersHeader = header;
    this.list = [...new Set(peers)];
  }
}

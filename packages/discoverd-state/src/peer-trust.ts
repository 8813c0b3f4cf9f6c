// Which hosts may receive the cluster key when a request is redirected (issue 11). `fetch` drops
// `Authorization` on a cross-origin redirect, so clients follow 307s themselves; this decides, hop
// by hop, whether the key goes along. Trusted: the servers the caller was configured with, and the
// peers that a trusted server names in its `Discoverd-Peers` header (every peer-mode answer,
// redirects included, carries it). A Location pointing anywhere else is still followed, without
// the key. Only http(s), and never from https down to http.

export const MAX_REDIRECT_HOPS = 10;

export type RedirectHop = { url: string; keepKey: boolean } | { error: string };

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

export function isRedirectStatus(status: number): boolean {
  return REDIRECT_STATUSES.has(status);
}

/** `host:port` of a URL or of a bare `host:port`, lowercase; undefined when it is neither. */
function hostOf(entry: string): string | undefined {
  try {
    const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? new URL(entry) : new URL(`http://${entry}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    // URL drops a scheme's default port; peers are always named with theirs.
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    return `${url.hostname.toLowerCase()}:${port}`;
  } catch {
    return undefined;
  }
}

/** The scheme and authority of an absolute URL: all that hostOf reads. */
export const ORIGIN_PREFIX = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;
/** Distinct origins remembered; a client talks to a handful of servers. */
const HOST_CACHE_LIMIT = 256;

export class PeerTrust {
  private readonly hosts = new Set<string>();
  /** hostOf by origin: every request asks, and URL parsing was a visible share of a client's CPU. */
  private readonly hostCache = new Map<string, string | undefined>();

  constructor(servers: Iterable<string> = []) {
    for (const s of servers) this.add(s);
  }

  /** Trusts a server (URL or `host:port`). */
  add(server: string): void {
    const h = this.hostOfOrigin(server.trim());
    if (h) this.hosts.add(h);
  }

  trusts(url: string): boolean {
    const h = this.hostOfOrigin(url);
    return h !== undefined && this.hosts.has(h);
  }

  private hostOfOrigin(url: string): string | undefined {
    const key = ORIGIN_PREFIX.exec(url)?.[0] ?? url;
    if (this.hostCache.has(key)) return this.hostCache.get(key);
    const h = hostOf(key);
    if (this.hostCache.size >= HOST_CACHE_LIMIT) this.hostCache.clear();
    this.hostCache.set(key, h);
    return h;
  }

  /** Reads an answer's `Discoverd-Peers`: a trusted server vouches for the peers it names. */
  observe(answeredUrl: string, peersHeader: string | null | undefined): void {
    if (!peersHeader || !this.trusts(answeredUrl)) return;
    for (const p of peersHeader.split(',')) if (p.trim()) this.add(p);
  }

  /**
   * The next hop of a redirect from `fromUrl` to `location`, and whether the key may go there;
   * an error for a Location that is not an http(s) URL.
   */
  redirect(fromUrl: string, location: string): RedirectHop {
    let next: URL;
    try {
      next = new URL(location, fromUrl);
    } catch {
      return { error: `invalid redirect Location ${JSON.stringify(location.slice(0, 200))}` };
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      return { error: `refusing to follow a redirect to ${next.protocol} (only http and https)` };
    }
    if (next.username || next.password) {
      return { error: 'refusing to follow a redirect to a URL with credentials' };
    }
    const downgrade = fromUrl.startsWith('https:') && next.protocol === 'http:';
    return { url: next.toString(), keepKey: !downgrade && this.trusts(next.toString()) };
  }
}

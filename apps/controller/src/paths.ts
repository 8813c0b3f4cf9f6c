// Where a gateway request goes, read from its path. The path after the prefix is kept exactly as
// the client sent it (encoded), and so is the query string.
//
//   /discoverd/<rest>                   → discoverd (any server; redirects followed to the leader)
//   /hosts/<host id>/<rest>             → the flynn-host API of that host
//   /services/<service>/<addr>/<rest>   → one registered instance of a service

export type Destination =
  | { kind: 'discoverd'; path: string }
  | { kind: 'host'; hostId: string; path: string }
  | { kind: 'service'; service: string; addr: string; path: string };

/** The gateway itself: a request for it through /services would loop. */
export const SELF_SERVICE = 'controller';

function decode(segment: string): string | undefined {
  try {
    const s = decodeURIComponent(segment);
    return s === '' || s.includes('/') ? undefined : s;
  } catch {
    return undefined;
  }
}

/**
 * The destination of a raw request URL (`/hosts/h1/jobs?x=1`), or undefined when the path names
 * none. The upstream path always starts with `/` and carries the query.
 */
export function parseDestination(rawUrl: string): Destination | undefined {
  const q = rawUrl.indexOf('?');
  const pathname = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const query = q < 0 ? '' : rawUrl.slice(q);
  const parts = pathname.split('/');
  // parts[0] is '' (the path starts with '/').
  if (parts[0] !== '') return undefined;
  const rest = (from: number) => `/${parts.slice(from).join('/')}${query}`;
  switch (parts[1]) {
    case 'discoverd':
      return parts.length >= 3 ? { kind: 'discoverd', path: rest(2) } : undefined;
    case 'hosts': {
      const hostId = decode(parts[2] ?? '');
      return hostId !== undefined && parts.length >= 4 ? { kind: 'host', hostId, path: rest(3) } : undefined;
    }
    case 'services': {
      const service = decode(parts[2] ?? '');
      const addr = decode(parts[3] ?? '');
      if (service === undefined || addr === undefined || parts.length < 5) return undefined;
      return { kind: 'service', service, addr, path: rest(4) };
    }
    default:
      return undefined;
  }
}

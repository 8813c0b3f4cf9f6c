// RFC 9112 §3.2.2: a request target in absolute-form (`http://a.test/x`) names the host itself,
// which replaces the Host header. Go's server does the same; a proxy that routed by Host would send
// the request to one app with another app's URL.

export type AbsoluteTarget = { host: string; path: string } | { error: string };

/** reg-name characters: unreserved, sub-delims (no ","), pct-encoding (RFC 3986 §3.2.2). */
const REG_NAME = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) REG_NAME[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) REG_NAME[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) REG_NAME[c] = 1;
for (const ch of "-._~!$&'()*+;=%") REG_NAME[ch.charCodeAt(0)] = 1;

const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*$/;
const IP_LITERAL = /^\[[0-9a-fA-F:.]+\]$/;

function validAuthority(a: string): boolean {
  let host = a;
  const bracket = a.lastIndexOf(']');
  const colon = a.lastIndexOf(':');
  if (colon > bracket) {
    const port = a.slice(colon + 1);
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return false;
    host = a.slice(0, colon);
  }
  if (host.length === 0) return false;
  if (host.charCodeAt(0) === 0x5b) return IP_LITERAL.test(host);
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c >= 128 || REG_NAME[c] === 0) return false;
  }
  return true;
}

/**
 * Splits an absolute-form target into its authority (the Host to route by and send) and the
 * origin-form path and query (`/` when empty). Returns null for any other form (origin, asterisk,
 * authority), an error for a scheme other than http(s), userinfo or an invalid authority.
 */
export function parseAbsoluteTarget(target: string): AbsoluteTarget | null {
  const sep = target.indexOf('://');
  if (sep <= 0 || !SCHEME.test(target.slice(0, sep))) return null;
  const scheme = target.slice(0, sep).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return { error: 'unsupported scheme in request target' };
  const start = sep + 3;
  let end = start;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 0x2f || c === 0x3f) break; // "/" or "?"
    end++;
  }
  const authority = target.slice(start, end);
  if (authority.includes('@')) return { error: 'userinfo in request target' };
  if (!validAuthority(authority)) return { error: 'invalid authority in request target' };
  const rest = target.slice(end);
  return { host: authority, path: rest === '' || rest.charCodeAt(0) === 0x3f ? `/${rest}` : rest };
}

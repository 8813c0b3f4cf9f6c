import { isDigits, type RequestHead, strEqLower } from '@flynn-edge/http1';

const K_PLAIN = 0;
const K_DROP = 1; // hop-by-hop, always dropped (Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade)
const K_CONNECTION = 2;
const K_LENGTH = 3;
const K_TE = 4;
const K_XFF = 5;
const K_XFP = 6;
const K_XFPORT = 7;
const K_SET = 8; // replaced by the proxy: X-Request-Start, X-Request-Id, Flynn-Router-Host

const KINDS: Record<string, number> = {
  'keep-alive': K_DROP,
  'proxy-connection': K_DROP,
  te: K_DROP,
  trailer: K_DROP,
  upgrade: K_DROP,
  connection: K_CONNECTION,
  'content-length': K_LENGTH,
  'transfer-encoding': K_TE,
  'x-forwarded-for': K_XFF,
  'x-forwarded-proto': K_XFP,
  'x-forwarded-port': K_XFPORT,
  'x-request-start': K_SET,
  'x-request-id': K_SET,
  'flynn-router-host': K_SET,
};

/** Kind of a header name, cached per (interned) name string. */
const cache = new Map<string, number>();
function kindOf(name: string): number {
  let k = cache.get(name);
  if (k === undefined) {
    k = KINDS[name.toLowerCase()] ?? K_PLAIN;
    if (cache.size > 4096) cache.clear();
    cache.set(name, k);
  }
  return k;
}

export interface ProxyFields {
  forwardedFor: string;
  forwardedProto: string;
  forwardedPort: string;
  requestStart: string;
  requestId: string;
  routerHost: string;
}

/**
 * The common case of the request rewrite, done on bytes: the request line and every kept field
 * line are copied from the client's head as they are; hop-by-hop lines and the lines the proxy
 * replaces are skipped; the forwarding fields (folded with the client's values) and the proxy's
 * fields are appended. Returns null when the head needs the general rewrite
 * (`rewriteRequestHead`): HTTP/1.0, leading empty lines, Connection naming other fields, folded
 * or repeated framing fields, or an upgrade.
 */
export function fastRewrite(
  raw: Buffer,
  start: number,
  end: number,
  head: RequestHead,
  f: ProxyFields,
): Buffer | null {
  if (head.versionMinor !== 1 || head.upgrade !== null || raw[start] === 13) return null;
  const hs = head.headers;
  let xff = '';
  let xfp = '';
  let xport = '';
  let lengths = 0;
  let simple = true; // no line to skip: copy the head in one piece
  for (let i = 0; i < hs.length; i++) {
    const k = kindOf(hs[i][0]);
    if (k === K_PLAIN) continue;
    const v = hs[i][1];
    switch (k) {
      case K_CONNECTION:
        if (!strEqLower(v, 'keep-alive') && !strEqLower(v, 'close')) return null;
        break;
      case K_LENGTH:
        if (++lengths > 1 || !isDigits(v)) return null;
        continue;
      case K_TE:
        if (!strEqLower(v, 'chunked')) return null;
        continue;
      case K_XFF:
        if (v !== '') xff = xff === '' ? v : `${xff}, ${v}`;
        break;
      case K_XFP:
        if (v !== '') xfp = xfp === '' ? v : `${xfp}, ${v}`;
        break;
      case K_XFPORT:
        if (v !== '') xport = xport === '' ? v : `${xport}, ${v}`;
        break;
    }
    simple = false;
  }
  const suffix =
    `X-Forwarded-For: ${xff === '' ? f.forwardedFor : `${xff}, ${f.forwardedFor}`}\r\n` +
    `X-Forwarded-Proto: ${xfp === '' ? f.forwardedProto : `${xfp}, ${f.forwardedProto}`}\r\n` +
    `X-Forwarded-Port: ${xport === '' ? f.forwardedPort : `${xport}, ${f.forwardedPort}`}\r\n` +
    `X-Request-Start: ${f.requestStart}\r\nX-Request-Id: ${f.requestId}\r\nFlynn-Router-Host: ${f.routerHost}\r\n\r\n`;
  const headEnd = end - 2; // drop the final empty line; the suffix ends the head
  if (simple) {
    const out = Buffer.allocUnsafe(headEnd - start + suffix.length);
    raw.copy(out, 0, start, headEnd);
    out.write(suffix, headEnd - start, 'latin1');
    return out;
  }
  // Copy runs of kept lines; line i+1 of the head is field i.
  const out = Buffer.allocUnsafe(headEnd - start + suffix.length);
  let pos = raw.indexOf(10, start) + 1; // past the request line
  let w = raw.copy(out, 0, start, pos);
  let runStart = pos;
  for (let i = 0; i < hs.length; i++) {
    const next = raw.indexOf(10, pos) + 1;
    const k = kindOf(hs[i][0]);
    if (k !== K_PLAIN && k !== K_LENGTH && k !== K_TE) {
      if (pos > runStart) w += raw.copy(out, w, runStart, pos);
      runStart = next;
    }
    pos = next;
  }
  if (pos > runStart) w += raw.copy(out, w, runStart, pos);
  w += out.write(suffix, w, 'latin1');
  return out.subarray(0, w);
}

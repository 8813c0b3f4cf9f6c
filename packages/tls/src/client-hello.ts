import type { Socket } from 'node:net';

// Reads a TLS ClientHello off a raw socket without consuming it, to learn whether the client
// named a server (SNI). SniTerminator needs that before the handshake starts: see there.

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const NAME_TYPE_HOST = 0;
/** Far above any real ClientHello (post-quantum key shares make them ~2 KiB), and bounded. */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

export type ClientHelloScan =
  /** More bytes are needed. */
  | { state: 'partial' }
  /** A complete ClientHello; `servername` is its SNI host name, if any. */
  | { state: 'done'; servername?: string }
  /** Not a TLS ClientHello (or too large): let the TLS stack answer it. */
  | { state: 'invalid' };

const PARTIAL: ClientHelloScan = { state: 'partial' };
const INVALID: ClientHelloScan = { state: 'invalid' };

/** Scans the bytes received so far (TLS records, possibly several) for a ClientHello. */
export function scanClientHello(buf: Buffer): ClientHelloScan {
  // Reassemble the handshake message from as many records as it spans.
  const parts: Buffer[] = [];
  let have = 0;
  let need = -1;
  let off = 0;
  while (need < 0 || have < need) {
    if (buf.length < off + 5)
      return buf.length - off > 0 && buf[off] !== RECORD_HANDSHAKE ? INVALID : PARTIAL;
    if (buf[off] !== RECORD_HANDSHAKE || buf[off + 1] !== 3) return INVALID;
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16_384 + 2048) return INVALID;
    const body = buf.subarray(off + 5, off + 5 + len);
    parts.push(body);
    have += body.length;
    if (need < 0 && have >= 4) {
      const head = Buffer.concat(parts).subarray(0, 4);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return INVALID;
      need = 4 + head.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO_BYTES) return INVALID;
    }
    if (need >= 0 && have >= need) break;
    if (body.length < len) return PARTIAL;
    off += 5 + len;
  }
  const msg = Buffer.concat(parts).subarray(4, need);
  const servername = serverNameOf(msg);
  return servername === null ? INVALID : { state: 'done', servername };
}

/** The SNI host name of a ClientHello body; undefined without one, null when malformed. */
function serverNameOf(m: Buffer): string | undefined | null {
  let p = 2 + 32; // legacy_version, random
  if (m.length < p + 1) return null;
  p += 1 + m[p]; // session id
  if (m.length < p + 2) return null;
  p += 2 + m.readUInt16BE(p); // cipher suites
  if (m.length < p + 1) return null;
  p += 1 + m[p]; // compression methods
  if (m.length === p) return undefined; // no extensions
  if (m.length < p + 2) return null;
  const end = p + 2 + m.readUInt16BE(p);
  if (end > m.length) return null;
  p += 2;
  while (p + 4 <= end) {
    const type = m.readUInt16BE(p);
    const len = m.readUInt16BE(p + 2);
    p += 4;
    if (p + len > end) return null;
    if (type === EXT_SERVER_NAME) return hostNameOf(m.subarray(p, p + len));
    p += len;
  }
  return undefined;
}

function hostNameOf(ext: Buffer): string | undefined | null {
  if (ext.length < 2) return null;
  const end = Math.min(ext.length, 2 + ext.readUInt16BE(0));
  let p = 2;
  while (p + 3 <= end) {
    const type = ext[p];
    const len = ext.readUInt16BE(p + 1);
    p += 3;
    if (p + len > end) return null;
    if (type === NAME_TYPE_HOST && len > 0) return ext.toString('latin1', p, p + len);
    p += len;
  }
  return undefined;
}

/**
 * Waits for a complete ClientHello on a fresh socket and puts the bytes back (unshift), so the
 * TLS stack reads them as if untouched. Resolves with the scan (`invalid` also when the peer sends
 * garbage or closes early); rejects only on timeout, leaving the socket to the caller.
 */
export function peekClientHello(socket: Socket, timeoutMs: number): Promise<ClientHelloScan> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (scan: ClientHelloScan | Error) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
      socket.pause();
      if (buf.length > 0) socket.unshift(buf);
      if (scan instanceof Error) reject(scan);
      else resolve(scan);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const scan = scanClientHello(buf);
      if (scan.state !== 'partial') finish(scan);
    };
    const onEnd = () => finish(INVALID);
    const timer = setTimeout(() => finish(new Error('timed out waiting for a TLS ClientHello')), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
    // A socket paused by an earlier reader (the PROXY protocol line) stays paused otherwise.
    socket.resume();
  });
}

import type { Socket } from 'node:net';

/** The longest PROXY v1 line, CRLF included (spec: 107 bytes). */
export const PROXY_V1_MAX = 107;

export interface ProxySource {
  address: string;
  port: number;
}

export type ProxyLineResult =
  | { done: false }
  | { done: true; source?: ProxySource; consumed: number }
  | { error: string };

const PREFIX = Buffer.from('PROXY ', 'latin1');

/** Parses a PROXY protocol v1 line at the start of `buf`. */
export function parseProxyLine(buf: Buffer): ProxyLineResult {
  const n = Math.min(buf.length, PREFIX.length);
  if (buf.compare(PREFIX, 0, n, 0, n) !== 0) return { error: 'missing PROXY line' };
  const lf = buf.indexOf(10);
  if (lf < 0) return buf.length >= PROXY_V1_MAX ? { error: 'PROXY line too long' } : { done: false };
  if (lf + 1 > PROXY_V1_MAX || buf[lf - 1] !== 13) return { error: 'invalid PROXY line' };
  const parts = buf.toString('latin1', 6, lf - 1).split(' ');
  if (parts[0] === 'UNKNOWN') return { done: true, consumed: lf + 1 };
  if (parts.length !== 5 || (parts[0] !== 'TCP4' && parts[0] !== 'TCP6'))
    return { error: 'invalid PROXY line' };
  const [, src, , sport, dport] = parts;
  const ipOk = parts[0] === 'TCP4' ? /^\d{1,3}(\.\d{1,3}){3}$/.test(src) : /^[0-9a-fA-F:.]+$/.test(src);
  const port = Number(sport);
  if (!ipOk || !/^\d{1,5}$/.test(sport) || port > 65535 || !/^\d{1,5}$/.test(dport)) {
    return { error: 'invalid PROXY line' };
  }
  return { done: true, source: { address: src, port }, consumed: lf + 1 };
}

/**
 * Reads the PROXY v1 line from a fresh socket (the TLS listener does this before the handshake).
 * Resolves with the source and the bytes read past the line (unshift them before TLS); rejects on
 * a bad or missing line, or when the socket ends first. The socket is left paused.
 */
export function readProxyProtocolV1(
  socket: Socket,
  timeoutMs = 60_000,
): Promise<{ source?: ProxySource; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error('PROXY line timeout')), timeoutMs);
    const finish = (err: Error | null, value?: { source?: ProxySource; rest: Buffer }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
      socket.pause();
      if (err) reject(err);
      else resolve(value!);
    };
    const onEnd = () => finish(new Error('connection ended before PROXY line'));
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyLine(buf);
      if ('error' in r) finish(new Error(r.error));
      else if (r.done) finish(null, { source: r.source, rest: buf.subarray(r.consumed) });
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
  });
}

// Backend dialing: shuffled order, one attempt per backend with a timeout, first success wins.

import { connect, type Socket } from 'node:net';
import type { RingReader } from './ring-reader.js';

export interface Backend {
  /** "ip:port" */
  addr: string;
}

/** Fisher–Yates on a copy, so each connection spreads over the backends independently. */
export function shuffled<T>(items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

export function splitAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(addr.slice(i + 1)) };
}

/**
 * One dial attempt; resolves with a connected socket or rejects on error or timeout. With a
 * `reader`, the socket's bytes go to it instead of 'data' events.
 */
export function dialOne(
  addr: string,
  timeoutMs: number,
  signal: AbortSignal,
  reader?: RingReader,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const { host, port } = splitAddr(addr);
    if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
      reject(new Error(`invalid backend address ${JSON.stringify(addr)}`));
      return;
    }
    const sock = connect({ host, port, allowHalfOpen: true, noDelay: true, onread: reader?.onread });
    reader?.bind(sock);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      sock.off('connect', onConnect);
      sock.off('error', onError);
      if (err) {
        sock.destroy();
        reject(err);
      } else resolve(sock);
    };
    const onConnect = (): void => done();
    const onError = (err: Error): void => done(err);
    const onAbort = (): void => done(new Error('dial aborted'));
    const timer = setTimeout(() => done(new Error(`dial ${addr}: timeout after ${timeoutMs} ms`)), timeoutMs);
    sock.once('connect', onConnect);
    sock.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

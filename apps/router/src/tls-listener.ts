import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import type { SniContextCache } from '@flynn-edge/tls';

// Terminates TLS on a raw accepted socket. The TLSSocket is built by hand rather than through
// tls.Server's 'connection' event so that a PROXY protocol header, read off the raw socket
// first, can travel with the connection to the proxy.

/** A handshake must finish within this (tls.Server's 120 s default is an fd-exhaustion lever). */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TlsTermination {
  sni: SniContextCache;
  onSecure(socket: tls.TLSSocket): void;
  onHandshakeError?(err: Error): void;
}

export function terminateTls(raw: Socket, t: TlsTermination): void {
  const ctx = t.sni.defaultContext;
  const s = new tls.TLSSocket(raw, {
    isServer: true,
    secureContext: ctx,
    SNICallback: t.sni.SNICallback,
    ALPNProtocols: t.sni.alpn,
  });
  const timer = setTimeout(() => s.destroy(), HANDSHAKE_TIMEOUT_MS);
  const onError = (err: Error) => {
    clearTimeout(timer);
    t.onHandshakeError?.(err);
    s.destroy();
  };
  s.once('error', onError);
  s.once('close', () => clearTimeout(timer));
  s.once('secure', () => {
    clearTimeout(timer);
    s.removeListener('error', onError);
    t.onSecure(s);
  });
}

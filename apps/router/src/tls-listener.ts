import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import type { SniContextCache } from '@flynn-edge/tls';

// Terminates TLS on raw sockets accepted by the (cluster-shared) HTTPS listeners. A tls.Server
// that never listens does the handshakes: sockets are handed to it with emit('connection').
// (A hand-built TLSSocket would do as well for HTTP/1.1, but node:http2 cannot take it over.)
// A PROXY protocol source, read off the raw socket before the handshake, is remembered by the
// connection's peer address and port, which the TLS socket shares.

/** A handshake must finish within this (tls.Server's 120 s default is an fd-exhaustion lever). */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TlsTerminatorOptions {
  sni: SniContextCache;
  onSecure(socket: tls.TLSSocket, clientAddress: string | undefined): void;
}

function peerKey(s: { remoteAddress?: string; remotePort?: number }): string {
  return `${s.remoteAddress}:${s.remotePort}`;
}

export class TlsTerminator {
  private readonly server: tls.Server;
  private readonly sources = new Map<string, string>();

  constructor(opts: TlsTerminatorOptions) {
    this.server = tls.createServer({ ...opts.sni.serverOptions(), handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
    this.server.on('secureConnection', (s: tls.TLSSocket) => {
      const key = peerKey(s);
      const source = this.sources.get(key);
      if (source !== undefined) this.sources.delete(key);
      opts.onSecure(s, source);
    });
    // Failed handshakes (unknown server name, timeouts, garbage) only cost that connection.
    this.server.on('tlsClientError', (_err, s) => s.destroy());
  }

  /** Start the handshake on a raw accepted socket; `clientAddress` comes from a PROXY line. */
  accept(raw: Socket, clientAddress?: string): void {
    if (clientAddress !== undefined) {
      const key = peerKey(raw);
      this.sources.set(key, clientAddress);
      raw.once('close', () => this.sources.delete(key));
    }
    this.server.emit('connection', raw);
  }
}

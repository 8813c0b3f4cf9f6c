import type { Socket } from 'node:net';
import type * as tls from 'node:tls';
import { type SniContextCache, SniTerminator } from '@flynn-edge/tls';

// Terminates TLS on raw sockets accepted by the (cluster-shared) HTTPS listeners, through
// @flynn-edge/tls's SniTerminator (which picks the certificate by SNI; see there for why it
// needs two tls.Servers). A PROXY protocol source, read off the raw socket before the handshake,
// is remembered by the connection's peer address and port, which the TLS socket shares.

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
  private readonly terminator: SniTerminator;
  private readonly sources = new Map<string, string>();

  constructor(opts: TlsTerminatorOptions) {
    this.terminator = new SniTerminator({
      sni: opts.sni,
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      onSecure: (s) => {
        const key = peerKey(s);
        const source = this.sources.get(key);
        if (source !== undefined) this.sources.delete(key);
        opts.onSecure(s, source);
      },
    });
  }

  /** Start the handshake on a raw accepted socket; `clientAddress` comes from a PROXY line. */
  accept(raw: Socket, clientAddress?: string): void {
    if (clientAddress !== undefined) {
      const key = peerKey(raw);
      this.sources.set(key, clientAddress);
      raw.once('close', () => this.sources.delete(key));
    }
    this.terminator.accept(raw);
  }
}

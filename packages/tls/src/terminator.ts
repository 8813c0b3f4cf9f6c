import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import { peekClientHello } from './client-hello.js';
import type { SniContextCache } from './sni.js';

// Terminates TLS on raw accepted sockets with the right certificate for every client.
//
// Node's SNICallback does not replace the server's certificate: it adds the SNI context's
// certificate beside it, in the slot of its key type. When the default certificate has another
// key type than a route's (ECDSA default, RSA route), OpenSSL picks between the two by the
// client's signature algorithms, and TLS 1.3 clients list ECDSA first: they got the default.
// So two tls.Servers that never listen do the handshakes: one without any certificate of its own
// for clients that send SNI (SNICallback's certificate is then the only one), and one with the
// default certificate for those that do not. A peek at the ClientHello picks the server.
// (Both take sockets through emit('connection'), which node:http2 can take over afterwards.)

export interface SniTerminatorOptions {
  sni: SniContextCache;
  /** ClientHello plus handshake must finish within this (tls.Server's 120 s is an fd-exhaustion lever). */
  handshakeTimeoutMs?: number;
  onSecure(socket: tls.TLSSocket): void;
}

export class SniTerminator {
  private readonly named: tls.Server;
  private readonly unnamed: tls.Server;
  private readonly timeoutMs: number;

  constructor(opts: SniTerminatorOptions) {
    this.timeoutMs = opts.handshakeTimeoutMs ?? 10_000;
    const base = { handshakeTimeout: this.timeoutMs };
    this.named = tls.createServer({ ...opts.sni.serverOptions({ defaultCertificate: false }), ...base });
    this.unnamed = tls.createServer({ ...opts.sni.serverOptions(), ...base });
    // One ticket key for both, so a session resumes whichever server the next hello goes to.
    this.named.setTicketKeys(this.unnamed.getTicketKeys());
    for (const server of [this.named, this.unnamed]) {
      server.on('secureConnection', (s: tls.TLSSocket) => opts.onSecure(s));
      // Failed handshakes (unknown server name, timeouts, garbage) only cost that connection.
      server.on('tlsClientError', (_err, s) => s.destroy());
    }
  }

  /** Start the handshake on a raw accepted socket (after any PROXY protocol line was read). */
  accept(raw: Socket): void {
    peekClientHello(raw, this.timeoutMs).then(
      (scan) => {
        if (raw.destroyed) return;
        const server = scan.state === 'done' && scan.servername ? this.named : this.unnamed;
        server.emit('connection', raw);
      },
      () => raw.destroy(),
    );
  }
}

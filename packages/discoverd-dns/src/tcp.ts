import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { PacketHandler } from './udp.js';

// TCP (RFC 1035 §4.2.2, RFC 7766): each message has a two-byte length prefix; a connection may
// carry several queries, answered as they complete. A malformed message (handler result null)
// closes the connection. Idle connections are closed after idleTimeoutMs.

/** Reading pauses while this many queries of one connection are being answered. */
const MAX_IN_FLIGHT = 64;

export interface TcpOptions {
  idleTimeoutMs: number;
  onError: (err: Error) => void;
}

export class TcpTransport {
  private readonly sockets = new Set<Socket>();
  private closed = false;

  private constructor(
    private readonly server: Server,
    private readonly handler: PacketHandler,
    private readonly opts: TcpOptions,
  ) {}

  static listen(host: string, port: number, handler: PacketHandler, opts: TcpOptions): Promise<TcpTransport> {
    const server = createServer();
    const t = new TcpTransport(server, handler, opts);
    server.on('connection', (sock) => t.onConnection(sock));
    return new Promise((resolve, reject) => {
      const onListenError = (err: Error) => {
        server.close();
        reject(err);
      };
      server.once('error', onListenError);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', onListenError);
        server.on('error', (err) => opts.onError(err));
        resolve(t);
      });
    });
  }

  private onConnection(sock: Socket): void {
    if (this.closed) {
      sock.destroy();
      return;
    }
    this.sockets.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(this.opts.idleTimeoutMs, () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => {
      // resets from clients are routine; 'close' follows
    });

    let pending: Buffer = Buffer.alloc(0);
    let inFlight = 0;
    sock.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const msg = Buffer.from(pending.subarray(2, 2 + len));
        pending = pending.subarray(2 + len);
        inFlight++;
        if (inFlight >= MAX_IN_FLIGHT) sock.pause();
        this.handler(msg, 'tcp').then(
          (reply) => {
            inFlight--;
            if (sock.destroyed) return;
            if (!reply) {
              sock.destroy();
              return;
            }
            const prefix = Buffer.alloc(2);
            prefix.writeUInt16BE(reply.length, 0);
            sock.write(Buffer.concat([prefix, reply]));
            if (sock.isPaused() && inFlight < MAX_IN_FLIGHT) sock.resume();
          },
          (err: Error) => {
            inFlight--;
            this.opts.onError(err);
            sock.destroy();
          },
        );
      }
    });
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

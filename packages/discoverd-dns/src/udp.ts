import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { isIPv6 } from 'node:net';

// UDP: one datagram in, at most one datagram out. A handler result of null means the packet was
// malformed and is dropped without a reply.

export type PacketHandler = (msg: Buffer, transport: 'udp' | 'tcp') => Promise<Buffer | null>;

export class UdpTransport {
  private closed = false;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly onError: (err: Error) => void,
  ) {}

  static listen(
    host: string,
    port: number,
    handler: PacketHandler,
    onError: (err: Error) => void,
  ): Promise<UdpTransport> {
    const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    const t = new UdpTransport(socket, onError);
    socket.on('message', (msg, rinfo) => t.onMessage(msg, rinfo, handler));
    return new Promise((resolve, reject) => {
      const onListenError = (err: Error) => {
        socket.close();
        reject(err);
      };
      socket.once('error', onListenError);
      socket.bind(port, host, () => {
        socket.off('error', onListenError);
        socket.on('error', (err) => onError(err));
        resolve(t);
      });
    });
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo, handler: PacketHandler): void {
    handler(msg, 'udp').then(
      (reply) => {
        if (!reply || this.closed) return;
        this.socket.send(reply, rinfo.port, rinfo.address, (err) => {
          if (err && !this.closed) this.onError(err);
        });
      },
      (err: Error) => this.onError(err),
    );
  }

  address(): AddressInfo {
    return this.socket.address();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

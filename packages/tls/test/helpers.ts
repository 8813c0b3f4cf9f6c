import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';

export interface HandshakeResult {
  ok: boolean;
  error?: string;
  fingerprint?: string;
  alpn?: string | false | null;
  protocol?: string | null;
}

export async function listen(options: tls.TlsOptions): Promise<{ server: tls.Server; port: number }> {
  const server = tls.createServer(options, (socket) => {
    socket.end('hello');
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

export function close(server: tls.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export function handshake(port: number, opts: tls.ConnectionOptions = {}): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
    const done = (r: HandshakeResult) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(5000, () => done({ ok: false, error: 'timeout' }));
    socket.once('secureConnect', () =>
      done({
        ok: true,
        fingerprint: socket.getPeerCertificate().fingerprint256,
        alpn: socket.alpnProtocol,
        protocol: socket.getProtocol(),
      }),
    );
    socket.once('error', (e) => done({ ok: false, error: e.message }));
    socket.once('close', () => done({ ok: false, error: 'closed' }));
  });
}

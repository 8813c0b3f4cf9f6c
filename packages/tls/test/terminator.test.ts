import { X509Certificate } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateSelfSigned,
  type PemPair,
  SniContextCache,
  SniTerminator,
  scanClientHello,
} from '../src/index.js';
import { handshake } from './helpers.js';

const fp = (p: PemPair) => new X509Certificate(p.certPem).fingerprint256;

/** The bytes a real Node client sends first (its ClientHello), captured by a raw server. */
async function captureClientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (scanClientHello(buf).state !== 'partial') {
          s.destroy();
          resolve(buf);
        }
      });
    });
  });
  const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

describe('scanClientHello', () => {
  it('finds the SNI name of a real ClientHello, byte by byte', async () => {
    const hello = await captureClientHello({ servername: 'Secure.Test' });
    for (let n = 0; n < hello.length; n++) {
      expect(scanClientHello(hello.subarray(0, n)).state).toBe('partial');
    }
    expect(scanClientHello(hello)).toEqual({ state: 'done', servername: 'Secure.Test' });
  });

  it('reports no name when the client sends none, and handshakes split over records', async () => {
    const hello = await captureClientHello({ servername: '' });
    expect(scanClientHello(hello)).toEqual({ state: 'done', servername: undefined });
    // The same ClientHello in two TLS records.
    const named = await captureClientHello({ servername: 'split.test' });
    const msg = named.subarray(5, 5 + named.readUInt16BE(3));
    const record = (b: Buffer) =>
      Buffer.concat([Buffer.from([0x16, 3, 1, b.length >> 8, b.length & 255]), b]);
    const two = Buffer.concat([record(msg.subarray(0, 10)), record(msg.subarray(10))]);
    expect(scanClientHello(two.subarray(0, 20)).state).toBe('partial');
    expect(scanClientHello(two)).toEqual({ state: 'done', servername: 'split.test' });
  });

  it('calls anything else invalid', () => {
    expect(scanClientHello(Buffer.from('GET / HTTP/1.1\r\n')).state).toBe('invalid');
    expect(scanClientHello(Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0])).state).toBe('invalid');
    expect(scanClientHello(Buffer.from([0x16, 3, 1, 0xff, 0xff])).state).toBe('invalid');
  });
});

describe('SniTerminator', () => {
  // The default's key type differs from each route's: the case where Node's SNICallback alone
  // served the default to TLS 1.3 (ECDSA default) or TLS 1.2 (RSA default) clients.
  const ecDefault = generateSelfSigned({ names: ['default.invalid'] });
  const rsaDefault = generateSelfSigned({ names: ['default.invalid'], keyType: 'rsa' });
  const rsaRoute = generateSelfSigned({ names: ['rsa.example'], keyType: 'rsa' });
  const ecRoute = generateSelfSigned({ names: ['ec.example'] });
  const servers: net.Server[] = [];

  async function serve(defaultPair: PemPair): Promise<number> {
    const sni = new SniContextCache({
      defaultContext: defaultPair,
      lookup: (n) => (n === 'rsa.example' ? rsaRoute : n === 'ec.example' ? ecRoute : undefined),
    });
    const t = new SniTerminator({ sni, onSecure: (s) => s.end('hello') });
    const server = net.createServer((raw) => t.accept(raw));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as net.AddressInfo).port;
  }

  let ports: { ec: number; rsa: number };
  beforeAll(async () => {
    ports = { ec: await serve(ecDefault), rsa: await serve(rsaDefault) };
  });
  afterAll(() => {
    for (const s of servers) s.close();
  });

  for (const def of ['ec', 'rsa'] as const) {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      it(`serves each route's certificate over ${version} with an ${def} default`, async () => {
        for (const [name, pair] of [
          ['rsa.example', rsaRoute],
          ['ec.example', ecRoute],
        ] as const) {
          const r = await handshake(ports[def], {
            servername: name,
            minVersion: version,
            maxVersion: version,
          });
          expect(r, name).toMatchObject({ ok: true, protocol: version, fingerprint: fp(pair) });
        }
        const none = await handshake(ports[def], { minVersion: version, maxVersion: version });
        expect(none).toMatchObject({ ok: true, fingerprint: fp(def === 'ec' ? ecDefault : rsaDefault) });
        expect((await handshake(ports[def], { servername: 'unknown.example' })).ok).toBe(false);
      });
    }
  }

  it('takes a socket an earlier reader left paused (as the PROXY protocol reader does)', async () => {
    const sni = new SniContextCache({ defaultContext: ecDefault, lookup: () => undefined });
    const t = new SniTerminator({ sni, onSecure: (s) => s.end('hello') });
    const server = net.createServer((raw) => {
      raw.pause();
      setTimeout(() => t.accept(raw), 50);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const r = await handshake((server.address() as net.AddressInfo).port);
    expect(r).toMatchObject({ ok: true, fingerprint: fp(ecDefault) });
  });

  it('closes a connection that never sends a ClientHello within the handshake timeout', async () => {
    const sni = new SniContextCache({ defaultContext: ecDefault, lookup: () => undefined });
    const t = new SniTerminator({ sni, handshakeTimeoutMs: 200, onSecure: (s) => s.end() });
    const server = net.createServer((raw) => t.accept(raw));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    c.on('error', () => {});
    const started = Date.now();
    await new Promise<void>((resolve) => c.once('close', () => resolve()));
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

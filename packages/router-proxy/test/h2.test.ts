import http2 from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import { waitFor } from '@flynn-edge/testkit';
import { generateSelfSigned } from '@flynn-edge/tls';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpProxy, StickyCodec } from '../src/index.js';
import { COOKIE_KEY, type Echo, route, startBackend, startStaleBackend, TestResolver } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function startH2Proxy() {
  const resolver = new TestResolver();
  const proxy = new HttpProxy({ resolver, cookieKey: COOKIE_KEY, hostName: 'router-1' });
  const pair = generateSelfSigned({ names: ['app.test'] });
  const server = tls.createServer(
    { cert: pair.certPem, key: pair.keyPem, ALPNProtocols: ['h2', 'http/1.1'] },
    (s) => {
      if (s.alpnProtocol === 'h2') proxy.handleHttp2(s, { listenerPort: 443, scheme: 'https' });
      else proxy.handleConnection(s, { listenerPort: 443, scheme: 'https' });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  cleanups.push(async () => {
    server.close();
    await proxy.close(500);
  });
  return { proxy, resolver, port };
}

function h2request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let out = '';
    let h: http2.IncomingHttpHeaders = {};
    req.on('response', (x) => {
      h = x;
    });
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      out += d;
    });
    req.on('end', () => resolve({ headers: h, body: out }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

describe('HTTP/2 bridge', () => {
  it('proxies h2 streams to HTTP/1.1 backends with the same headers and sticky rules', async () => {
    const p = await startH2Proxy();
    const b = await startBackend();
    cleanups.push(() => b.close());
    p.resolver.set('app.test', route({ sticky: true }), [{ addr: b.addr }]);
    const session = http2.connect(`https://127.0.0.1:${p.port}`, {
      rejectUnauthorized: false,
      servername: 'app.test',
    });
    cleanups.push(() => {
      session.destroy();
    });
    const r = await h2request(session, {
      ':path': '/h2?x=1',
      ':authority': 'app.test',
      'x-forwarded-for': '10.1.1.1',
    });
    expect(r.headers[':status']).toBe(200);
    const e = JSON.parse(r.body) as Echo;
    expect(e.url).toBe('/h2?x=1');
    expect(e.headers.host).toBe('app.test');
    expect(e.headers['x-forwarded-for']).toBe('10.1.1.1, 127.0.0.1');
    expect(e.headers['x-forwarded-proto']).toBe('https');
    expect(e.headers['x-forwarded-port']).toBe('443');
    expect(e.headers['flynn-router-host']).toBe('router-1');
    const cookie = String(r.headers['set-cookie']).split(';')[0].slice('_backend='.length);
    expect(new StickyCodec(COOKIE_KEY).decode(cookie)).toBe(b.addr);

    // Concurrent streams, with bodies (chunked towards the backend) and a cookie.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        h2request(
          session,
          { ':method': 'POST', ':path': `/p${i}`, ':authority': 'app.test', cookie: `_backend=${cookie}` },
          `body ${i}`,
        ),
      ),
    );
    results.forEach((res, i) => {
      expect(res.headers['set-cookie']).toBeUndefined();
      expect((JSON.parse(res.body) as Echo).body).toBe(`body ${i}`);
    });
    const missing = await h2request(session, { ':path': '/', ':authority': 'nope.test' });
    expect(missing.headers[':status']).toBe(404);
    expect(missing.body).toBe('Not Found\n');
    expect(b.connections()).toBeLessThanOrEqual(20);
  });

  it('de-chunks streamed responses and answers 503 without backends', async () => {
    const p = await startH2Proxy();
    const b = await startBackend((_req, res) => {
      res.write('part1 ');
      setTimeout(() => res.end('part2'), 10);
    });
    cleanups.push(() => b.close());
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    p.resolver.set('down.test', route(), []);
    const session = http2.connect(`https://127.0.0.1:${p.port}`, { rejectUnauthorized: false });
    cleanups.push(() => {
      session.destroy();
    });
    const r = await h2request(session, { ':path': '/', ':authority': 'app.test' });
    expect(r.body).toBe('part1 part2');
    expect(r.headers['transfer-encoding']).toBeUndefined();
    const down = await h2request(session, { ':path': '/', ':authority': 'down.test' });
    expect(down.headers[':status']).toBe(503);
    expect(down.body).toBe('Service Unavailable\n');
    await waitFor(() => p.proxy.inFlight(b.addr) === 0);
  });

  it('retries a bodiless GET once when a pooled connection turns out stale, like HTTP/1', async () => {
    const srv = await startStaleBackend();
    cleanups.push(() => srv.close());
    const addr = srv.addr;
    const p = await startH2Proxy();
    p.resolver.set('app.test', route(), [{ addr }]);
    const session = http2.connect(`https://127.0.0.1:${p.port}`, { rejectUnauthorized: false });
    cleanups.push(() => {
      session.destroy();
    });
    expect((await h2request(session, { ':path': '/', ':authority': 'app.test' })).body).toBe('ok');
    await waitFor(() => p.proxy.idleBackendConnections(addr) === 1);
    const r = await h2request(session, { ':path': '/', ':authority': 'app.test' });
    expect(r.headers[':status']).toBe(200);
    expect(r.body).toBe('ok');
    expect(srv.connections()).toBe(2);
  });
});

describe('HTTP/1.1 over TLS', () => {
  it('serves HTTP/1.1 on a TLS socket handed over by the app', async () => {
    const p = await startH2Proxy();
    const b = await startBackend();
    cleanups.push(() => b.close());
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const s = tls.connect({
      port: p.port,
      host: '127.0.0.1',
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    cleanups.push(() => {
      s.destroy();
    });
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
    });
    s.write('GET /tls HTTP/1.1\r\nHost: app.test\r\n\r\n');
    await waitFor(() => got.includes('"url":"/tls"'));
    expect(got).toMatch(/^HTTP\/1.1 200 OK/);
    expect(got).toContain('"x-forwarded-proto":"https"');
  });
});

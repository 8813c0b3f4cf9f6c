import { createServer, type Server } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBase, TestCluster } from './helpers.js';

// One router process with -workers 0 and the environment Flynn's router reads: PROXY protocol
// on HTTP and HTTPS, a custom 503 page, and an additional HTTP port.

const base = randomBase();
const PAGE = '<html><body>we will be right back</body></html>';
let page: Server;
let cluster: TestCluster;
const extraPort = base + 13;

beforeAll(async () => {
  page = createServer((_req, res) => res.end(PAGE));
  await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
  const pagePort = (page.address() as { port: number }).port;
  cluster = new TestCluster({
    base,
    workers: 0,
    firstHost: 31,
    routerEnv: {
      PROXY_PROTOCOL: 'true',
      ERROR_503_PAGE_URL: `http://127.0.0.1:${pagePort}/503.html`,
      ADDITIONAL_HTTP_PORTS: String(extraPort),
    },
  });
  await cluster.start();
}, 90_000);

afterAll(async () => {
  await cluster?.close();
  page?.close();
});

const ip = '127.0.0.31';

/** Raw request on a socket; resolves with everything read until the server closes. */
function exchange(sock: Socket, data: string): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    sock.on('data', (d) => {
      out += d;
    });
    sock.on('error', () => resolve(out));
    sock.on('close', () => resolve(out));
    sock.write(data);
  });
}

describe('router environment: PROXY protocol, 503 page, extra ports', { timeout: 30_000 }, () => {
  it('takes the client address from a PROXY v1 line on HTTP and closes connections without one', async () => {
    await cluster.backend('pp', (req, res) => res.end(`xff=${req.headers['x-forwarded-for']}`));
    expect(
      (await cluster.api('POST', '/routes', { type: 'http', service: 'pp', domain: 'pp.test' })).status,
    ).toBe(200);
    const port = cluster.routers[0].opts.httpPort;
    const answer = await waitFor(async () => {
      const out = await exchange(
        netConnect(port, ip),
        'PROXY TCP4 198.51.100.7 10.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: pp.test\r\nX-Forwarded-For: 10.1.1.1\r\nConnection: close\r\n\r\n',
      );
      return out.startsWith('HTTP/1.1 200') && out;
    });
    expect(answer).toContain('xff=10.1.1.1, 198.51.100.7');
    const refused = await exchange(netConnect(port, ip), 'GET / HTTP/1.1\r\nHost: pp.test\r\n\r\n');
    expect(refused).not.toMatch(/^HTTP\/1\.1 200/);
  });

  it('reads the PROXY line before the TLS handshake on HTTPS', async () => {
    const port = cluster.routers[0].opts.httpsPort;
    const raw = netConnect(port, ip);
    await new Promise((r) => raw.once('connect', r));
    raw.write('PROXY TCP4 203.0.113.9 10.0.0.1 40001 443\r\n');
    const tls = tlsConnect({ socket: raw, servername: 'pp.test', rejectUnauthorized: false });
    await new Promise((r) => tls.once('secureConnect', r));
    const out = await exchange(tls, 'GET / HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 200/);
    expect(out).toContain('xff=203.0.113.9');
  });

  it('serves the custom 503 page as HTML', async () => {
    expect(
      (await cluster.api('POST', '/routes', { type: 'http', service: 'none', domain: 'down.test' })).status,
    ).toBe(200);
    const port = cluster.routers[0].opts.httpPort;
    const out = await waitFor(async () => {
      const o = await exchange(
        netConnect(port, ip),
        'PROXY TCP4 198.51.100.7 10.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: down.test\r\nConnection: close\r\n\r\n',
      );
      return o.startsWith('HTTP/1.1 503') && o;
    });
    expect(out.toLowerCase()).toContain('content-type: text/html; charset=utf-8');
    expect(out.endsWith(PAGE)).toBe(true);
  });

  it('serves a route on an additional port only when the route names that port', async () => {
    await cluster.backend('extra', (_req, res) => res.end('extra'));
    const r = await cluster.api('POST', '/routes', {
      type: 'http',
      service: 'extra',
      domain: 'x.test',
      port: extraPort,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const send = (port: number) =>
      exchange(
        netConnect(port, ip),
        'PROXY TCP4 198.51.100.7 10.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n',
      );
    await waitFor(async () => (await send(extraPort)).startsWith('HTTP/1.1 200'));
    expect(await send(cluster.routers[0].opts.httpPort)).toMatch(/^HTTP\/1\.1 404/);
  });
});

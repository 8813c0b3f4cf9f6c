import net from 'node:net';
import { waitFor } from '@flynn-edge/testkit';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type AccessLogEntry, createProxyMetrics, readProxyProtocolV1, StickyCodec } from '../src/index.js';
import {
  COOKIE_KEY,
  deadAddr,
  get,
  json,
  type ProxyHandle,
  RawClient,
  route,
  startBackend,
  startProxy,
  startStaleBackend,
} from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function setup(
  opts: Parameters<typeof startProxy>[0] = {},
  info: Parameters<typeof startProxy>[1] = {},
) {
  const p = await startProxy(opts, info);
  cleanups.push(() => p.stop());
  return p;
}
async function backend(h?: Parameters<typeof startBackend>[0]) {
  const b = await startBackend(h);
  cleanups.push(() => b.close());
  return b;
}
function client(p: ProxyHandle) {
  const c = new RawClient(p.port);
  cleanups.push(() => c.destroy());
  return c;
}

describe('routing and headers', () => {
  it('proxies a GET with forwarding headers, request id and the receiving-host header', async () => {
    const p = await setup();
    const b = await backend();
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = client(p);
    const before = Date.now();
    c.write(
      get(
        'App.Test:8080',
        '/x?y=1',
        'X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\nX-Forwarded-Proto: https\r\nFlynn-Router-Host: evil\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n',
      ),
    );
    const r = await c.read();
    expect(r.status).toBe(200);
    const e = json(r);
    expect(e.url).toBe('/x?y=1');
    expect(e.headers.host).toBe('App.Test:8080');
    expect(e.headers['x-forwarded-for']).toBe('10.0.0.1, 10.0.0.2, 127.0.0.1');
    expect(e.headers['x-forwarded-proto']).toBe('https, http');
    expect(e.headers['x-forwarded-port']).toBe('8080');
    expect(e.headers['flynn-router-host']).toBe('router-1');
    const start = Number(e.headers['x-request-start']);
    expect(start).toBeGreaterThanOrEqual(before);
    expect(start).toBeLessThanOrEqual(Date.now());
    expect(e.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.headers['x-drop']).toBeUndefined();
    expect(e.headers['keep-alive']).toBeUndefined();
    expect(e.headers.te).toBeUndefined();
    expect(e.rawHeaders.filter((h) => h.toLowerCase() === 'x-forwarded-for')).toHaveLength(1);
  });

  it('keeps a valid X-Request-Id and replaces an invalid one', async () => {
    const p = await setup();
    const b = await backend();
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = client(p);
    const good = 'abcdefghij0123456789+/=-';
    c.write(get('app.test', '/', `X-Request-Id: ${good}\r\n`));
    expect(json(await c.read()).headers['x-request-id']).toBe(good);
    c.write(get('app.test', '/', 'X-Request-Id: short\r\n'));
    const id = json(await c.read()).headers['x-request-id'];
    expect(id).not.toBe('short');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('strips hop-by-hop response headers and forwards the rest', async () => {
    const p = await setup();
    const b = await backend((_req, res) => {
      res.setHeader('X-App', 'yes');
      res.setHeader('Keep-Alive', 'timeout=99');
      res.setHeader('Connection', 'keep-alive, X-Secret');
      res.setHeader('X-Secret', 'no');
      res.end('hi');
    });
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = client(p);
    c.write(get('app.test'));
    const r = await c.read();
    expect(r.body.toString()).toBe('hi');
    expect(r.headers['x-app']).toEqual(['yes']);
    expect(r.headers['keep-alive']).toBeUndefined();
    expect(r.headers['x-secret']).toBeUndefined();
    expect(r.headers.connection).toBeUndefined();
  });

  it('answers 404 for unknown hosts and keeps the connection', async () => {
    const p = await setup();
    const c = client(p);
    c.write(get('nowhere.test'));
    const r = await c.read();
    expect(r.status).toBe(404);
    expect(r.body.toString()).toBe('Not Found\n');
    expect(r.headers['content-length']).toEqual(['10']);
    c.write(get('nowhere.test'));
    expect((await c.read()).status).toBe(404);
  });

  it('answers 503 without backends, with the custom page when configured', async () => {
    const p = await setup();
    p.resolver.set('app.test', route(), []);
    const c = client(p);
    c.write(get('app.test'));
    const r = await c.read();
    expect(r.status).toBe(503);
    expect(r.body.toString()).toBe('Service Unavailable\n');

    const page = Buffer.from('<h1>down</h1>');
    const p2 = await setup({ error503Page: page });
    p2.resolver.set('app.test', route(), []);
    const c2 = client(p2);
    c2.write(get('app.test'));
    const r2 = await c2.read();
    expect(r2.status).toBe(503);
    expect(r2.headers['content-type']).toEqual(['text/html; charset=utf-8']);
    expect(r2.body.toString()).toBe('<h1>down</h1>');
  });

  it('redirects to https with 308 when the route asks for it', async () => {
    const p = await setup();
    p.resolver.set('app.test', route({ https_redirect: true }), []);
    const c = client(p);
    c.write(get('app.test:8080', '/a/b?c=d'));
    const r = await c.read();
    expect(r.status).toBe(308);
    expect(r.headers.location).toEqual(['https://app.test/a/b?c=d']);
  });

  it('does not redirect on https connections', async () => {
    const p = await setup({}, { scheme: 'https' });
    const b = await backend();
    p.resolver.set('app.test', route({ https_redirect: true }), [{ addr: b.addr }]);
    const c = client(p);
    c.write(get('app.test'));
    const r = await c.read();
    expect(r.status).toBe(200);
    expect(json(r).headers['x-forwarded-proto']).toBe('https');
  });
});

describe('local responder (ACME http-01)', () => {
  const PREFIX = '/.well-known/acme-challenge/';
  const responder = {
    prefix: PREFIX,
    answer: (host: string | undefined, target: string) =>
      host?.replace(/:\d+$/, '') === 'app.test' && target === `${PREFIX}known` ? 'known.keyauth' : undefined,
  };

  it('routes a token it does not know to the app, which may run its own http-01', async () => {
    const p = await setup({ localResponder: responder });
    const b = await backend();
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = client(p);
    c.write(get('app.test', `${PREFIX}x`));
    const r = await c.read();
    expect(r.status).toBe(200);
    expect(json(r).url).toBe(`${PREFIX}x`);
    // A known token on another host is not this host's answer either.
    p.resolver.set('other.test', route({ domain: 'other.test' }), [{ addr: b.addr }]);
    c.write(get('other.test', `${PREFIX}known`));
    expect(json(await c.read()).url).toBe(`${PREFIX}known`);
  });

  /** A client of a proxy with the responder, app.test redirecting HTTP to HTTPS. */
  async function redirecting() {
    const p = await setup({ localResponder: responder });
    p.resolver.set('app.test', route({ https_redirect: true }), []);
    return client(p);
  }

  it('redirects an unknown token on an https_redirect route, as any request', async () => {
    const c = await redirecting();
    c.write(get('app.test', `${PREFIX}x`));
    const r = await c.read();
    expect(r.status).toBe(308);
    expect(r.headers.location).toEqual([`https://app.test${PREFIX}x`]);
  });

  it('answers a known token 200 over plain HTTP on an https_redirect route; HEAD without a body', async () => {
    const c = await redirecting();
    c.write(get('app.test:8080', `${PREFIX}known`));
    const r = await c.read();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('known.keyauth');
    c.write(`HEAD ${PREFIX}known HTTP/1.1\r\nHost: app.test\r\n\r\n`);
    const h = await c.read('HEAD');
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toEqual([String('known.keyauth'.length)]);
    expect(h.body.length).toBe(0);
    // The keep-alive connection is intact: nothing was left after the HEAD's head.
    c.write(get('app.test', `${PREFIX}known`));
    expect((await c.read()).body.toString()).toBe('known.keyauth');
  });
});

describe('bodies and framing', () => {
  it('forwards Content-Length and chunked request bodies untouched', async () => {
    const p = await setup();
    const b = await backend();
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = client(p);
    c.write('POST /p HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhel');
    setTimeout(() => c.write('lo'), 20);
    expect(json(await c.read()).body).toBe('hello');
    c.write(
      'POST /p HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n',
    );
    const e = json(await c.read());
    expect(e.body).toBe('abcde');
    expect(e.headers['transfer-encoding']).toBe('chunked');
  });

  it('frames HEAD, 204 and 304 responses without a body', async () => {
    const p = await setup();
    const b = await backend((req, res) => {
      if (req.url === '/204') res.writeHead(204).end();
      else if (req.url === '/304') res.writeHead(304, { ETag: '"x"' }).end();
      else res.writeHead(200, { 'Content-Length': '5' }).end(req.method === 'HEAD' ? undefined : 'hello');
    });
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = client(p);
    c.write('HEAD / HTTP/1.1\r\nHost: app.test\r\n\r\n');
    const h = await c.read('HEAD');
    expect(h.headers['content-length']).toEqual(['5']);
    expect(h.body.length).toBe(0);
    c.write(get('app.test', '/204'));
    expect((await c.read()).status).toBe(204);
    c.write(get('app.test', '/304'));
    expect((await c.read()).status).toBe(304);
    c.write(get('app.test', '/'));
    expect((await c.read()).body.toString()).toBe('hello');
  });

  it('relays 100-continue interim responses', async () => {
    const p = await setup();
    const b = await backend();
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = client(p);
    c.write('POST / HTTP/1.1\r\nHost: app.test\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n');
    const interim = await c.read('POST', 5000, true);
    expect(interim.status).toBe(100);
    c.write('abc');
    expect(json(await c.read('POST')).body).toBe('abc');
  });

  it('relays a read-until-close response and then closes the client', async () => {
    const p = await setup();
    const srv = net.createServer((s) => {
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\n\r\nuntil close'));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
    p.resolver.set('app.test', route(), [{ addr: `127.0.0.1:${(srv.address() as net.AddressInfo).port}` }]);
    const c = client(p);
    c.write(get('app.test'));
    const r = await c.read();
    expect(r.body.toString()).toBe('until close');
    expect(r.headers.connection).toEqual(['close']);
    await c.waitClosed();
  });
});

describe('backend connections', () => {
  it('reuses pooled keep-alive backend connections', async () => {
    const p = await setup();
    const b = await backend();
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    for (let i = 0; i < 3; i++) {
      const c = client(p);
      for (let k = 0; k < 3; k++) {
        c.write(get('app.test'));
        expect((await c.read()).status).toBe(200);
      }
      c.destroy();
    }
    expect(b.connections()).toBe(1);
  });

  it('does not reuse backend connections when disable_keep_alives is set', async () => {
    const p = await setup();
    const b = await backend();
    p.resolver.set('app.test', route({ disable_keep_alives: true }), [{ addr: b.addr }]);
    const c = client(p);
    for (let k = 0; k < 3; k++) {
      c.write(get('app.test'));
      expect(json(await c.read()).headers.connection).toBe('close');
    }
    expect(b.connections()).toBe(3);
  });

  it('retries dial errors on other backends, at most 4 attempts', async () => {
    const dead = await Promise.all([1, 2, 3, 4, 5].map(() => deadAddr()));
    const registry = new Registry();
    const metrics = createProxyMetrics(registry);
    const p = await setup({ metrics });
    const b = await backend();
    p.resolver.set('app.test', route(), [...dead.slice(0, 3).map((addr) => ({ addr })), { addr: b.addr }]);
    const c = client(p);
    for (let i = 0; i < 5; i++) {
      c.write(get('app.test'));
      expect((await c.read()).status).toBe(200);
    }
    expect(
      (await registry.getSingleMetric('flynn_router_backend_dial_failures_total')!.get()).values[0].value,
    ).toBeGreaterThan(0);
    // Five dead backends: four attempts, then 503.
    p.resolver.set(
      'app.test',
      route(),
      dead.map((addr) => ({ addr })),
    );
    const before = (await registry.getSingleMetric('flynn_router_backend_dial_failures_total')!.get())
      .values[0].value;
    c.write(get('app.test'));
    expect((await c.read()).status).toBe(503);
    const after = (await registry.getSingleMetric('flynn_router_backend_dial_failures_total')!.get())
      .values[0].value;
    expect(after - before).toBeLessThanOrEqual(4);
  });

  it('quarantines a backend after 3 consecutive dial failures', async () => {
    const dead = await deadAddr();
    const registry = new Registry();
    const metrics = createProxyMetrics(registry);
    const p = await setup({ metrics, timeouts: { quarantineMs: 60_000 } });
    const b = await backend();
    p.resolver.set('app.test', route(), [{ addr: dead }]);
    const c = client(p);
    for (let i = 0; i < 3; i++) {
      c.write(get('app.test'));
      expect((await c.read()).status).toBe(503);
    }
    expect(p.proxy.pool.isQuarantined(dead)).toBe(true);
    expect((await registry.getSingleMetric('flynn_router_quarantined_backends')!.get()).values[0].value).toBe(
      1,
    );
    const failures = (await registry.getSingleMetric('flynn_router_backend_dial_failures_total')!.get())
      .values[0].value;
    p.resolver.set('app.test', route(), [{ addr: dead }, { addr: b.addr }]);
    for (let i = 0; i < 10; i++) {
      c.write(get('app.test'));
      expect((await c.read()).status).toBe(200);
    }
    expect(
      (await registry.getSingleMetric('flynn_router_backend_dial_failures_total')!.get()).values[0].value,
    ).toBe(failures);
  });

  it('retries a bodiless GET once when a pooled connection turns out stale', async () => {
    const p = await setup();
    const srv = await startStaleBackend();
    cleanups.push(() => srv.close());
    const addr = srv.addr;
    p.resolver.set('app.test', route(), [{ addr }]);
    const c = client(p);
    c.write(get('app.test'));
    expect((await c.read()).status).toBe(200);
    await waitFor(() => p.proxy.idleBackendConnections(addr) === 1);
    c.write(get('app.test'));
    const r = await c.read();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('ok');
    expect(srv.connections()).toBe(2);
    // A POST is not retried: 503.
    c.write('POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1\r\n\r\nx');
    expect((await c.read('POST')).status).toBe(503);
  });

  it('answers 503 when the backend resets after the request was sent', async () => {
    const p = await setup();
    const srv = net.createServer((s) => s.once('data', () => s.destroy()));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
    p.resolver.set('app.test', route(), [{ addr: `127.0.0.1:${(srv.address() as net.AddressInfo).port}` }]);
    const c = client(p);
    c.write('POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1\r\n\r\nx');
    expect((await c.read('POST')).status).toBe(503);
  });

  it('answers 504 after the response header timeout', async () => {
    const p = await setup({ timeouts: { responseHeaderMs: 200 } });
    const srv = net.createServer(() => {});
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      srv.close();
    });
    p.resolver.set('app.test', route(), [{ addr: `127.0.0.1:${(srv.address() as net.AddressInfo).port}` }]);
    const c = client(p);
    c.write(get('app.test'));
    expect((await c.read()).status).toBe(504);
    expect(p.proxy.inFlight(`127.0.0.1:${(srv.address() as net.AddressInfo).port}`)).toBe(0);
  });
});

describe('sticky sessions', () => {
  it('sets the _backend cookie only when the backend changes and honours it', async () => {
    const p = await setup();
    const b1 = await backend();
    const b2 = await backend();
    p.resolver.set('app.test', route({ sticky: true }), [{ addr: b1.addr }, { addr: b2.addr }]);
    const c = client(p);
    c.write(get('app.test'));
    const r = await c.read();
    const set = r.headers['set-cookie'][0];
    expect(set).toMatch(/^_backend=[A-Za-z0-9+/=]+; Path=\/$/);
    const cookie = set.split(';')[0].slice('_backend='.length);
    const codec = new StickyCodec(COOKIE_KEY);
    const first = json(r).port;
    expect(codec.decode(cookie)).toBe(`127.0.0.1:${first}`);
    for (let i = 0; i < 10; i++) {
      c.write(get('app.test', '/', `Cookie: a=b; _backend=${cookie}\r\n`));
      const again = await c.read();
      expect(json(again).port).toBe(first);
      expect(again.headers['set-cookie']).toBeUndefined();
    }
    // An invalid cookie is ignored and replaced.
    c.write(get('app.test', '/', 'Cookie: _backend=bm9wZQ==\r\n'));
    expect((await c.read()).headers['set-cookie']).toHaveLength(1);
  });

  it('moves to another backend when the sticky one is gone', async () => {
    const p = await setup();
    const b2 = await backend();
    const codec = new StickyCodec(COOKIE_KEY);
    const gone = await deadAddr();
    p.resolver.set('app.test', route({ sticky: true }), [{ addr: b2.addr }]);
    const c = client(p);
    c.write(get('app.test', '/', `Cookie: _backend=${codec.encode(gone)}\r\n`));
    const r = await c.read();
    expect(json(r).port).toBe(b2.port);
    expect(codec.decode(r.headers['set-cookie'][0].split(';')[0].slice(9))).toBe(b2.addr);
  });
});

describe('client connection handling', () => {
  it('closes idle keep-alive connections and slow heads', async () => {
    const p = await setup({ timeouts: { idleMs: 200, headerMs: 300 } });
    const b = await backend();
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = client(p);
    c.write(get('app.test'));
    await c.read();
    await c.waitClosed(3000);
    const slow = client(p);
    slow.write('GET / HTTP/1.1\r\nHost: app');
    const t0 = Date.now();
    await slow.waitClosed(3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('at maxConnections evicts the oldest connection without a request in flight', async () => {
    const registry = new Registry();
    const metrics = createProxyMetrics(registry);
    const p = await setup({ maxConnections: 2, metrics });
    const b = await backend();
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const a = client(p);
    await a.connected;
    const idle = client(p);
    idle.write(get('app.test'));
    await idle.read();
    await waitFor(() => p.proxy.openConnections === 2);
    const c = client(p);
    c.write(get('app.test'));
    expect((await c.read()).status).toBe(200);
    await a.waitClosed(); // silent since its accept: the oldest waiting
    const d = client(p);
    d.write(get('app.test'));
    expect((await d.read()).status).toBe(200);
    await idle.waitClosed(); // idle between requests since before c's request
    const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0].value;
    expect(await value('flynn_router_evicted_connections_total')).toBe(2);
    expect(await value('flynn_router_rejected_connections_total')).toBe(0);
  });

  it('at maxConnections destroys a new connection when every one has a request in flight', async () => {
    const registry = new Registry();
    const metrics = createProxyMetrics(registry);
    const p = await setup({ maxConnections: 2, metrics });
    const b = await backend(() => {}); // never answers
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const busy = [client(p), client(p)];
    for (const c of busy) c.write(get('app.test'));
    await waitFor(() => b.connections() === 2);
    const c = client(p);
    await c.waitClosed();
    expect(c.rest().length).toBe(0);
    expect(busy.every((x) => !x.closed)).toBe(true);
    expect(
      (await registry.getSingleMetric('flynn_router_rejected_connections_total')!.get()).values[0].value,
    ).toBe(1);
  });

  it('bounds a connection that sends nothing by the header timeout from its accept', async () => {
    const p = await setup({ timeouts: { headerMs: 300 } });
    const t0 = Date.now();
    const silent = client(p);
    await silent.waitClosed(3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    // A TLS connection passes its accept time: the handshake counts against the same budget.
    const late = await startProxy({ timeouts: { headerMs: 300 } }, { acceptedAt: Date.now() - 250 });
    cleanups.push(() => late.stop());
    const t1 = Date.now();
    const c = client(late);
    await c.waitClosed(3000);
    expect(Date.now() - t1).toBeLessThan(250);
  });

  it('routes an absolute-form target by its authority and sends origin-form with that Host', async () => {
    const a = await backend();
    const b = await backend();
    const p = await setup();
    p.resolver.set('a.test', route({ domain: 'a.test' }), [{ addr: a.addr }]);
    p.resolver.set('b.test', route({ domain: 'b.test' }), [{ addr: b.addr }]);
    const c = client(p);
    c.write('GET http://a.test:81?x=1 HTTP/1.1\r\nHost: b.test\r\n\r\n');
    const e = json(await c.read());
    expect(e.port).toBe(a.port);
    expect(e.url).toBe('/?x=1');
    expect(e.headers.host).toBe('a.test:81');
    c.write('GET http://u@a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n');
    expect((await c.read()).status).toBe(400);
  });

  it('uses the PROXY protocol source address and rejects a missing PROXY line', async () => {
    const p = await setup({ proxyProtocol: true });
    const b = await backend();
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = client(p);
    c.write(`PROXY TCP4 203.0.113.7 10.0.0.1 5555 80\r\n${get('app.test')}`);
    expect(json(await c.read()).headers['x-forwarded-for']).toBe('203.0.113.7');
    const bad = client(p);
    bad.write(get('app.test'));
    await bad.waitClosed();
    expect(bad.rest().length).toBe(0);
  });

  it('writes access log entries and metrics with bounded route labels', async () => {
    const entries: AccessLogEntry[] = [];
    const registry = new Registry();
    const metrics = createProxyMetrics(registry);
    const p = await setup({ accessLog: (e) => entries.push(e), metrics });
    const b = await backend();
    p.resolver.set('app.test', route(), [{ addr: b.addr, jobId: 'job-1', app: 'web' }]);
    const c = client(p);
    c.write(get('app.test', '/hello'));
    await c.read();
    c.write(get('other.test'));
    await c.read();
    await waitFor(() => entries.length === 2);
    expect(entries[0]).toMatchObject({
      status: 200,
      path: '/hello',
      method: 'GET',
      addr: b.addr,
      'job.id': 'job-1',
      route: 'app.test/',
    });
    expect(entries[1]).toMatchObject({ status: 404, route: '_none' });
    const text = await registry.metrics();
    expect(text).toContain('flynn_router_requests_total{route="app.test/",status_class="2xx"} 1');
    expect(text).toContain('flynn_router_requests_total{route="_none",status_class="4xx"} 1');
    expect(text).toContain('flynn_router_request_duration_seconds_count{status_class="2xx"} 1');
    for (let i = 0; i < 1005; i++) metrics.observe(`d${i}.test/`, 200, 0.001);
    const series = (await registry.getSingleMetric('flynn_router_requests_total')!.get()).values;
    expect(new Set(series.map((v) => v.labels.route)).size).toBeLessThanOrEqual(1001);
    expect(series.some((v) => v.labels.route === '_other')).toBe(true);
  });

  it('records 499 when the client goes away before the response', async () => {
    const entries: AccessLogEntry[] = [];
    const p = await setup({ accessLog: (e) => entries.push(e) });
    let release: () => void = () => {};
    const b = await backend((_req, res) => {
      release = () => res.end('late');
    });
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = client(p);
    c.write(get('app.test'));
    await waitFor(() => p.proxy.inFlight(b.addr) === 1);
    c.destroy();
    await waitFor(() => entries.length === 1);
    expect(entries[0].status).toBe(499);
    expect(p.proxy.inFlight(b.addr)).toBe(0);
    release();
  });
});

describe('HTTP/1.0 clients and PROXY protocol helper', () => {
  it('keeps HTTP/1.0 keep-alive connections and de-chunks chunked responses for them', async () => {
    const p = await setup();
    const b = await backend((req, res) => {
      if (req.url === '/chunked') {
        res.write('abc');
        setTimeout(() => res.end('def'), 10);
      } else res.end('plain');
    });
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = client(p);
    c.write('GET / HTTP/1.0\r\nHost: app.test\r\nConnection: keep-alive\r\n\r\n');
    const r = await c.read();
    expect(r.body.toString()).toBe('plain');
    expect(r.headers.connection).toEqual(['keep-alive']);
    c.write('GET /chunked HTTP/1.0\r\nHost: app.test\r\nConnection: keep-alive\r\n\r\n');
    const r2 = await c.read();
    expect(r2.headers['transfer-encoding']).toBeUndefined();
    expect(r2.headers.connection).toEqual(['close']);
    expect(r2.body.toString()).toBe('abcdef');
    await c.waitClosed();
  });

  it('readProxyProtocolV1 returns the source and the bytes after the line', async () => {
    type Got = { source?: { address: string; port: number }; rest: Buffer } | Error;
    const got: Promise<Got>[] = [];
    const srv = net.createServer((s) => {
      got.push(readProxyProtocolV1(s).catch((e: Error) => e));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
    const port = (srv.address() as net.AddressInfo).port;
    const a = net.connect(port, '127.0.0.1');
    a.write('PROXY TCP4 198.51.100.1 10.0.0.1 40000 443\r\n\x16\x03\x01');
    await waitFor(() => got.length === 1);
    const r = await got[0];
    if (r instanceof Error) throw r;
    expect(r.source).toEqual({ address: '198.51.100.1', port: 40000 });
    expect([...r.rest]).toEqual([0x16, 0x03, 0x01]);
    const bad = net.connect(port, '127.0.0.1');
    bad.write('GET / HTTP/1.1\r\n\r\n');
    await waitFor(() => got.length === 2);
    expect(String(await got[1])).toMatch(/PROXY/);
    a.destroy();
    bad.destroy();
  });
});

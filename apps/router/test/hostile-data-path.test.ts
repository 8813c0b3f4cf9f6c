import { randomBytes } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type Answer, get, TestCluster } from './helpers.js';
import { RawBackend, RawConn } from './hostile-helpers.js';

// Hostile input on the router's data path (issue 11), against a real router process with one
// worker: silent connections at the connection cap, bytes pipelined behind an upgrade request,
// absolute-form request targets, and a backend that never answers.

const CAP = 50;
const HEADER_TIMEOUT_MS = 4000;
const cluster = new TestCluster({
  workers: 1,
  firstHost: 71,
  routerArgs: [
    '-max-conns',
    String(CAP),
    '-header-timeout',
    `${HEADER_TIMEOUT_MS / 1000}s`,
    '-response-header-timeout',
    '1s',
  ],
});
const ip = '127.0.0.71';
const raws: RawBackend[] = [];
const conns: RawConn[] = [];

function httpPort(): number {
  return cluster.routers[0].opts.httpPort;
}

function open(port = httpPort()): RawConn {
  const c = new RawConn(port, ip);
  conns.push(c);
  return c;
}

async function raw(name: string, mode: 'go200' | 'switch101' | 'silent'): Promise<RawBackend> {
  const b = await new RawBackend(name, mode).start(cluster, name);
  raws.push(b);
  return b;
}

async function route(service: string, domain: string): Promise<void> {
  const r = await cluster.api('POST', '/routes', { type: 'http', service, domain });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

async function served(host: string, path = '/'): Promise<Answer> {
  return waitFor(
    async () => {
      const r = await get(`${cluster.httpUrl()}${path}`, host);
      return r.status === 200 && r;
    },
    { timeoutMs: 10_000, what: `${host} served` },
  );
}

/** A well-behaved client on a fresh connection: one request, `Connection: close`. */
async function wellBehaved(host = 'web.test'): Promise<{ status: number; ms: number }> {
  const t0 = Date.now();
  const c = open();
  c.write(`GET /ok HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  await c.waitClosed(5000);
  return { status: c.responses()[0]?.status ?? 0, ms: Date.now() - t0 };
}

beforeAll(async () => {
  await cluster.start();
  await cluster.backend('web');
  await route('web', 'web.test');
  await served('web.test');
}, 90_000);

afterEach(() => {
  for (const c of conns.splice(0)) c.destroy();
});

afterAll(async () => {
  for (const b of raws) await b.close();
  await cluster.close();
}, 30_000);

describe('hostile clients on the router data path', { timeout: 40_000 }, () => {
  it('evicts the oldest silent connections at the cap; requests in flight are never evicted', async () => {
    let release = () => {};
    const released = new Promise<void>((r) => {
      release = r;
    });
    const held = await cluster.backend('held', (req, res) => {
      if (req.url === '/probe') res.end('probe');
      else void released.then(() => res.end('held done'));
    });
    await route('held', 'held.test');
    await served('held.test', '/probe');
    const probes = held.requests;
    const inFlight = Array.from({ length: 5 }, () => {
      const c = open();
      c.write('GET /slow HTTP/1.1\r\nHost: held.test\r\n\r\n');
      return c;
    });
    await waitFor(() => held.requests >= probes + 5, { what: '5 requests in flight' });

    const silent = Array.from({ length: 2 * CAP }, () => open());
    await Promise.all(silent.map((c) => c.connected));
    // The router closes about CAP of them (at the cap), whichever ones it chooses.
    await waitFor(() => silent.filter((c) => c.closed).length >= CAP, {
      timeoutMs: 3000,
      what: 'the router to shed silent connections',
    });
    const ok = await wellBehaved();
    expect(ok.status, 'a well-behaved client gets in past 2x the cap of silent sockets').toBe(200);
    expect(ok.ms).toBeLessThan(2000);
    // The oldest silent connections went first; the newest are still open.
    expect(silent[0].closed).toBe(true);
    expect(silent[silent.length - 1].closed).toBe(false);

    release();
    await waitFor(() => inFlight.every((c) => c.responses().length === 1), { what: 'held responses' });
    expect(inFlight.map((c) => c.responses()[0].status)).toEqual([200, 200, 200, 200, 200]);
    for (const c of silent) c.destroy();

    const metrics = await fetch(`${cluster.routers[0].apiUrl}/metrics`).then((r) => r.text());
    const m = /^flynn_router_evicted_connections_total (\d+)/m.exec(metrics);
    expect(Number(m?.[1] ?? 0)).toBeGreaterThanOrEqual(CAP);
    expect((await wellBehaved()).status).toBe(200);
  });

  it('closes connections that send nothing after the header timeout, on HTTP and HTTPS', async () => {
    const httpsPort = cluster.routers[0].opts.httpsPort;
    const plain = [open(), open()];
    const partial = open();
    partial.write('GET / HTTP/1.1\r\nHost: web.te');
    const tlsRaw = open(httpsPort); // never sends a ClientHello
    const tls = tlsConnect({ host: ip, port: httpsPort, servername: 'web.test', rejectUnauthorized: false });
    const tlsConn = new RawConn(0, ip, tls);
    conns.push(tlsConn);
    await new Promise<void>((r) => tls.once('secureConnect', () => r()));
    const all = [...plain, partial, tlsRaw, tlsConn];
    await Promise.all(all.map((c) => c.waitClosed(HEADER_TIMEOUT_MS + 3000)));
    for (const c of all) {
      expect(c.closed, 'closed by the header timeout').toBe(true);
      const held = c.closedAt - c.openedAt;
      expect(held).toBeGreaterThanOrEqual(HEADER_TIMEOUT_MS - 600);
      expect(held).toBeLessThan(HEADER_TIMEOUT_MS + 2500);
    }
    expect((await wellBehaved()).status).toBe(200);
  });

  it('holds the bytes after an upgrade request until the backend answers 101', async () => {
    const up = await raw('goup', 'go200');
    await route('goup', 'up.test');
    const other = await cluster.backend('other', (req, res) => {
      res.end(
        JSON.stringify({
          url: req.url,
          host: req.headers.host,
          xff: req.headers['x-forwarded-for'],
          routerHost: req.headers['flynn-router-host'],
        }),
      );
    });
    await route('other', 'other.test');
    await served('other.test');
    await served('up.test');
    const upgrades = [
      'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
      'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n',
    ];
    for (const [i, upgrade] of upgrades.entries()) {
      const before = other.requests;
      const c = open();
      const second = `/second-${i}`;
      c.write(
        `GET /up HTTP/1.1\r\nHost: up.test\r\n${upgrade}\r\n` +
          `GET ${second} HTTP/1.1\r\nHost: other.test\r\nX-Forwarded-For: 6.6.6.6\r\n` +
          'Flynn-Router-Host: forged\r\n\r\n',
      );
      await waitFor(() => c.responses().length >= 2 || c.closed, { timeoutMs: 5000, what: 'two answers' });
      expect(up.saw(`GET ${second}`), 'the upgrade backend never sees the pipelined request').toBe(false);
      const [first, next] = c.responses();
      expect(first.status).toBe(200);
      expect(first.body).toBe('goup GET /up HTTP/1.1');
      expect(next?.status, 'the held request is routed by the router').toBe(200);
      expect(JSON.parse(next.body)).toEqual({
        url: second,
        host: 'other.test',
        xff: '6.6.6.6, 127.0.0.1',
        routerHost: 'host-1',
      });
      expect(other.requests).toBe(before + 1);
      c.destroy();
    }
    expect((await wellBehaved()).status).toBe(200);
  });

  it('still splices the bytes after an upgrade request once the backend answers 101', async () => {
    const ws = await raw('ws101', 'switch101');
    await route('ws101', 'ws.test');
    const upgraded = await waitFor(
      async () => {
        const c = open();
        c.write(
          'GET /ws HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframe-sent-early',
        );
        const done = () =>
          c.data.startsWith('HTTP/1.1 404') || c.after101() === 'frame-sent-early' || c.closed;
        await waitFor(done, { timeoutMs: 3000 });
        if (c.after101() === 'frame-sent-early') return c;
        c.destroy(); // the route is not in the table yet
        return false;
      },
      { what: 'an upgraded connection' },
    );
    upgraded.write('frame-sent-later');
    await waitFor(() => upgraded.after101() === 'frame-sent-earlyframe-sent-later', { timeoutMs: 3000 });
    const seen = ws.received[ws.received.length - 1];
    expect(seen.endsWith('\r\n\r\nframe-sent-earlyframe-sent-later')).toBe(true);
    expect(seen).toContain('Flynn-Router-Host: host-1\r\n');
    expect((await wellBehaved()).status).toBe(200);
  });

  it('refuses CONNECT itself, so a backend that answers 2xx to anything never becomes a tunnel', async () => {
    const any = await raw('anyok', 'go200');
    await route('anyok', 'connect.test');
    await served('connect.test');
    for (const target of ['connect.test:443', 'other.test:80']) {
      const c = open();
      c.write(
        `CONNECT ${target} HTTP/1.1\r\nHost: connect.test\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      await c.waitClosed(5000);
      expect(c.responses()[0]?.status).toBe(405);
      expect(c.responses()).toHaveLength(1);
    }
    expect(any.saw('CONNECT'), 'the backend never sees a CONNECT').toBe(false);
    expect(any.saw('/smuggled')).toBe(false);
    expect((await wellBehaved()).status).toBe(200);
  });

  it('routes an absolute-form request by its authority and sends origin-form', async () => {
    const a = await raw('abs-a', 'go200');
    const b = await raw('abs-b', 'go200');
    await route('abs-a', 'a.test');
    await route('abs-b', 'b.test');
    await served('a.test');
    await served('b.test');
    const send = async (target: string) => {
      const c = open();
      c.write(`GET ${target} HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n`);
      await c.waitClosed(5000);
      return c.responses()[0];
    };
    const cases: [string, string, string][] = [
      ['http://a.test/x?y=1', 'GET /x?y=1 HTTP/1.1', 'a.test'],
      ['http://a.test', 'GET / HTTP/1.1', 'a.test'],
      ['http://a.test?q=2', 'GET /?q=2 HTTP/1.1', 'a.test'],
      ['HTTPS://A.test:8080/p', 'GET /p HTTP/1.1', 'A.test:8080'],
      ['hTTp://a.test/', 'GET / HTTP/1.1', 'a.test'],
    ];
    for (const [target, line, host] of cases) {
      const bHeads = b.heads.length;
      const r = await send(target);
      expect(r?.status, target).toBe(200);
      expect(r.body, target).toBe(`abs-a ${line}`);
      const head = a.heads[a.heads.length - 1];
      expect(head.startsWith(`${line}\r\n`), head).toBe(true);
      expect(head.match(/^host:.*$/gim), head).toEqual([`Host: ${host}`]);
      expect(b.heads.length, 'b.test (the Host header) is not used').toBe(bHeads);
    }
    for (const bad of [
      'http://user:pw@a.test/',
      'http://@a.test/',
      'http:///x',
      'http://a^b/x',
      'http://a.test:8x/',
      'http://a.test:99999/',
      'ftp://a.test/x',
    ]) {
      const r = await send(bad);
      expect(r?.status, bad).toBe(400);
    }
    expect((await wellBehaved()).status).toBe(200);
  });

  it('answers 504 when a backend accepts and never answers (-response-header-timeout 1s)', async () => {
    await raw('hang', 'silent');
    await route('hang', 'hang.test');
    await cluster.backend('slowok', (_req, res) => {
      setTimeout(() => res.end('slow but fine'), 400);
    });
    await route('slowok', 'slowok.test');
    await served('slowok.test');
    const r = await waitFor(
      async () => {
        const t0 = Date.now();
        const x = await get(cluster.httpUrl(), 'hang.test');
        return x.status !== 404 && { ...x, ms: Date.now() - t0 };
      },
      { what: 'hang.test routed' },
    );
    expect(r.status).toBe(504);
    expect(r.text).toBe('Gateway Timeout\n');
    expect(r.ms).toBeGreaterThanOrEqual(900);
    expect(r.ms).toBeLessThan(3000);
    const slow = await get(cluster.httpUrl(), 'slowok.test');
    expect(slow.status).toBe(200);
    expect(slow.text).toBe('slow but fine');
    expect((await wellBehaved()).status).toBe(200);
  });

  it('parses -response-header-timeout like the other duration flags', () => {
    const env = { COOKIE_KEY: randomBytes(32).toString('base64') };
    expect(loadConfig([], env, 1).responseHeaderTimeoutMs).toBe(600_000);
    expect(loadConfig(['-response-header-timeout', '1m30s'], env, 1).responseHeaderTimeoutMs).toBe(90_000);
    expect(() => loadConfig(['-response-header-timeout', '0s'], env, 1)).toThrow(/positive/);
    expect(() => loadConfig(['-header-timeout', '10x'], env, 1)).toThrow();
  });
});

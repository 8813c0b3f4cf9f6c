import { InProcessDiscoverd } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { createLogger } from '@flynn-edge/service-kit';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatusServer } from '../src/server.js';

// The fastify wiring in-process, against a real single-node discoverd: only the discoverd check
// runs (the others are disabled), so the cluster is healthy.

const KEY = 'srv-key';
const discoverd = new InProcessDiscoverd();
let server: StatusServer;

beforeAll(async () => {
  await discoverd.start();
  server = new StatusServer({
    host: '127.0.0.77',
    port: 0,
    discoverd: [discoverd.url],
    authKey: KEY,
    hostId: 'h7',
    advertise: '127.0.0.77:1115',
    disabled: ['flynn-host', 'logaggregator', 'router'],
    version: 'v-test',
    logger: createLogger({ component: 'status', level: 'silent' }),
  });
  await server.start();
});

afterAll(async () => {
  await server.close();
  await discoverd.close();
});

const inject = (opts: Parameters<StatusServer['app']['inject']>[0]) => server.app.inject(opts);

describe('the status process wiring', () => {
  it('is ready once discoverd answers and a first round is done; /livez always 200, empty', async () => {
    await waitFor(async () => (await inject({ url: '/readyz' })).statusCode === 200, { what: 'ready' });
    const live = await inject({ url: '/livez' });
    expect(live.statusCode).toBe(200);
    expect(live.body).toBe('');
  });

  it('answers the status on every path and method, ignoring bodies', async () => {
    for (const [method, url] of [
      ['GET', '/'],
      ['GET', '/.well-known/status'],
      ['GET', '/some/where?x=1'],
      ['POST', '/'],
      ['DELETE', '/x'],
    ] as const) {
      const r = await inject({ method, url, payload: method === 'POST' ? '{not json' : undefined });
      expect(r.statusCode, `${method} ${url}`).toBe(200);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.body).toMatch(
        /^\{\n {2}"data": \{\n {4}"status": "healthy",\n {4}"detail": \{\n {6}"discoverd": \{/,
      );
      expect(r.body.endsWith('"version": "v-test"\n  }\n}\n')).toBe(true);
    }
    const head = await inject({ method: 'HEAD', url: '/' });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
  });

  it('a public client needs the key (also for /metrics); /livez and /readyz stay open', async () => {
    const pub = { remoteAddress: '198.18.0.1' };
    const denied = await inject({ url: '/', ...pub });
    expect(denied.statusCode).toBe(401);
    expect(denied.body).toBe('');
    expect((await inject({ url: `/?key=${KEY}`, ...pub })).statusCode).toBe(200);
    expect((await inject({ url: '/metrics', ...pub })).statusCode).toBe(401);
    expect((await inject({ url: `/metrics?key=${KEY}`, ...pub })).statusCode).toBe(200);
    expect((await inject({ url: '/livez', ...pub })).statusCode).toBe(200);
    const pre = await inject({ method: 'OPTIONS', url: '/', headers: { origin: 'https://a.test' }, ...pub });
    expect(pre.statusCode).toBe(200);
    expect(pre.headers['access-control-allow-origin']).toBe('https://a.test');
    expect(pre.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('serves the page to browsers', async () => {
    const r = await inject({ url: '/', headers: { accept: 'text/html' } });
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.body).toContain('data-component="discoverd" data-status="healthy"');
  });

  it('exports its metrics and registers as status-web with METRICS_ADDR and HOST_ID', async () => {
    const text = (await inject({ url: '/metrics' })).body;
    expect(text).toMatch(/flynn_status_component_up\{component="discoverd"\} 1/);
    expect(text).toMatch(/flynn_status_check_duration_seconds_bucket\{le="0\.005",component="discoverd"\}/);
    const client = new DiscoverdClient({ servers: [discoverd.url] });
    try {
      const [inst] = await client.instances('status-web');
      expect(inst).toMatchObject({
        addr: '127.0.0.77:1115',
        meta: { METRICS_ADDR: '127.0.0.77:1115', HOST_ID: 'h7' },
      });
    } finally {
      await client.close();
    }
  });
});

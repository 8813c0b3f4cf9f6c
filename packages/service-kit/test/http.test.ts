import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ComponentStatus,
  createHttpServer,
  createLogger,
  createMetrics,
  errors,
  type HttpServer,
} from '../src/index.js';
import { waitFor } from './helpers.js';

const servers: HttpServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function server(opts: { version?: string; status?: () => ComponentStatus; bodyLimit?: number } = {}) {
  const metrics = createMetrics('discoverd', { defaultMetrics: false });
  const app = createHttpServer({
    component: 'discoverd',
    logger: createLogger({ component: 'discoverd', level: 'silent' }),
    metrics,
    version: 'v20210218.0',
    ...opts,
  });
  app.put('/services/:service', { config: { decodeJson: 'strict' } }, async (req) => {
    return { service: (req.params as { service: string }).service, body: req.body };
  });
  app.put('/services/:service/instances/:id', { config: { decodeJson: 'lenient' } }, async (req) => req.body);
  app.post('/optional', async (req) => ({ body: req.body ?? null }));
  app.get('/leader', async () => {
    throw errors.objectNotFound('no leader found');
  });
  app.get('/boom', async () => {
    throw new Error('internal detail');
  });
  app.get('/refused', async () => {
    throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', syscall: 'connect' });
  });
  // Routes in an encapsulated plugin get the same handlers and hooks.
  app.register(
    async (child) => {
      child.post('/things', { config: { decodeJson: 'strict' } }, async (req) => req.body);
    },
    { prefix: '/child' },
  );
  servers.push(app);
  return { app, metrics };
}

const json = { 'content-type': 'application/json' };

describe('createHttpServer', () => {
  it('decodes JSON bodies', async () => {
    const { app } = server();
    const res = await app.inject({
      method: 'PUT',
      url: '/services/a',
      headers: json,
      payload: '{"leader_type":"manual"}',
    });
    expect(res.statusCode).toBe(200);
    // Flynn's exact header, also for objects fastify serialises itself.
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.json()).toEqual({ service: 'a', body: { leader_type: 'manual' } });
  });

  it.each([
    ['malformed', '{"leader_type":'],
    ['empty', ''],
    ['non-JSON', 'hello'],
  ])('answers a %s body with 400 syntax_error', async (_, payload) => {
    const { app } = server();
    for (const url of ['/services/a', '/services/a/instances/x', '/child/things']) {
      const res = await app.inject({
        method: url === '/child/things' ? 'POST' : 'PUT',
        url,
        headers: json,
        payload,
      });
      expect(res.statusCode, url).toBe(400);
      expect(res.headers['content-type']).toBe('application/json');
      expect(res.body).toBe(
        '{"code":"syntax_error","message":"The provided JSON input is invalid","retry":false}',
      );
    }
  });

  it('answers a missing body with 400 syntax_error on a lenient route, never 500', async () => {
    const { app } = server();
    const res = await app.inject({ method: 'PUT', url: '/services/a/instances/x' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'syntax_error' });
  });

  it('requires application/json on strict routes only', async () => {
    const { app } = server();
    for (const headers of [{}, { 'content-type': 'text/plain' }]) {
      for (const [method, url] of [
        ['PUT', '/services/a'],
        ['POST', '/child/things'],
      ] as const) {
        const res = await app.inject({ method, url, headers, payload: '{}' });
        expect(res.statusCode).toBe(400);
        expect(res.json()).toEqual({
          code: 'validation_error',
          message: 'Content-Type must be application/json',
          retry: false,
        });
      }
    }
    // A substring match, as Go's strings.Contains.
    const ok = await app.inject({
      method: 'PUT',
      url: '/services/a',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: '{}',
    });
    expect(ok.statusCode).toBe(200);
    // Lenient routes decode whatever the Content-Type says.
    const lenient = await app.inject({
      method: 'PUT',
      url: '/services/a/instances/x',
      headers: { 'content-type': 'text/plain' },
      payload: '{"addr":"1.2.3.4:80"}',
    });
    expect(lenient.json()).toEqual({ addr: '1.2.3.4:80' });
  });

  it('keeps bodies optional without decodeJson', async () => {
    const { app } = server();
    expect((await app.inject({ method: 'POST', url: '/optional' })).json()).toEqual({ body: null });
    expect((await app.inject({ method: 'POST', url: '/optional', payload: '[1]' })).json()).toEqual({
      body: [1],
    });
  });

  it('answers an oversized body with 400 request_body_too_big', async () => {
    const { app } = server({ bodyLimit: 16 });
    const res = await app.inject({
      method: 'PUT',
      url: '/services/a',
      headers: json,
      payload: `"${'x'.repeat(64)}"`,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'request_body_too_big', retry: false });
  });

  it('sends HttpErrors and hides unknown ones', async () => {
    const { app } = server();
    const leader = await app.inject({ method: 'GET', url: '/leader' });
    expect(leader.statusCode).toBe(404);
    expect(leader.body).toBe('{"code":"object_not_found","message":"no leader found","retry":false}');
    const boom = await app.inject({ method: 'GET', url: '/boom' });
    expect(boom.statusCode).toBe(500);
    expect(boom.body).toBe('{"code":"unknown_error","message":"Something went wrong","retry":false}');
    const refused = await app.inject({ method: 'GET', url: '/refused' });
    expect(refused.json()).toEqual({ code: 'unknown_error', message: 'Something went wrong', retry: true });
  });

  it.each([
    ['GET', '/nope'],
    ['DELETE', '/leader'],
    ['POST', '/nope'],
  ] as const)('answers %s %s with a plain-text 404 like Go net/http', async (method, url) => {
    const { app } = server();
    const res = await app.inject({
      method,
      url,
      headers: json,
      payload: method === 'POST' ? '{bad' : undefined,
    });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body).toBe('404 page not found\n');
  });

  it('answers an undecodable path parameter with the envelope', async () => {
    const { app } = server();
    const res = await app.inject({ method: 'PUT', url: '/services/%zz', headers: json, payload: '{}' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.json()).toMatchObject({ code: 'validation_error', retry: false });
  });

  it('serves /.well-known/status', async () => {
    const { app } = server();
    const res = await app.inject({ method: 'GET', url: '/.well-known/status' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.body).toBe('{"data":{"status":"healthy","version":"v20210218.0"}}');
  });

  it('reports an unhealthy status with 500 and detail', async () => {
    const { app } = server({ status: () => ({ status: 'unhealthy', detail: { raft: 'no leader' } }) });
    const res = await app.inject({ method: 'GET', url: '/.well-known/status' });
    expect(res.statusCode).toBe(500);
    expect(res.body).toBe(
      '{"data":{"status":"unhealthy","detail":{"raft":"no leader"},"version":"v20210218.0"}}',
    );
  });

  it('serves /metrics with the request histogram labelled by route pattern', async () => {
    const { app } = server();
    await app.inject({ method: 'PUT', url: '/services/web', headers: json, payload: '{}' });
    await app.inject({ method: 'PUT', url: '/services/db', headers: json, payload: '{}' });
    await app.inject({ method: 'GET', url: '/no/such/path' });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toContain('# TYPE flynn_discoverd_http_request_duration_seconds histogram');
    expect(res.body).toContain(
      'flynn_discoverd_http_request_duration_seconds_count{method="PUT",route="/services/:service",status="200"} 2',
    );
    expect(res.body).toContain(
      'flynn_discoverd_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1',
    );
    expect(res.body).not.toContain('/services/web');
    expect(res.body).not.toContain('/no/such/path');
  });

  it('answers with the envelope while shutting down', async () => {
    const { app } = server();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    app.get('/slow', async () => {
      await gate;
      return { ok: true };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    let requests = 0;
    app.server.on('request', () => requests++);
    const { port } = app.server.address() as AddressInfo;

    // One connection kept busy by /slow, so close() cannot reap it as idle; a second request
    // pipelined on it arrives after close() has begun.
    const sock = connect(port, '127.0.0.1');
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => {
      data += c;
    });
    const ended = new Promise((r) => sock.on('close', r));
    sock.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => requests === 1, 10_000, 'first request');
    const closed = app.close();
    await waitFor(() => !app.server.listening, 10_000, 'server to stop listening');
    sock.write('GET /leader HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => requests === 2, 10_000, 'second request');
    release();
    await ended;
    await closed;
    expect(data).toMatch(/^HTTP\/1.1 200 /);
    expect(data).toMatch(/HTTP\/1.1 503 /);
    expect(data).toContain(
      '{"code":"service_unavailable","message":"discoverd: shutting down","retry":true}',
    );
  });
});

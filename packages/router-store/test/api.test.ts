import type { AddressInfo } from 'node:net';
import { createHttpServer, createLogger, type HttpServer } from '@flynn-edge/service-kit';
import { SseReader, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RouterEvents, routeApiPlugin, type StreamEvent } from '../src/index.js';
import { fixture, newStore, TestDiscoverd } from './helpers.js';

// The classic route API over real HTTP, backed by a real discoverd.

const KEY = 'router-s3cret';
const AUTH = { authorization: `Bearer ${KEY}` };
let d: TestDiscoverd;
let app: HttpServer;
let base = '';
const events = new RouterEvents(() => [
  { event: 'backend-up', backend: { service: 'web', addr: '127.0.0.1:1', job_id: 'j1' } },
]);

beforeAll(async () => {
  d = await new TestDiscoverd().start();
  app = createHttpServer({
    component: 'router',
    logger: createLogger({ component: 'router', level: 'silent' }),
  });
  await app.register(routeApiPlugin, { store: newStore(d), events, clusterKey: KEY, keepAliveMs: 0 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  // Sockets of the aborted SSE requests would otherwise hold close() until undici drops them.
  app?.server.closeAllConnections();
  await app?.close();
  await d?.close();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = AUTH) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, text, json: text ? JSON.parse(text) : undefined, headers: r.headers };
}

describe('route API', () => {
  it('creates, gets, lists, updates and deletes routes with Flynn bodies', async () => {
    const c = await call('POST', '/routes', {
      type: 'http',
      service: 'web',
      domain: 'API.example',
      parent_ref: 'p/a',
    });
    expect(c.status).toBe(200);
    expect(c.headers.get('content-type')).toBe('application/json');
    expect(Object.keys(c.json)).toEqual([
      'type',
      'id',
      'parent_ref',
      'service',
      'leader',
      'created_at',
      'updated_at',
      'domain',
      'path',
    ]);
    expect(c.json).toMatchObject({ domain: 'api.example', path: '/', leader: false });
    const id = c.json.id as string;
    expect((await call('GET', `/routes/http/${id}`)).json).toEqual(c.json);
    const list = await call('GET', '/routes?parent_ref=p/a');
    expect(list.json.map((r: { id: string }) => r.id)).toEqual([id]);
    expect((await call('GET', '/routes?parent_ref=nobody')).json).toEqual([]);
    const u = await call('PUT', `/routes/http/${id}`, { service: 'web', sticky: true });
    expect(u.json).toMatchObject({ id, sticky: true });
    const missing = await call('GET', '/routes/http/nope');
    expect([missing.status, missing.text]).toEqual([404, '']);
    expect((await call('PUT', '/routes/tcp/nope', { service: 'x', port: 3001 })).status).toBe(404);
    const del = await call('DELETE', `/routes/http/${id}`);
    expect([del.status, del.text]).toEqual([200, '']);
    expect([(await call('DELETE', `/routes/http/${id}`)).status]).toEqual([404]);
  });

  it('answers errors in Flynn’s envelope', async () => {
    const t = await call('POST', '/routes', { type: 'x', service: 'web' });
    expect([t.status, t.json]).toEqual([
      400,
      {
        code: 'validation_error',
        message: 'type Invalid route type',
        retry: false,
        detail: { field: 'type' },
      },
    ]);
    await call('POST', '/routes', { type: 'http', service: 'web', domain: 'dup.example' });
    const dup = await call('POST', '/routes', { type: 'http', service: 'web', domain: 'dup.example' });
    expect([dup.status, dup.json.code, dup.json.message]).toEqual([409, 'conflict', 'Duplicate route']);
    const reserved = await call('POST', '/routes', { type: 'tcp', service: 'db', port: 443 });
    expect([reserved.status, reserved.json.message]).toEqual([409, 'Port reserved for HTTP/HTTPS traffic']);
    const syntax = await call('POST', '/routes', '{nope');
    expect([syntax.status, syntax.json.code]).toEqual([400, 'syntax_error']);
    const root = (await call('POST', '/routes', { type: 'http', service: 'web', domain: 'deps.example' }))
      .json;
    await call('POST', '/routes', { type: 'http', service: 'web', domain: 'deps.example', path: '/x' });
    const dep = await call('DELETE', `/routes/http/${root.id}`);
    expect([dep.status, dep.json.code, dep.json.message]).toEqual([
      400,
      'validation_error',
      'Route has dependent routes',
    ]);
  });

  it('serves certificates, answering errors (Flynn answered 200)', async () => {
    const cert = fixture('example.crt');
    const key = fixture('example.key');
    const bad = await call('POST', '/certificates', { cert: 'x', key: 'y' });
    expect([bad.status, bad.json.code]).toEqual([400, 'validation_error']);
    expect(bad.json.message).toMatch(/^Certificate invalid: /);
    const c = await call('POST', '/certificates', { cert, key });
    expect(c.status).toBe(200);
    expect(Object.keys(c.json)).toEqual(['id', 'cert', 'key', 'created_at', 'updated_at']);
    expect((await call('POST', '/certificates', { cert, key })).json.id).toBe(c.json.id);
    const r = await call('POST', '/routes', {
      type: 'http',
      service: 'web',
      domain: 'www.example.com',
      certificate: { cert, key },
    });
    expect(r.json.certificate.id).toBe(c.json.id);
    expect((await call('GET', `/certificates/${c.json.id}`)).json.routes).toEqual([r.json.id]);
    expect((await call('GET', '/certificates')).json.map((x: { id: string }) => x.id)).toEqual([c.json.id]);
    expect(
      (await call('GET', `/certificates/${c.json.id}/routes`)).json.map((x: { id: string }) => x.id),
    ).toEqual([r.json.id]);
    expect((await call('DELETE', `/certificates/${c.json.id}`)).status).toBe(200);
    const gone = await call('GET', `/certificates/${c.json.id}`);
    expect([gone.status, gone.json]).toEqual([
      404,
      { code: 'object_not_found', message: 'certificate not found', retry: false },
    ]);
  });

  it('needs the key: bearer or basic password; 401 otherwise', async () => {
    const none = await call('GET', '/routes', undefined, {});
    expect([none.status, none.json.code]).toEqual([401, 'unauthorized']);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="router"');
    const wrong = await call('GET', '/routes', undefined, { authorization: 'Bearer nope' });
    expect([wrong.status, wrong.json.message]).toEqual([401, 'router: invalid cluster key']);
    const basic = `Basic ${Buffer.from(`any:${KEY}`).toString('base64')}`;
    expect((await call('GET', '/routes', undefined, { authorization: basic })).status).toBe(200);
    expect((await call('GET', '/events?types=set', undefined, {})).status).toBe(401);
    // The status route is not part of the plugin: it stays open.
    expect((await call('GET', '/.well-known/status', undefined, {})).status).toBe(200);
  });

  it('/events: snapshot first, only the listed types, nothing without types', async () => {
    const only = new SseReader(`${base}/events?types=set,backend-up`, AUTH);
    const none = new SseReader(`${base}/events`, AUTH);
    await waitFor(() => events.subscribers >= 2, { what: 'two subscribers' });
    expect(only.contentType).toBe('text/event-stream; charset=utf-8');
    const route = (await call('POST', '/routes', { type: 'http', service: 'web', domain: 'ev.example' }))
      .json;
    const emitted: StreamEvent[] = [
      {
        event: 'remove',
        route: { ...route, drain_backends: false, sticky: false, port: 0, disable_keep_alives: false },
      },
      {
        event: 'set',
        route: { ...route, drain_backends: false, sticky: false, port: 0, disable_keep_alives: false },
      },
      { event: 'backend-down', backend: { service: 'web', addr: '127.0.0.1:1' } },
    ];
    for (const ev of emitted) events.emit(ev);
    await waitFor(() => only.messages.length >= 2, { what: 'two events' });
    expect(only.messages.map((m) => JSON.parse(m.data))).toEqual([
      { event: 'backend-up', backend: { service: 'web', addr: '127.0.0.1:1', job_id: 'j1' } },
      { event: 'set', route },
    ]);
    // A marker after everything else: the unfiltered stream got nothing meanwhile.
    events.emit({ event: 'backend-drained', backend: { service: 'web', addr: '127.0.0.1:1' } });
    expect(none.messages).toEqual([]);
    await only.close();
    await none.close();
    await waitFor(() => events.subscribers === 0, { what: 'unsubscribed on disconnect' });
  });
});

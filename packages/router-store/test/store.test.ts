import { type HTTPRoute, routeToJSON } from '@flynn-edge/router-core';
import { HttpError } from '@flynn-edge/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteStore } from '../src/index.js';
import { fixture, newStore, rejection, TestDiscoverd } from './helpers.js';

// RouteStore against a real in-process discoverd: every §2.2/§2.3 rule and error body.

let d: TestDiscoverd;
let store: RouteStore;
let n = 0;
/** A fresh domain per test, so tests do not see each other's routes. */
const dom = () => `d${++n}.example.com`;

beforeAll(async () => {
  d = await new TestDiscoverd().start();
  store = newStore(d);
});
afterAll(async () => {
  await d?.close();
});

describe('RouteStore routes', () => {
  it('creates, reads, lists newest first and deletes an HTTP route', async () => {
    const domain = dom();
    const a = await store.createRoute({ type: 'http', service: 'web', domain, parent_ref: 'p/1' });
    expect(a).toMatchObject({ type: 'http', domain, path: '/', port: 0, parent_ref: 'p/1' });
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    const b = await store.createRoute({
      type: 'http',
      service: 'web',
      domain,
      path: '/api',
      parent_ref: 'p/1',
    });
    expect(b).toMatchObject({ path: '/api/' });
    expect(await store.getRoute('http', a.id!)).toEqual(a);
    const mine = await store.listRoutes('p/1');
    expect(mine.map((r) => r.id)).toEqual([b.id, a.id]);
    await store.deleteRoute('http', b.id!);
    await store.deleteRoute('http', a.id!);
    expect(await store.listRoutes('p/1')).toEqual([]);
    expect((await rejection(store.getRoute('http', a.id!))).status).toBe(404);
  });

  it('answers Flynn codes and messages for invalid routes', async () => {
    const bad = await rejection(store.createRoute({ type: 'udp', service: 'x' }));
    expect(bad).toBeInstanceOf(HttpError);
    expect((bad as HttpError).toJSON()).toEqual({
      code: 'validation_error',
      message: 'type Invalid route type',
      retry: false,
      detail: { field: 'type' },
    });
    const noService = await rejection(store.createRoute({ type: 'http', domain: dom() }));
    expect(noService).toMatchObject({
      code: 'validation_error',
      message: 'Invalid route',
      detail: { field: 'service' },
    });
    const noParent = await rejection(
      store.createRoute({ type: 'http', service: 'web', domain: dom(), path: '/x/' }),
    );
    expect(noParent).toMatchObject({ status: 400, message: 'Invalid route', detail: { field: 'path' } });
    expect((noParent.detail as { reason: string }).reason).toMatch(/default route for domain .* not found/);
    const port = await rejection(
      store.createRoute({ type: 'http', service: 'web', domain: dom(), port: 9999 }),
    );
    expect(port).toMatchObject({
      code: 'validation_error',
      message: 'Port not reserved for HTTP(S) traffic',
    });
    const httpsPort = await rejection(
      store.createRoute({ type: 'http', service: 'web', domain: dom(), port: 4434 }),
    );
    expect(httpsPort).toMatchObject({ message: 'Port not reserved for HTTP(S) traffic' });
    const reserved = await rejection(store.createRoute({ type: 'tcp', service: 'db', port: 8081 }));
    expect(reserved).toMatchObject({
      status: 409,
      code: 'conflict',
      message: 'Port reserved for HTTP/HTTPS traffic',
    });
    const notObject = await rejection(store.createRoute([1]));
    expect(notObject).toMatchObject({ code: 'validation_error', message: 'Invalid route' });
  });

  it('stores an extra HTTP listener port and normalises the default one to 0', async () => {
    const domain = dom();
    const extra = await store.createRoute({ type: 'http', service: 'web', domain, port: 8081 });
    const dflt = await store.createRoute({ type: 'http', service: 'web', domain, port: 8080 });
    expect([extra.port, dflt.port]).toEqual([8081, 0]);
  });

  it('refuses a duplicate route with 409 "Duplicate route"', async () => {
    const domain = dom();
    await store.createRoute({ type: 'http', service: 'web', domain });
    const dup = await rejection(
      store.createRoute({ type: 'http', service: 'web', domain: domain.toUpperCase() }),
    );
    expect(dup).toMatchObject({ status: 409, code: 'conflict', message: 'Duplicate route' });
    await store.createRoute({ type: 'tcp', service: 'tcpdup', port: 3009 });
    const tdup = await rejection(store.createRoute({ type: 'tcp', service: 'tcpdup', port: 3009 }));
    expect(tdup).toMatchObject({ status: 409, message: 'Duplicate route' });
  });

  it('keeps drain_backends consistent per service', async () => {
    const domain = dom();
    const svc = `drain-${n}`;
    const a = await store.createRoute({ type: 'http', service: svc, domain, drain_backends: true });
    const mixed = await rejection(
      store.createRoute({ type: 'http', service: svc, domain: dom(), drain_backends: false }),
    );
    expect(mixed).toMatchObject({
      code: 'validation_error',
      message: 'Invalid route',
      detail: { field: 'drain_backends' },
    });
    // Once the service has no routes left, it may start over with the other value.
    await store.deleteRoute('http', a.id!);
    await store.createRoute({ type: 'http', service: svc, domain: dom(), drain_backends: false });
  });

  it('refuses to delete a / route with dependents, 404s a missing one', async () => {
    const domain = dom();
    const root = await store.createRoute({ type: 'http', service: 'web', domain });
    const sub = await store.createRoute({ type: 'http', service: 'web', domain, path: '/a/' });
    const dep = await rejection(store.deleteRoute('http', root.id!));
    expect(dep).toMatchObject({
      status: 400,
      code: 'validation_error',
      message: 'Route has dependent routes',
    });
    await store.deleteRoute('http', sub.id!);
    await store.deleteRoute('http', root.id!);
    expect(await rejection(store.deleteRoute('http', root.id!))).toMatchObject({ status: 404 });
    expect(await rejection(store.deleteRoute('tcp', root.id!))).toMatchObject({ status: 404 });
    expect(await rejection(store.deleteRoute('nope', root.id!))).toMatchObject({ status: 404 });
  });

  it('updates a route: keeps id, created_at and drain_backends; domain mismatch is 404; moves keys', async () => {
    const domain = dom();
    const root = await store.createRoute({ type: 'http', service: 'web', domain });
    const sub = await store.createRoute({ type: 'http', service: 'web', domain, path: '/a/' });
    const moved = await store.updateRoute('http', sub.id!, { service: 'web2', path: '/b/', sticky: true });
    expect(moved).toMatchObject({
      id: sub.id,
      path: '/b/',
      service: 'web2',
      sticky: true,
      created_at: sub.created_at,
    });
    // The old path is free again, the new one taken.
    await store.createRoute({ type: 'http', service: 'web', domain, path: '/a/' });
    expect(
      await rejection(store.createRoute({ type: 'http', service: 'web', domain, path: '/b/' })),
    ).toMatchObject({
      message: 'Duplicate route',
    });
    expect(
      await rejection(store.updateRoute('http', sub.id!, { service: 'web', domain: 'other.example' })),
    ).toMatchObject({ status: 404 });
    expect(await rejection(store.updateRoute('http', 'missing', { service: 'web' }))).toMatchObject({
      status: 404,
    });
    const tcp = await store.createRoute({ type: 'tcp', service: 'tcpup', port: 3008 });
    expect(await rejection(store.updateRoute('tcp', tcp.id!, { service: 'tcpup' }))).toMatchObject({
      status: 400,
      message: 'Invalid route',
    });
    const t2 = await store.updateRoute('tcp', tcp.id!, { service: 'tcpup', port: 3007 });
    expect(t2.port).toBe(3007);
    expect(await store.getRoute('tcp', tcp.id!)).toMatchObject({ port: 3007 });
    // Moving the / route to another port would strand /a/ and /b/.
    expect(
      await rejection(store.updateRoute('http', root.id!, { service: 'web', port: 8081 })),
    ).toMatchObject({
      message: 'Route has dependent routes',
    });
  });

  it('stores and emits https_redirect', async () => {
    const r = await store.createRoute({ type: 'http', service: 'web', domain: dom(), https_redirect: true });
    expect((await store.getRoute('http', r.id!)) as HTTPRoute).toMatchObject({ https_redirect: true });
    expect(routeToJSON(r).https_redirect).toBe(true);
  });
});

describe('TCP port 0', () => {
  it('takes the lowest never-used port and never reuses a deleted route’s port', async () => {
    const s = newStore(d, { tcpRange: { start: 3100, end: 3103 } });
    const a = await s.createRoute({ type: 'tcp', service: 'p0' });
    const b = await s.createRoute({ type: 'tcp', service: 'p0', port: 0 });
    expect([a.port, b.port]).toEqual([3100, 3101]);
    await s.deleteRoute('tcp', a.id!);
    const c = await s.createRoute({ type: 'tcp', service: 'p0' });
    expect(c.port).toBe(3102);
    // An explicit port marks it used too.
    await s.createRoute({ type: 'tcp', service: 'p0', port: 3103 });
    const full = await rejection(s.createRoute({ type: 'tcp', service: 'p0' }));
    expect(full).toMatchObject({ status: 409, code: 'conflict' });
    // A deleted port can still be asked for by number.
    const again = await s.createRoute({ type: 'tcp', service: 'p0', port: 3100 });
    expect(again.port).toBe(3100);
  });
});

describe('certificates', () => {
  const cert = fixture('example.crt');
  const key = fixture('example.key');

  it('validates, dedupes by sha256, lists, links routes and deletes', async () => {
    const bad = await rejection(store.createCertificate({ cert: 'nope', key }));
    expect(bad).toMatchObject({ status: 400, code: 'validation_error' });
    expect(bad.message).toMatch(/^Certificate invalid: /);
    const mismatch = await rejection(store.createCertificate({ cert, key: fixture('other.key') }));
    expect(mismatch.message).toBe('Certificate invalid: tls: private key does not match public key');

    const c1 = await store.createCertificate({ cert: `\n${cert}\n\n`, key });
    const c2 = await store.createCertificate({ cert, key });
    expect(c2.id).toBe(c1.id);
    expect(c1.cert).toBe(cert.trim());

    const domain = `a${++n}.example.com`;
    const r = (await store.createRoute({
      type: 'http',
      service: 'web',
      domain,
      certificate: { cert, key },
    })) as HTTPRoute;
    // The stored route carries the PEM, so a router needs no second read.
    expect(r.certificate).toMatchObject({ id: c1.id, cert: cert.trim(), key: key.trim() });
    expect((await store.getCertificate(c1.id!)).routes).toEqual([r.id]);
    expect((await store.certificateRoutes(c1.id!)).map((x) => x.id)).toEqual([r.id]);
    expect((await store.listCertificates()).map((c) => c.id)).toContain(c1.id);
    const wrongName = await rejection(
      store.createRoute({ type: 'http', service: 'web', domain: 'x.other.net', certificate: { cert, key } }),
    );
    expect(wrongName.message).toMatch(/^Certificate invalid: x509: certificate is valid for/);

    await store.deleteCertificate(c1.id!);
    expect(await rejection(store.getCertificate(c1.id!))).toMatchObject({
      status: 404,
      code: 'object_not_found',
      message: 'certificate not found',
    });
    expect(await rejection(store.deleteCertificate(c1.id!))).toMatchObject({ status: 404 });
    // The route stays, without its certificate (Flynn falls back to the default one).
    expect(((await store.getRoute('http', r.id!)) as HTTPRoute).certificate).toBeUndefined();
    // The same chain can be stored again, with a new id.
    const c3 = await store.createCertificate({ cert, key });
    expect(c3.id).not.toBe(c1.id);
  });

  it('a route with tls_cert/tls_key reuses the stored certificate', async () => {
    const c = await store.createCertificate({ cert, key });
    const r = (await store.createRoute({
      type: 'http',
      service: 'web',
      domain: `b${++n}.example.com`,
      tls_cert: cert,
      tls_key: key,
    })) as HTTPRoute;
    expect(r.certificate?.id).toBe(c.id);
  });
});

import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, TestCluster } from './helpers.js';

// Issue 11: the route API refuses, with Flynn's envelope (400 validation_error, detail.field), every
// route field of the wrong length or shape before it reaches the cluster store, and the store is
// left exactly as it was. One router process on 127.0.0.121 against a real discoverd.

const cluster = new TestCluster({ routers: 1, workers: 1, firstHost: 121 });

beforeAll(async () => {
  await cluster.start();
  await cluster.backend('api-web');
  const r = await cluster.api('POST', '/routes', { type: 'http', service: 'api-web', domain: 'ok.test' });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}, 90_000);

afterAll(async () => {
  await cluster.close();
});

/** Every key and its mod_revision: any write would show. */
async function storeSnapshot(): Promise<string[]> {
  const l = await cluster.client.kv.listAll('');
  return l.entries.map((e) => `${e.key}@${e.mod_revision}`);
}

const http = (extra: Record<string, unknown>) => ({
  type: 'http',
  service: 'api-web',
  domain: 'ok.test',
  ...extra,
});
const tcp = (extra: Record<string, unknown>) => ({ type: 'tcp', service: 'api-web', ...extra });
const long = (n: number) => 'a'.repeat(n);
const label63 = long(63);

const bad: [string, unknown, string][] = [
  // path
  ['a ".." segment', http({ path: '/a/../b/' }), 'path'],
  ['a "." segment', http({ path: '/a/./b/' }), 'path'],
  ['a trailing ".." segment', http({ path: '/a/..' }), 'path'],
  ['"//"', http({ path: '/a//b/' }), 'path'],
  ['a percent-encoded ".." segment', http({ path: '/a/%2e%2E/b/' }), 'path'],
  ['a percent-encoded "." segment', http({ path: '/a/%2E/' }), 'path'],
  ['a half-encoded ".." segment', http({ path: '/a/.%2e/' }), 'path'],
  ['a control character', http({ path: '/a\u0001b/' }), 'path'],
  ['a DEL character', http({ path: '/a\u007fb/' }), 'path'],
  ['a space', http({ path: '/a b/' }), 'path'],
  ['a backslash', http({ path: '/a\\b/' }), 'path'],
  ['a raw non-ASCII character', http({ path: '/café/' }), 'path'],
  ['a bad percent escape', http({ path: '/a%zz/' }), 'path'],
  ['no leading "/"', http({ path: 'a/b/' }), 'path'],
  ['a query', http({ path: '/a?b/' }), 'path'],
  ['a path past the length limit', http({ path: `/${long(5000)}/` }), 'path'],
  ['a path that is not a string', http({ path: 7 }), 'path'],
  // id
  ['an id past the store key limit', http({ id: long(5000) }), 'id'],
  ['an id with "/"', http({ id: 'a/b' }), 'id'],
  ['an id with a space', http({ id: 'a b' }), 'id'],
  ['an id of ".."', http({ id: '..' }), 'id'],
  ['an id that is not a string', http({ id: 12 }), 'id'],
  ['a long parent_ref', http({ parent_ref: long(5000) }), 'parent_ref'],
  ['a parent_ref with a control character', http({ parent_ref: 'controller/apps/\n' }), 'parent_ref'],
  // domain
  ['a 64-character label', http({ domain: `${long(64)}.test` }), 'domain'],
  ['a 254-character domain', http({ domain: `${label63}.${label63}.${label63}.${long(62)}` }), 'domain'],
  ['an empty label', http({ domain: 'a..test' }), 'domain'],
  ['a trailing dot', http({ domain: 'a.test.' }), 'domain'],
  ['a leading hyphen', http({ domain: '-a.test' }), 'domain'],
  ['a space in the domain', http({ domain: 'a b.test' }), 'domain'],
  ['a port in the domain', http({ domain: 'a.test:80' }), 'domain'],
  ['a "/" in the domain', http({ domain: 'a/b.test' }), 'domain'],
  ['a misplaced wildcard', http({ domain: 'a*.test' }), 'domain'],
  ['two wildcards', http({ domain: '*.*.test' }), 'domain'],
  ['an empty domain', http({ domain: '' }), 'domain'],
  ['a domain that is not a string', http({ domain: 5 }), 'domain'],
  // service
  ['an empty service', http({ service: '' }), 'service'],
  ['an upper-case service', http({ service: 'Web' }), 'service'],
  ['a service with "_"', http({ service: 'web_1' }), 'service'],
  ['a service with "."', http({ service: 'we.b' }), 'service'],
  ['a service with a leading hyphen', http({ service: '-web' }), 'service'],
  ['a 64-character service', http({ service: long(64) }), 'service'],
  ['a service that is not a string', http({ service: 5 }), 'service'],
  // ports
  ['a negative TCP port', tcp({ port: -1 }), 'port'],
  ['a fractional TCP port', tcp({ port: 3000.5 }), 'port'],
  ['a TCP port past 65535', tcp({ port: 70_000 }), 'port'],
  ['a TCP port as a string', tcp({ port: '3000' }), 'port'],
  ['a TCP port outside the range', tcp({ port: 1 }), 'port'],
  ['an HTTP port that is not a listener', http({ port: 1 }), 'port'],
  // certificate
  ['a certificate that is not an object', http({ certificate: 'pem' }), 'certificate'],
  [
    'a certificate PEM past the size limit',
    http({ certificate: { cert: long(70_000), key: 'k' } }),
    'certificate',
  ],
  ['a key PEM past the size limit', http({ certificate: { cert: 'c', key: long(20_000) } }), 'certificate'],
  ['a tls_cert past the size limit', http({ tls_cert: long(70_000), tls_key: 'k' }), 'tls_cert'],
  [
    'a certificate id past the key limit',
    http({ certificate: { id: long(5000), cert: 'c', key: 'k' } }),
    'certificate',
  ],
  ['a certificate that is not PEM', http({ certificate: { cert: 'c', key: 'k' } }), 'certificate'],
  // booleans
  ['leader as a string', http({ leader: 'true' }), 'leader'],
  ['sticky as a number', http({ sticky: 1 }), 'sticky'],
  ['drain_backends as a string', tcp({ drain_backends: 'yes' }), 'drain_backends'],
  ['disable_keep_alives as an object', http({ disable_keep_alives: {} }), 'disable_keep_alives'],
  ['https_redirect as a string', http({ https_redirect: 'on' }), 'https_redirect'],
  // type
  ['an unknown type', { type: 'udp', service: 'api-web', port: 3000 }, 'type'],
  ['no type', { service: 'api-web', domain: 'ok.test' }, 'type'],
];

describe('route API validation through a real router', { timeout: 60_000 }, () => {
  it('answers every bad route with 400 validation_error naming the field, and writes nothing', async () => {
    const before = await storeSnapshot();
    const wrong: string[] = [];
    for (const [what, body, field] of bad) {
      const r = await cluster.api('POST', '/routes', body);
      const ok =
        r.status === 400 &&
        r.body?.code === 'validation_error' &&
        typeof r.body.message === 'string' &&
        r.body.retry === false &&
        r.body.detail?.field === field;
      if (!ok) wrong.push(`${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    }
    expect(wrong).toEqual([]);
    expect(await storeSnapshot()).toEqual(before);
  });

  it('refuses the same fields on update, and answers 404 for ids no route can have', async () => {
    const created = await cluster.api('POST', '/routes', http({ domain: 'upd.test' }));
    expect(created.status).toBe(200);
    const before = await storeSnapshot();
    for (const [body, field] of [
      [{ service: 'api-web', path: '/a/../' }, 'path'],
      [{ service: 'Bad' }, 'service'],
      [{ service: 'api-web', sticky: 'no' }, 'sticky'],
    ] as const) {
      const r = await cluster.api('PUT', `/routes/http/${created.body.id}`, body);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body).toMatchObject({ code: 'validation_error', retry: false, detail: { field } });
    }
    for (const id of [long(200), 'a%2Fb', '%00', '..%2F..']) {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const r = await cluster.api(
          method,
          `/routes/http/${id}`,
          method === 'PUT' ? { service: 'api-web' } : undefined,
        );
        expect(r.status, `${method} ${id.slice(0, 10)}: ${JSON.stringify(r.body)}`).toBe(404);
      }
      expect((await cluster.api('GET', `/certificates/${id}`)).status).toBe(404);
      expect((await cluster.api('DELETE', `/certificates/${id}`)).status).toBe(404);
    }
    // Past the API's URL parameter limit the HTTP layer refuses it, in the same envelope.
    const huge = await cluster.api('GET', `/routes/http/${long(5000)}`);
    expect(huge.status).toBe(400);
    expect(huge.body).toMatchObject({ code: 'validation_error', retry: false });
    expect(await storeSnapshot()).toEqual(before);
  });

  it('still stores and serves good routes at the limits', async () => {
    const domain = `${long(63)}.${long(63)}.${long(63)}.${long(59)}.t`; // 253 characters
    expect(domain).toHaveLength(253);
    const good = [
      http({ domain, id: long(128) }),
      http({ path: '/api/v1/' }),
      http({ path: '/caf%C3%A9/' }),
      http({ path: "/a-b_c~d.e!$&'()*+,;=:@/" }),
      http({ domain: '*.wild.test', service: long(63) }),
      tcp({ port: cluster.routers[0].opts.tcpRange.start, leader: true }),
    ];
    for (const body of good) {
      const r = await cluster.api('POST', '/routes', body);
      expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
    }
    const served = await waitFor(
      async () => {
        const a = await get(`${cluster.httpUrl()}/caf%C3%A9/x`, 'ok.test');
        return a.status === 200 && a;
      },
      { timeoutMs: 10_000, what: 'ok.test/café served' },
    );
    expect(served.text).toContain('/caf%C3%A9/x');
    expect((await get(`${cluster.httpUrl()}/`, domain)).status).toBe(200);
  });
});

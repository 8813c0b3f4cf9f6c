import { describe, expect, it } from 'vitest';
import {
  allocatePort,
  claimedKeys,
  GO_ZERO_TIME,
  goTime,
  type HTTPRoute,
  httpDomainPrefix,
  type Route,
  requiredKeys,
  routeToJSON,
  tcpRouteKey,
  usedPortKey,
  validateDelete,
  validateRoute,
  validateUpdate,
} from '../src/index.js';
import { fixture, http, tcp } from './helpers.js';

const now = new Date('2024-05-06T07:08:09.120Z');
const opts = { now, newId: () => 'new-id' };

function ok(input: unknown, existing: Route[] = [], extra = {}): Route {
  const r = validateRoute(input, existing, { ...opts, ...extra });
  if (r.error) throw new Error(`unexpected error: ${JSON.stringify(r.error)}`);
  return r.route;
}

function okHttp(input: unknown, existing: Route[] = []): HTTPRoute {
  const r = ok(input, existing);
  if (r.type !== 'http') throw new Error('expected an HTTP route');
  return r;
}

function err(input: unknown, existing: Route[] = [], extra = {}) {
  const r = validateRoute(input, existing, { ...opts, ...extra });
  if (!r.error) throw new Error(`expected an error, got ${JSON.stringify(r.route)}`);
  return r.error;
}

describe('route JSON', () => {
  it('emits type, service, leader and timestamps always; the rest omitempty, in Go order', () => {
    const route = ok({ type: 'http', service: 'web', domain: 'Example.COM' });
    expect(JSON.stringify(routeToJSON(route))).toBe(
      JSON.stringify({
        type: 'http',
        id: 'new-id',
        service: 'web',
        leader: false,
        created_at: '2024-05-06T07:08:09.12Z',
        updated_at: '2024-05-06T07:08:09.12Z',
        domain: 'example.com',
        path: '/',
      }),
    );
    const t = ok({ type: 'tcp', service: 'db', port: 3001, leader: true, drain_backends: true });
    expect(JSON.stringify(routeToJSON(t))).toBe(
      JSON.stringify({
        type: 'tcp',
        id: 'new-id',
        service: 'db',
        port: 3001,
        leader: true,
        created_at: '2024-05-06T07:08:09.12Z',
        updated_at: '2024-05-06T07:08:09.12Z',
        drain_backends: true,
      }),
    );
  });

  it('writes Go zero time for unset timestamps and Go-style fractions', () => {
    const r = http('a.com');
    r.created_at = '';
    expect(routeToJSON(r).created_at).toBe(GO_ZERO_TIME);
    expect(goTime(new Date('2020-01-02T03:04:05.000Z'))).toBe('2020-01-02T03:04:05Z');
    expect(goTime(new Date('2020-01-02T03:04:05.500Z'))).toBe('2020-01-02T03:04:05.5Z');
  });

  it('keeps a given id and parent_ref, and emits sticky / disable_keep_alives when set', () => {
    const r = ok({
      type: 'http',
      id: 'abc',
      parent_ref: 'controller/apps/1',
      service: 'web',
      domain: 'a.com',
      sticky: true,
      disable_keep_alives: true,
    });
    const j = routeToJSON(r);
    expect(j.id).toBe('abc');
    expect(j.parent_ref).toBe('controller/apps/1');
    expect(j.sticky).toBe(true);
    expect(j.disable_keep_alives).toBe(true);
  });
});

describe('validateRoute: common rules', () => {
  it('rejects an unknown type with Flynn\'s "type Invalid route type"', () => {
    expect(err({ type: 'udp', service: 'x' })).toEqual({
      code: 'validation_error',
      message: 'type Invalid route type',
      field: 'type',
    });
    expect(err({ service: 'x' }).message).toBe('type Invalid route type');
  });

  it('rejects non-objects and wrongly typed fields', () => {
    expect(err('x')).toMatchObject({ code: 'validation_error', message: 'Invalid route' });
    expect(err({ type: 'http', service: 1, domain: 'a.com' })).toMatchObject({ field: 'service' });
    expect(err({ type: 'http', service: 's', domain: 'a.com', leader: 'yes' })).toMatchObject({
      field: 'leader',
    });
    expect(err({ type: 'tcp', service: 's', port: 3000.5 })).toMatchObject({ field: 'port' });
  });

  it('requires a service', () => {
    expect(err({ type: 'http', domain: 'a.com' })).toMatchObject({
      code: 'validation_error',
      message: 'Invalid route',
      field: 'service',
    });
  });

  it('requires one drain_backends value per service', () => {
    const existing = [http('a.com', '/', 0, { service: 'web', drain_backends: true })];
    expect(err({ type: 'http', service: 'web', domain: 'b.com' }, existing)).toMatchObject({
      message: 'Invalid route',
      field: 'drain_backends',
    });
    expect(
      ok({ type: 'http', service: 'web', domain: 'b.com', drain_backends: true }, existing).drain_backends,
    ).toBe(true);
  });
});

describe('validateRoute: HTTP', () => {
  it('lower-cases domains and accepts * and *.suffix wildcards', () => {
    expect(ok({ type: 'http', service: 'w', domain: 'WWW.Example.com' })).toMatchObject({
      domain: 'www.example.com',
    });
    expect(ok({ type: 'http', service: 'w', domain: '*.Example.com' })).toMatchObject({
      domain: '*.example.com',
    });
    expect(ok({ type: 'http', service: 'w', domain: '*' })).toMatchObject({ domain: '*' });
  });

  it('rejects empty and malformed domains', () => {
    for (const domain of ['', 'a.*.com', '*a.com', 'a..com', 'a.com:80', 'a/b', '*.', 'foo.*']) {
      expect(err({ type: 'http', service: 'w', domain }), domain).toMatchObject({
        code: 'validation_error',
        message: 'Invalid route',
        field: 'domain',
      });
    }
  });

  it('normalises paths: empty → "/", trailing "/" appended; must start with "/"', () => {
    const root = http('a.com');
    expect(okHttp({ type: 'http', service: 'web', domain: 'a.com' }).path).toBe('/');
    expect(okHttp({ type: 'http', service: 'web', domain: 'a.com', path: '' }).path).toBe('/');
    expect(okHttp({ type: 'http', service: 'web', domain: 'a.com', path: '/api' }, [root]).path).toBe(
      '/api/',
    );
    expect(okHttp({ type: 'http', service: 'web', domain: 'a.com', path: '/api/v1/' }, [root]).path).toBe(
      '/api/v1/',
    );
    expect(err({ type: 'http', service: 'web', domain: 'a.com', path: 'api' }, [root])).toMatchObject({
      message: 'Invalid route',
      field: 'path',
    });
  });

  it('needs a "/" route on the same domain:port before a sub-path', () => {
    expect(err({ type: 'http', service: 'web', domain: 'a.com', path: '/x' })).toEqual({
      code: 'validation_error',
      message: 'Invalid route',
      field: 'path',
      reason: 'default route for domain a.com not found',
    });
    // a root on another port does not count
    expect(
      err({ type: 'http', service: 'web', domain: 'a.com', path: '/x' }, [http('a.com', '/', 8080)]).field,
    ).toBe('path');
    expect(err({ type: 'http', service: 'web', domain: 'a.com', path: '/x' }, [http('b.com')]).field).toBe(
      'path',
    );
  });

  it('refuses duplicates of domain+port+path with 409 "Duplicate route"', () => {
    const existing = [http('a.com'), http('a.com', '/x/')];
    expect(err({ type: 'http', service: 'web', domain: 'A.com' }, existing)).toEqual({
      code: 'conflict',
      message: 'Duplicate route',
    });
    expect(err({ type: 'http', service: 'web', domain: 'a.com', path: '/x' }, existing).message).toBe(
      'Duplicate route',
    );
    // port 80 is the default port, stored as 0, so it duplicates too
    expect(err({ type: 'http', service: 'web', domain: 'a.com', port: 80 }, existing).message).toBe(
      'Duplicate route',
    );
    // same domain on an additional port is distinct
    expect(
      ok({ type: 'http', service: 'web', domain: 'a.com', port: 8080 }, existing, { httpPorts: [80, 8080] })
        .port,
    ).toBe(8080);
  });

  it('port rules: 0 or a listener port; default ports are stored as 0', () => {
    const o = { httpPorts: [80, 8080], httpsPorts: [443, 8443] };
    expect(ok({ type: 'http', service: 'w', domain: 'a.com', port: 80 }, [], o).port).toBe(0);
    expect(ok({ type: 'http', service: 'w', domain: 'a.com', port: 8080 }, [], o).port).toBe(8080);
    expect(err({ type: 'http', service: 'w', domain: 'a.com', port: 9000 }, [], o)).toEqual({
      code: 'validation_error',
      message: 'Port not reserved for HTTP(S) traffic',
      field: 'port',
    });
    expect(err({ type: 'http', service: 'w', domain: 'a.com', port: 70000 }, [], o).field).toBe('port');
    // an HTTPS port only with the deprecated tls_cert (a certificate object does not count)
    const cert = fixture('example.crt');
    const key = fixture('example.key');
    expect(
      err(
        { type: 'http', service: 'w', domain: 'a.example.com', port: 8443, certificate: { cert, key } },
        [],
        o,
      ).message,
    ).toBe('Port not reserved for HTTP(S) traffic');
    expect(
      ok(
        { type: 'http', service: 'w', domain: 'a.example.com', port: 8443, tls_cert: cert, tls_key: key },
        [],
        o,
      ).port,
    ).toBe(8443);
    expect(
      ok(
        { type: 'http', service: 'w', domain: 'a.example.com', port: 443, tls_cert: cert, tls_key: key },
        [],
        o,
      ).port,
    ).toBe(0);
  });
});

describe('validateRoute: certificates', () => {
  const cert = fixture('example.crt');
  const key = fixture('example.key');

  it('accepts a matching pair covering the domain, trimmed', () => {
    const r = ok({
      type: 'http',
      service: 'w',
      domain: 'example.com',
      certificate: { cert: `\n ${cert}\n\n`, key },
    });
    expect(r.type === 'http' && r.certificate?.cert).toBe(cert.trim());
    expect(r.type === 'http' && r.certificate?.key).toBe(key.trim());
    expect(r.type === 'http' && r.certificate?.created_at).toBe('2024-05-06T07:08:09.12Z');
  });

  it('covers wildcard names: *.example.com covers a.example.com and *.example.com, not a.b.example.com', () => {
    expect(ok({ type: 'http', service: 'w', domain: 'a.example.com', certificate: { cert, key } }).type).toBe(
      'http',
    );
    expect(ok({ type: 'http', service: 'w', domain: '*.example.com', certificate: { cert, key } }).type).toBe(
      'http',
    );
    expect(
      err({ type: 'http', service: 'w', domain: 'a.b.example.com', certificate: { cert, key } }).message,
    ).toBe(
      'Certificate invalid: x509: certificate is valid for example.com, *.example.com, not a.b.example.com',
    );
  });

  it('takes tls_cert / tls_key over certificate and stores them as the certificate', () => {
    const r = ok({
      type: 'http',
      service: 'w',
      domain: 'example.com',
      tls_cert: cert,
      tls_key: key,
      certificate: { cert: 'junk', key: 'junk' },
    });
    expect(r.type === 'http' && r.certificate?.cert).toBe(cert.trim());
    expect(JSON.stringify(routeToJSON(r))).not.toContain('tls_cert');
  });

  it('falls back to the subject CN without SANs', () => {
    const c = fixture('cnonly.crt');
    const k = fixture('cnonly.key');
    expect(
      ok({ type: 'http', service: 'w', domain: 'legacy.net', certificate: { cert: c, key: k } }).type,
    ).toBe('http');
    expect(
      err({ type: 'http', service: 'w', domain: 'x.net', certificate: { cert: c, key: k } }).message,
    ).toContain('not x.net');
  });

  it('gives a clear 400 for garbage, a key that does not match, or a bad PEM body', () => {
    const base = { type: 'http', service: 'w', domain: 'example.com' };
    expect(err({ ...base, certificate: { cert: 'nope', key } })).toEqual({
      code: 'validation_error',
      message: 'Certificate invalid: tls: failed to find any PEM data in certificate input',
      field: 'certificate',
    });
    expect(err({ ...base, certificate: { cert, key: '' } }).message).toBe(
      'Certificate invalid: tls: failed to find any PEM data in key input',
    );
    expect(err({ ...base, certificate: { cert, key: fixture('other.key') } }).message).toBe(
      'Certificate invalid: tls: private key does not match public key',
    );
    const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----';
    expect(err({ ...base, certificate: { cert: broken, key } }).message).toMatch(
      /^Certificate invalid: x509: malformed certificate/,
    );
    const brokenKey = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----';
    expect(err({ ...base, certificate: { cert, key: brokenKey } }).message).toMatch(
      /^Certificate invalid: tls: failed to parse private key/,
    );
    expect(err({ ...base, certificate: 'x' }).field).toBe('certificate');
  });

  it('refuses a certificate on the catch-all domain (nothing covers "*")', () => {
    expect(err({ type: 'http', service: 'w', domain: '*', certificate: { cert, key } }).field).toBe(
      'certificate',
    );
  });
});

describe('validateRoute: TCP', () => {
  it('accepts a port in the range and refuses duplicates with 409', () => {
    expect(ok({ type: 'tcp', service: 'db', port: 3500 }).port).toBe(3500);
    expect(err({ type: 'tcp', service: 'db', port: 3001 }, [tcp(3001)])).toEqual({
      code: 'conflict',
      message: 'Duplicate route',
    });
  });

  it('reserves 80, 443 and the HTTP(S) listener ports with 409', () => {
    for (const port of [80, 443, 8080]) {
      expect(
        err({ type: 'tcp', service: 'db', port }, [], { httpPorts: [80, 8080], allowTcpOutsideRange: true }),
      ).toEqual({
        code: 'conflict',
        message: 'Port reserved for HTTP/HTTPS traffic',
        field: 'port',
      });
    }
  });

  it('keeps ports within the range unless allowed, and within 1..65534', () => {
    expect(err({ type: 'tcp', service: 'db', port: 2999 })).toMatchObject({
      code: 'validation_error',
      field: 'port',
    });
    expect(ok({ type: 'tcp', service: 'db', port: 2999 }, [], { allowTcpOutsideRange: true }).port).toBe(
      2999,
    );
    expect(err({ type: 'tcp', service: 'db', port: 65535 }, [], { allowTcpOutsideRange: true }).field).toBe(
      'port',
    );
    expect(err({ type: 'tcp', service: 'db', port: -1 }, [], { allowTcpOutsideRange: true }).field).toBe(
      'port',
    );
  });

  it('allocates port 0 to the lowest port never used', () => {
    expect(ok({ type: 'tcp', service: 'db' }).port).toBe(3000);
    expect(ok({ type: 'tcp', service: 'db', port: 0 }, [tcp(3000), tcp(3002)]).port).toBe(3001);
    expect(
      ok({ type: 'tcp', service: 'db' }, [tcp(3000)], { tcpUsedEver: new Set([3000, 3001, 3002]) }).port,
    ).toBe(3003);
    expect(
      err({ type: 'tcp', service: 'db' }, [], {
        tcpRange: { start: 5000, end: 5001 },
        tcpUsedEver: new Set([5000, 5001]),
      }),
    ).toEqual({
      code: 'conflict',
      message: 'No free port in the TCP range 5000-5001',
      field: 'port',
    });
  });

  it('never allocates an HTTP(S) listener port', () => {
    expect(
      ok({ type: 'tcp', service: 'db' }, [], { httpPorts: [80, 3000], httpsPorts: [443, 3001] }).port,
    ).toBe(3002);
  });

  it('drops HTTP-only fields from TCP routes', () => {
    const r = ok({ type: 'tcp', service: 'db', port: 3000, domain: 'a.com', path: '/x', sticky: true });
    expect(Object.keys(routeToJSON(r))).toEqual([
      'type',
      'id',
      'service',
      'port',
      'leader',
      'created_at',
      'updated_at',
    ]);
  });
});

describe('allocatePort', () => {
  it('returns the lowest unused port or undefined', () => {
    expect(allocatePort({ start: 3000, end: 3500 }, new Set())).toBe(3000);
    expect(allocatePort({ start: 3000, end: 3500 }, new Set([3000, 3001, 3003]))).toBe(3002);
    expect(allocatePort({ start: 1, end: 2 }, new Set([1, 2]))).toBeUndefined();
  });
});

describe('store keys', () => {
  it('claims routes/http/<domain>:<port><path> and routes/tcp/<port>', () => {
    expect(claimedKeys(http('a.com', '/x/', 8080))).toEqual(['routes/http/a.com:8080/x/']);
    expect(claimedKeys(http('*.a.com'))).toEqual(['routes/http/*.a.com:0/']);
    expect(claimedKeys(tcp(3005))).toEqual(['routes/tcp/3005']);
    expect(tcpRouteKey(3005)).toBe('routes/tcp/3005');
    expect(usedPortKey(3005)).toBe('routes/tcp-used/3005');
  });

  it('requires the domain:port root for a sub-path, nothing otherwise', () => {
    expect(requiredKeys(http('a.com', '/x/'))).toEqual(['routes/http/a.com:0/']);
    expect(requiredKeys(http('a.com'))).toEqual([]);
    expect(requiredKeys(tcp(3000))).toEqual([]);
  });

  it('keeps every route of a domain:port under one prefix', () => {
    const prefix = httpDomainPrefix('a.com', 0);
    for (const r of [http('a.com'), http('a.com', '/x/'), http('a.com', '/x/y/')]) {
      expect(claimedKeys(r)[0].startsWith(prefix)).toBe(true);
    }
    expect(claimedKeys(http('a.com', '/', 8080))[0].startsWith(prefix)).toBe(false);
    expect(claimedKeys(http('a.com.evil'))[0].startsWith(prefix)).toBe(false);
  });
});

describe('validateDelete', () => {
  it('refuses deleting "/" while sub-paths exist on its domain:port', () => {
    const root = http('a.com');
    const sub = http('a.com', '/x/');
    expect(validateDelete(root, [root, sub])).toEqual({
      code: 'validation_error',
      message: 'Route has dependent routes',
      reason: 'default route for a.com has dependent routes',
    });
    expect(validateDelete(sub, [root, sub])).toBeUndefined();
    expect(validateDelete(root, [root, http('a.com', '/x/', 8080), http('b.com', '/x/')])).toBeUndefined();
    expect(validateDelete(tcp(3000), [])).toBeUndefined();
  });
});

describe('validateUpdate', () => {
  const root = http('a.com', '/', 0, { id: 'r1', created_at: '2020-01-01T00:00:00Z' });
  const sub = http('a.com', '/x/', 0, { id: 'r2' });
  const t = tcp(3001, { id: 't1' });
  const all = [root, sub, t];

  it('keeps id, created_at, domain and drain_backends; bumps updated_at', () => {
    const r = validateUpdate(
      { service: 'v2', domain: 'A.com', drain_backends: true, sticky: true },
      root,
      all,
      opts,
    );
    expect(r.error).toBeUndefined();
    expect(r.route).toMatchObject({
      id: 'r1',
      type: 'http',
      service: 'v2',
      domain: 'a.com',
      drain_backends: false,
      sticky: true,
      created_at: '2020-01-01T00:00:00Z',
      updated_at: '2024-05-06T07:08:09.12Z',
    });
  });

  it('a different domain is 404', () => {
    expect(validateUpdate({ service: 'w', domain: 'b.com' }, root, all, opts).error).toMatchObject({
      code: 'object_not_found',
    });
  });

  it('applies the create rules against the other routes', () => {
    expect(validateUpdate({ service: 'w', path: '/x/' }, root, all, opts).error?.message).toBe(
      'Invalid route',
    );
    expect(validateUpdate({ service: 'w', path: '/y' }, sub, all, opts).route).toMatchObject({ path: '/y/' });
    expect(validateUpdate({ service: 'w', path: '/' }, sub, all, opts).error?.message).toBe(
      'Duplicate route',
    );
  });

  it('a TCP update needs a non-zero port', () => {
    expect(validateUpdate({ service: 'db' }, t, all, opts).error?.field).toBe('port');
    expect(validateUpdate({ service: 'db', port: 3001 }, t, all, opts).route?.port).toBe(3001);
    expect(validateUpdate({ service: 'db', port: 3002 }, t, [...all, tcp(3002)], opts).error?.message).toBe(
      'Duplicate route',
    );
  });
});

import { describe, expect, it } from 'vitest';
import {
  type HTTPRoute,
  MANAGED_WILDCARD,
  routeToJSON,
  validateRoute,
  validateUpdate,
} from '../src/index.js';
import { fixture } from './helpers.js';

// managed_certificate on routes (issue 18): what a user may ask, what the API sets, what an
// update keeps.

const opts = { now: new Date('2024-05-06T07:08:09Z'), newId: () => 'id1' };
const later = { ...opts, now: new Date('2024-05-07T00:00:00Z') };

function create(extra: Record<string, unknown>, domain = 'a.example.com') {
  return validateRoute({ type: 'http', service: 'web', domain, ...extra }, [], opts);
}

function managedRoute(status: 'pending' | 'issued' = 'issued'): HTTPRoute {
  const r = create({ managed_certificate: {} }).route as HTTPRoute;
  r.managed_certificate!.status = status;
  if (status === 'issued') {
    r.certificate = {
      id: 'c1',
      cert: fixture('example.crt').trim(),
      key: fixture('example.key').trim(),
      created_at: r.created_at,
      updated_at: r.created_at,
    };
    r.managed_certificate!.certificate_id = 'c1';
  }
  return r;
}

describe('managed_certificate on create', () => {
  it('defaults to the route domain, pending, with the API times', () => {
    const r = create({ managed_certificate: {} });
    expect(r.route).toMatchObject({
      managed_certificate: {
        domain: 'a.example.com',
        status: 'pending',
        created_at: '2024-05-06T07:08:09Z',
        updated_at: '2024-05-06T07:08:09Z',
      },
    });
    expect(routeToJSON(r.route!).managed_certificate).toEqual(
      r.route!.type === 'http' && r.route.managed_certificate,
    );
  });

  it('takes only the domain from the user (status and the rest are the API’s)', () => {
    const r = create({
      managed_certificate: { domain: 'A.Example.com', status: 'issued', certificate_id: 'x' },
    });
    expect(r.route).toMatchObject({ managed_certificate: { domain: 'a.example.com', status: 'pending' } });
    expect(r.route?.type === 'http' && r.route.managed_certificate?.certificate_id).toBeFalsy();
  });

  it('is omitted from the JSON when absent', () => {
    expect(routeToJSON(create({}).route!)).not.toHaveProperty('managed_certificate');
  });

  it('accepts a name under a wildcard route and any name on the catch-all', () => {
    expect(create({ managed_certificate: { domain: 'b.example.com' } }, '*.example.com').route).toBeDefined();
    expect(create({ managed_certificate: { domain: 'x.test' } }, '*').route).toBeDefined();
  });

  it.each([
    [{ domain: '*.example.com' }, 'a.example.com', MANAGED_WILDCARD],
    [{}, '*.example.com', MANAGED_WILDCARD],
    [{}, '*', MANAGED_WILDCARD],
    [{ domain: '10.0.0.1' }, 'a.example.com', /IP address/],
    [{ domain: '::1' }, 'a.example.com', /IP address/],
    [{ domain: 'other.org' }, 'a.example.com', /other.org is not served by this route/],
    [{ domain: 'b.a.example.com' }, '*.example.com', /not served by this route/],
    [{ domain: 'bad name' }, 'a.example.com', /invalid domain/],
    [{ domain: 5 }, 'a.example.com', /must be a string/],
  ])('refuses %j on %s', (managed, domain, reason) => {
    const r = create({ managed_certificate: managed }, domain);
    expect(r.error).toMatchObject({
      code: 'validation_error',
      message: 'Invalid route',
      field: 'managed_certificate.domain',
    });
    expect(r.error!.reason).toMatch(reason);
  });

  it('keeps a user certificate beside it until one is issued', () => {
    const withCert = create({
      managed_certificate: {},
      certificate: { cert: fixture('example.crt'), key: fixture('example.key') },
    }).route as HTTPRoute;
    expect(withCert.managed_certificate).toMatchObject({ status: 'pending' });
    expect(withCert.certificate?.cert).toBe(fixture('example.crt').trim());
  });

  it('refuses one on a sub-path route, and a second one for the same name on the same port', () => {
    const root = create({}).route as HTTPRoute;
    const sub = validateRoute(
      { type: 'http', service: 'web', domain: 'a.example.com', path: '/api/', managed_certificate: {} },
      [root],
      opts,
    );
    expect(sub.error).toMatchObject({
      code: 'validation_error',
      field: 'managed_certificate.domain',
      reason: /"\/" route/,
    });
    const wild = validateRoute(
      {
        type: 'http',
        service: 'web',
        domain: '*.example.com',
        managed_certificate: { domain: 'a.example.com' },
      },
      [],
      { ...opts, newId: () => 'w1' },
    ).route as HTTPRoute;
    const again = validateRoute(
      { type: 'http', service: 'web', domain: 'a.example.com', managed_certificate: {} },
      [wild],
      opts,
    );
    expect(again.error).toMatchObject({ field: 'managed_certificate.domain' });
    expect(again.error!.reason).toBe(
      'a.example.com already has a managed certificate on route http/w1 (domain *.example.com)',
    );
    const otherPort = validateRoute(
      { type: 'http', service: 'web', domain: 'a.example.com', port: 8080, managed_certificate: {} },
      [wild],
      { ...opts, httpPorts: [80, 8080] },
    );
    expect(otherPort.route).toBeDefined();
  });

  it('refuses a TCP route and a renew', () => {
    const tcp = validateRoute({ type: 'tcp', service: 'db', port: 3001, managed_certificate: {} }, [], opts);
    expect(tcp.error).toMatchObject({ field: 'managed_certificate.domain', reason: /HTTP routes only/ });
    expect(create({ managed_certificate: { renew: true } }).error).toMatchObject({
      field: 'managed_certificate.renew',
    });
    expect(create({ managed_certificate: 'yes' }).error).toMatchObject({ field: 'managed_certificate' });
  });
});

describe('managed_certificate on update', () => {
  it('keeps the state and the issued certificate when not mentioned', () => {
    const cur = managedRoute();
    const up = validateUpdate({ service: 'web', sticky: true }, cur, [cur], later).route as HTTPRoute;
    expect(up.managed_certificate).toEqual(cur.managed_certificate);
    expect(up.certificate).toEqual(cur.certificate);
    expect(up.sticky).toBe(true);
  });

  it('keeps them when a client echoes the route back (JSON with the state and the certificate)', () => {
    const cur = managedRoute();
    const echo = { ...routeToJSON(cur), leader: true };
    const up = validateUpdate(echo, cur, [cur], later).route as HTTPRoute;
    expect(up.managed_certificate).toEqual(cur.managed_certificate);
    expect(up.certificate?.id).toBe('c1');
    expect(up.leader).toBe(true);
  });

  it('null removes the state and leaves the issued certificate as a normal one', () => {
    const cur = managedRoute();
    const up = validateUpdate({ service: 'web', managed_certificate: null }, cur, [cur], later)
      .route as HTTPRoute;
    expect(up.managed_certificate).toBeUndefined();
    expect(up.certificate?.id).toBe('c1');
  });

  it('renew sets an issued certificate renewing, and only an issued one', () => {
    const cur = managedRoute();
    const up = validateUpdate({ service: 'web', managed_certificate: { renew: true } }, cur, [cur], later);
    expect((up.route as HTTPRoute).managed_certificate).toMatchObject({
      status: 'renewing',
      certificate_id: 'c1',
      updated_at: '2024-05-07T00:00:00Z',
    });
    const pending = managedRoute('pending');
    const no = validateUpdate(
      { service: 'web', managed_certificate: { renew: true } },
      pending,
      [pending],
      later,
    );
    expect(no.error).toMatchObject({ field: 'managed_certificate.renew', reason: /it is pending/ });
  });

  it('another domain starts over as pending; a user certificate beside it is refused', () => {
    const cur = validateRoute(
      {
        type: 'http',
        service: 'web',
        domain: '*.example.com',
        managed_certificate: { domain: 'a.example.com' },
      },
      [],
      opts,
    ).route as HTTPRoute;
    cur.managed_certificate!.status = 'issued';
    const up = validateUpdate(
      { service: 'web', managed_certificate: { domain: 'b.example.com' } },
      cur,
      [cur],
      later,
    );
    expect((up.route as HTTPRoute).managed_certificate).toMatchObject({
      domain: 'b.example.com',
      status: 'pending',
      created_at: '2024-05-07T00:00:00Z',
    });
    const own = validateUpdate(
      { service: 'web', certificate: { cert: fixture('other.crt'), key: fixture('other.key') } },
      managedRoute(),
      [],
      later,
    );
    expect(own.error).toMatchObject({ field: 'managed_certificate.domain', reason: /own certificate/ });
  });

  it('takes a user certificate while pending or failed, refuses it once issued', () => {
    const own = { cert: fixture('example.crt'), key: fixture('example.key') };
    for (const status of ['pending', 'failed'] as const) {
      const cur = managedRoute('pending');
      cur.managed_certificate!.status = status;
      const up = validateUpdate({ service: 'web', certificate: own }, cur, [cur], later).route as HTTPRoute;
      expect(up.certificate?.cert).toBe(own.cert.trim());
      expect(up.managed_certificate?.status).toBe(status);
    }
    const renewing = managedRoute();
    renewing.managed_certificate!.status = 'renewing';
    const other = { cert: fixture('other.crt'), key: fixture('other.key') };
    expect(validateUpdate({ service: 'web', certificate: other }, renewing, [], later).error).toMatchObject({
      reason: /is issued/,
    });
  });

  it('ignores a stale echo of a certificate a renewal replaced (an id and created_at from a GET)', () => {
    const cur = managedRoute();
    const stale = {
      ...routeToJSON(cur),
      certificate: {
        id: 'c0',
        cert: fixture('other.crt'),
        key: fixture('other.key'),
        created_at: '2024-01-01T00:00:00Z',
      },
      sticky: true,
    };
    const up = validateUpdate(stale, cur, [cur], later).route as HTTPRoute;
    expect(up.certificate?.id).toBe('c1');
    expect(up.sticky).toBe(true);
  });

  it('keeps a managed route on "/" and its name unique when updated', () => {
    const cur = managedRoute('pending');
    const root = create({}, 'a.example.com').route as HTTPRoute;
    root.id = 'root';
    const moved = validateUpdate({ service: 'web', path: '/api/' }, cur, [cur, root], later);
    expect(moved.error).toMatchObject({ field: 'managed_certificate.domain', reason: /"\/" route/ });
  });

  it('adds a managed certificate to a route that had none', () => {
    const cur = create({}).route!;
    const up = validateUpdate({ service: 'web', managed_certificate: {} }, cur, [cur], later);
    expect((up.route as HTTPRoute).managed_certificate).toMatchObject({ status: 'pending' });
  });
});

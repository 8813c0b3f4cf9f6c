import { createHash } from 'node:crypto';
import { type HTTPRoute, routeToJSON } from '@flynn-edge/router-core';
import { generateSelfSigned } from '@flynn-edge/tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateKey, certificateRouteKey, certificateShaKey, type RouteStore } from '../src/index.js';
import { newStore, rejection, TestDiscoverd } from './helpers.js';

// Managed certificates in the store (issue 18): the API side of the route record, and the
// issuer's write (recordManagedCertificate) against a real in-process discoverd.

let d: TestDiscoverd;
let store: RouteStore;
let n = 0;
const dom = () => `m${++n}.managed.test`;

/** A fresh self-signed certificate for `name`, as the issuer's CA would sign one. */
function pair(name: string, days = 90): { cert: string; key: string } {
  const p = generateSelfSigned({ names: [name], days });
  return { cert: p.certPem, key: p.keyPem };
}

async function managed(domain = dom(), extra: Record<string, unknown> = {}): Promise<HTTPRoute> {
  return (await store.createRoute({
    type: 'http',
    service: 'web',
    domain,
    managed_certificate: {},
    ...extra,
  })) as HTTPRoute;
}

beforeAll(async () => {
  d = await new TestDiscoverd().start();
  store = newStore(d);
});
afterAll(async () => {
  await d?.close();
});

describe('managed_certificate through the store', () => {
  it('is created pending and refused with a one-line validation_error', async () => {
    const r = await managed();
    expect(r.managed_certificate).toMatchObject({ domain: r.domain, status: 'pending' });
    expect(routeToJSON(await store.getRoute('http', r.id!)).managed_certificate).toMatchObject({
      status: 'pending',
    });
    const wild = await rejection(
      store.createRoute({
        type: 'http',
        service: 'web',
        domain: dom(),
        managed_certificate: { domain: '*.x.test' },
      }),
    );
    expect(wild).toMatchObject({
      status: 400,
      code: 'validation_error',
      detail: { field: 'managed_certificate.domain', reason: /wildcard/ },
    });
  });

  it('keeps the state across a user update; null removes it; renew needs an issued one', async () => {
    const r = await managed();
    const up = (await store.updateRoute('http', r.id!, { service: 'web2' })) as HTTPRoute;
    expect(up.managed_certificate).toEqual(r.managed_certificate);
    const renew = await rejection(
      store.updateRoute('http', r.id!, { service: 'web2', managed_certificate: { renew: true } }),
    );
    expect(renew).toMatchObject({ status: 400, detail: { field: 'managed_certificate.renew' } });
    const off = (await store.updateRoute('http', r.id!, {
      service: 'web2',
      managed_certificate: null,
    })) as HTTPRoute;
    expect(off.managed_certificate).toBeUndefined();
  });
});

describe('managed_certificate placement and certificates', () => {
  it('is refused on a sub-path route and twice for one name on one port', async () => {
    const r = await managed();
    const sub = await rejection(
      store.createRoute({
        type: 'http',
        service: 'web',
        domain: r.domain,
        path: '/x/',
        managed_certificate: {},
      }),
    );
    expect(sub).toMatchObject({
      status: 400,
      code: 'validation_error',
      detail: { field: 'managed_certificate.domain', reason: /"\/" route/ },
    });
    const parent = r.domain.slice(r.domain.indexOf('.') + 1);
    const twice = await rejection(
      store.createRoute({
        type: 'http',
        service: 'web',
        domain: `*.${parent}`,
        managed_certificate: { domain: r.domain },
      }),
    );
    expect(twice).toMatchObject({
      status: 400,
      code: 'validation_error',
      detail: {
        field: 'managed_certificate.domain',
        reason: `${r.domain} already has a managed certificate on route http/${r.id} (domain ${r.domain})`,
      },
    });
    // The other way round: the wildcard route first, then the name's own route.
    const n2 = `x${++n}.managed.test`;
    const wild = await store.createRoute({
      type: 'http',
      service: 'web',
      domain: `*.${n2}`,
      managed_certificate: { domain: `y.${n2}` },
    });
    const clash = await rejection(
      store.createRoute({
        type: 'http',
        service: 'web',
        domain: `y.${n2}`,
        managed_certificate: {},
      }),
    );
    expect(clash).toMatchObject({ status: 400, detail: { reason: new RegExp(`http/${wild.id}`) } });
    // Two at once: one wins.
    const n3 = `z${++n}.managed.test`;
    const raced = await Promise.allSettled([
      store.createRoute({ type: 'http', service: 'web', domain: `a.${n3}`, managed_certificate: {} }),
      store.createRoute({
        type: 'http',
        service: 'web',
        domain: `*.${n3}`,
        managed_certificate: { domain: `a.${n3}` },
      }),
    ]);
    expect(raced.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
  });

  it('ignores a stale echoed certificate on a managed route (a renewal between GET and PUT)', async () => {
    const r = await managed();
    const issued = (await store.recordManagedCertificate(r.id!, {
      state: { status: 'issued' },
      certificate: pair(r.domain),
    })) as HTTPRoute;
    const got = routeToJSON(await store.getRoute('http', r.id!));
    await store.updateRoute('http', r.id!, { service: 'web', managed_certificate: { renew: true } });
    const renewed = (await store.recordManagedCertificate(r.id!, {
      expect: 'renewing',
      state: { status: 'issued' },
      certificate: pair(r.domain),
    })) as HTTPRoute;
    expect(renewed.certificate!.id).not.toBe(issued.certificate!.id);
    const up = (await store.updateRoute('http', r.id!, { ...got, sticky: true })) as HTTPRoute;
    expect(up.sticky).toBe(true);
    expect(up.certificate!.id).toBe(renewed.certificate!.id);
    expect(up.managed_certificate!.status).toBe('issued');
  });
});

describe('recordManagedCertificate', () => {
  it('installs the certificate as a PUT would, with its validity in the state', async () => {
    const r = await managed();
    const p = pair(r.domain);
    const got = (await store.recordManagedCertificate(r.id!, {
      expect: 'pending',
      state: { status: 'issued' },
      certificate: p,
    })) as HTTPRoute;
    const stored = (await store.getRoute('http', r.id!)) as HTTPRoute;
    expect(stored).toEqual(JSON.parse(JSON.stringify(got)));
    const id = stored.certificate!.id!;
    expect(stored.certificate!.cert).toBe(p.cert.trim());
    expect(stored.managed_certificate).toMatchObject({
      domain: r.domain,
      status: 'issued',
      certificate_id: id,
      created_at: r.managed_certificate!.created_at,
    });
    const days =
      (Date.parse(stored.managed_certificate!.expires_at!) -
        Date.parse(stored.managed_certificate!.not_before!)) /
      86_400_000;
    expect(Math.round(days)).toBe(90);
    expect(await d.client().kv.get(certificateKey(id))).not.toBeNull();
    expect(await d.client().kv.get(certificateRouteKey(id, r.id!))).not.toBeNull();
    expect((await store.getCertificate(id)).routes).toEqual([r.id]);
    const sha = createHash('sha256').update(stored.certificate!.cert!).digest('hex');
    expect((await d.client().kv.get(certificateShaKey(sha)))?.value).toBe(id);
  });

  it('renews: the new certificate replaces the old one on the route; a user update keeps it', async () => {
    const r = await managed();
    await store.recordManagedCertificate(r.id!, { state: { status: 'issued' }, certificate: pair(r.domain) });
    const first = ((await store.getRoute('http', r.id!)) as HTTPRoute).certificate!.id!;
    const renewing = (await store.updateRoute('http', r.id!, {
      service: 'web',
      managed_certificate: { renew: true },
    })) as HTTPRoute;
    expect(renewing.managed_certificate).toMatchObject({ status: 'renewing', certificate_id: first });
    expect(renewing.certificate?.id).toBe(first);
    // A stale issuer (expecting pending) loses; the one expecting renewing wins.
    expect(
      await store.recordManagedCertificate(r.id!, { expect: 'pending', state: { status: 'issued' } }),
    ).toBeUndefined();
    const renewed = (await store.recordManagedCertificate(r.id!, {
      expect: 'renewing',
      state: { status: 'issued' },
      certificate: pair(r.domain),
    })) as HTTPRoute;
    const second = renewed.certificate!.id!;
    expect(second).not.toBe(first);
    expect(renewed.managed_certificate).toMatchObject({ status: 'issued', certificate_id: second });
    // The replaced certificate was the issuer's and no other route's: its keys are gone.
    expect(await rejection(store.getCertificate(first))).toMatchObject({ status: 404 });
    expect(await d.client().kv.list(`certificate-routes/${first}/`)).toMatchObject({ entries: [] });
    expect((await store.getCertificate(second)).routes).toEqual([r.id]);
    // A user update (the CLI echoes the route JSON back) keeps the issued certificate and state.
    const echoed = (await store.updateRoute('http', r.id!, {
      ...routeToJSON(renewed),
      sticky: true,
    })) as HTTPRoute;
    expect(echoed.certificate?.id).toBe(second);
    expect(echoed.managed_certificate).toEqual(renewed.managed_certificate);
    expect((await store.getCertificate(second)).routes).toEqual([r.id]);
    // null: no longer managed, but the certificate stays attached as a normal one.
    const off = (await store.updateRoute('http', r.id!, {
      service: 'web',
      managed_certificate: null,
    })) as HTTPRoute;
    expect(off.managed_certificate).toBeUndefined();
    expect(off.certificate?.id).toBe(second);
  });

  it('keeps a replaced certificate another route uses, and the user certificate it replaced', async () => {
    const r = await managed();
    const d0 = r.domain;
    // The user's certificate serves while pending (here one made for the name).
    const mine = pair(d0);
    const withOwn = (await store.updateRoute('http', r.id!, {
      service: 'web',
      certificate: mine,
    })) as HTTPRoute;
    expect(withOwn.managed_certificate?.status).toBe('pending');
    const userCert = withOwn.certificate!.id!;
    const first = (await store.recordManagedCertificate(r.id!, {
      expect: 'pending',
      state: { status: 'issued' },
      certificate: pair(d0),
    })) as HTTPRoute;
    // Not the issuer's: the user's certificate stays in the store, unattached.
    expect((await store.getCertificate(userCert)).routes).toEqual([]);
    // A sub-path route takes the issued chain (reused by digest).
    const sub = (await store.createRoute({
      type: 'http',
      service: 'web',
      domain: d0,
      path: '/api/',
      certificate: { cert: first.certificate!.cert, key: first.certificate!.key },
    })) as HTTPRoute;
    expect(sub.certificate?.id).toBe(first.certificate!.id);
    await store.updateRoute('http', r.id!, { service: 'web', managed_certificate: { renew: true } });
    await store.recordManagedCertificate(r.id!, {
      expect: 'renewing',
      state: { status: 'issued' },
      certificate: pair(d0),
    });
    expect((await store.getCertificate(first.certificate!.id!)).routes).toEqual([sub.id]);
  });

  it('expect with the domain and created_at: a write for an earlier request is Gone', async () => {
    const r = (await store.createRoute({
      type: 'http',
      service: 'web',
      domain: `*.w${++n}.managed.test`,
      managed_certificate: { domain: `a.w${n}.managed.test` },
    })) as HTTPRoute;
    const asked = r.managed_certificate!;
    const other = (await store.updateRoute('http', r.id!, {
      service: 'web',
      managed_certificate: { domain: `b.w${n}.managed.test` },
    })) as HTTPRoute;
    const stale = { status: 'pending' as const, domain: asked.domain, created_at: asked.created_at };
    expect(
      await store.recordManagedCertificate(r.id!, {
        expect: stale,
        state: { status: 'failed', attempts: 1 },
      }),
    ).toBeUndefined();
    const wrongTime = {
      ...stale,
      domain: other.managed_certificate!.domain,
      created_at: '2000-01-01T00:00:00Z',
    };
    expect(
      await store.recordManagedCertificate(r.id!, { expect: wrongTime, state: { status: 'failed' } }),
    ).toBeUndefined();
    const now = other.managed_certificate!;
    const ok = (await store.recordManagedCertificate(r.id!, {
      expect: { status: 'pending', domain: now.domain, created_at: now.created_at },
      state: { status: 'failed', attempts: 1 },
    })) as HTTPRoute;
    expect(ok.managed_certificate).toMatchObject({ domain: now.domain, status: 'failed', attempts: 1 });
  });

  it('records a failure and clears it on success', async () => {
    const r = await managed();
    const failed = (await store.recordManagedCertificate(r.id!, {
      expect: 'pending',
      state: { status: 'failed', last_error: 'urn:ietf:params:acme:error:dns: NXDOMAIN', attempts: 1 },
    })) as HTTPRoute;
    expect(failed.managed_certificate).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_error: /NXDOMAIN/,
    });
    expect(failed.certificate).toBeUndefined();
    const ok = (await store.recordManagedCertificate(r.id!, {
      expect: 'failed',
      state: { status: 'issued' },
      certificate: pair(r.domain),
    })) as HTTPRoute;
    const stored = (await store.getRoute('http', r.id!)) as HTTPRoute;
    expect(stored.managed_certificate).not.toHaveProperty('last_error');
    expect(stored.managed_certificate).not.toHaveProperty('attempts');
    expect(ok.managed_certificate?.status).toBe('issued');
  });

  it('answers undefined for a missing route, an unmanaged one, or a lost race; never throws for one', async () => {
    expect(await store.recordManagedCertificate('nope', { state: { status: 'failed' } })).toBeUndefined();
    const plain = await store.createRoute({ type: 'http', service: 'web', domain: dom() });
    expect(await store.recordManagedCertificate(plain.id!, { state: { status: 'failed' } })).toBeUndefined();
    const r = await managed();
    const results = await Promise.all(
      [1, 2, 3].map((i) =>
        store.recordManagedCertificate(r.id!, {
          expect: 'pending',
          state: { status: 'failed', last_error: `attempt ${i}` },
        }),
      ),
    );
    expect(results.filter((x) => x !== undefined)).toHaveLength(1);
    expect(((await store.getRoute('http', r.id!)) as HTTPRoute).managed_certificate?.status).toBe('failed');
  });

  it('refuses a certificate that does not cover the managed name', async () => {
    const r = await managed();
    const wrong = await rejection(
      store.recordManagedCertificate(r.id!, { state: { status: 'issued' }, certificate: pair('other.test') }),
    );
    expect(wrong).toMatchObject({ status: 400, code: 'validation_error' });
    expect(((await store.getRoute('http', r.id!)) as HTTPRoute).managed_certificate?.status).toBe('pending');
  });
});

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
    expect((await store.getCertificate(first)).routes).toEqual([]);
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

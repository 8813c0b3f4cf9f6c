import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:tls';
import { acmeKeys, type ManagedCertificate } from '@flynn-edge/router-core';
import { requireCommand, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedAccount } from '../src/account.js';
import { configureAcmeHttp } from '../src/http.js';
import { Issuer, type IssuerOptions } from '../src/issuer.js';
import { FakeAcme, HOSTS, IssuerWorld, TestRouteStore } from './helpers.js';

// The issuer against real pebble and a real store: an issuance whose chain verifies against
// pebble's root, a failure recorded with pebble's own message and retried with backoff, and two
// issuers that both believe they lead ending with one account and one order per route; a write
// that meets contention retried with the same certificate; against a fake directory, a rate limit
// recorded with its Retry-After, and an order aborted on a step-down or at its deadline.

const tools = requireCommand('pebble', 'pebble');
const world = new IssuerWorld();
const issuers: Issuer[] = [];

function issuer(store: TestRouteStore, over: Partial<IssuerOptions> = {}): Issuer {
  const i = new Issuer({
    kv: world.client.kv,
    store,
    account: { directoryUrl: world.pebble.directoryUrl, contact: ['ops@example.test'], termsAgreed: true },
    isLeader: () => true,
    id: () => 'issuer-a',
    liveIssuers: async () => new Set(['issuer-a', 'issuer-b']),
    timing: { pollMs: 200, statusPollMs: 100, backoffBaseMs: 400, backoffMaxMs: 5000 },
    awaitLocal: async (domain, token, keyAuth) => {
      await waitFor(
        () => world.challenges.answer(domain, `/.well-known/acme-challenge/${token}`) === keyAuth,
        {
          what: 'the challenge in the local table',
        },
      );
    },
    ...(process.env.DEBUG_ACME
      ? {
          log: {
            info: (o: object, m?: string) => console.log(m, JSON.stringify(o)),
            warn: (o: object, m?: string) => console.log(m, JSON.stringify(o)),
            error: (o: object, m?: string) => console.log(m, JSON.stringify(o)),
          },
        }
      : {}),
    ...over,
  });
  issuers.push(i);
  return i;
}

/** The route's managed state once it is `failed`. */
function failed(
  store: TestRouteStore,
  id: string,
  timeoutMs: number,
  what: string,
): Promise<ManagedCertificate> {
  return waitFor(
    async () => {
      const m = (await store.get(id)).managed_certificate!;
      return m.status === 'failed' && m;
    },
    { timeoutMs, what },
  );
}

/** Serves the certificate over TLS and connects trusting only pebble's root. */
async function verifies(domain: string, c: { cert: string; key: string }): Promise<boolean> {
  const root = await world.pebble.rootPem();
  const server = createServer({ cert: c.cert, key: c.key }, (s) => s.end());
  server.listen(0, HOSTS.web);
  await once(server, 'listening');
  try {
    const sock = connect({
      host: HOSTS.web,
      port: (server.address() as AddressInfo).port,
      servername: domain,
      ca: root,
    });
    await once(sock, 'secureConnect');
    const ok = sock.authorized;
    sock.destroy();
    return ok;
  } finally {
    server.close();
  }
}

describe.skipIf(!tools.available)('ACME issuer against pebble', () => {
  beforeAll(async () => {
    configureAcmeHttp({
      caPem: (await import('node:fs')).readFileSync(world.pebble.caFile, 'utf8'),
      retries: 1,
    });
    await world.start();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(issuers.map((i) => i.close(true)));
    await world.close();
  });

  it('issues a pending route: the chain verifies against pebble’s root and the token is removed', async () => {
    const store = new TestRouteStore(world.client.kv);
    await world.pebble.addA('www.issue.test', HOSTS.web);
    await store.add('r1', 'www.issue.test');
    issuer(store).start();
    const r = await waitFor(
      async () => {
        const r = await store.get('r1');
        return r.managed_certificate?.status === 'issued' && r;
      },
      { timeoutMs: 30_000, what: 'r1 issued' },
    );
    const m = r.managed_certificate!;
    expect(m.attempts).toBe(0);
    expect(m.last_error).toBeUndefined();
    expect(Date.parse(m.expires_at!)).toBeGreaterThan(Date.now());
    expect(world.served).toBeGreaterThan(0);
    expect(await verifies('www.issue.test', store.certificates.get('r1')!)).toBe(true);
    expect((await world.client.kv.list(acmeKeys.challengesPrefix)).entries).toEqual([]);
    const account = await world.client.kv.get(acmeKeys.account);
    expect(JSON.parse(account!.value).url).toMatch(/^https:/);
  }, 40_000);

  it('refuses to create an account without agreeing to the terms, saying how on the route', async () => {
    await world.client.kv.delete(acmeKeys.account);
    const store = new TestRouteStore(world.client.kv);
    await world.pebble.addA('terms.issue.test', HOSTS.web);
    await store.add('terms', 'terms.issue.test');
    const i = issuer(store, {
      account: { directoryUrl: world.pebble.directoryUrl, contact: [], termsAgreed: false },
    });
    i.start();
    const m = await failed(store, 'terms', 20_000, 'the terms failure');
    await i.close(true);
    expect(m.last_error).toMatch(/terms of service.*ACME_TERMS_AGREED=true/);
    expect(i.ordersStarted).toBe(1);
  }, 30_000);

  it("records pebble's error on a domain that does not resolve and retries with backoff", async () => {
    const store = new TestRouteStore(world.client.kv);
    await store.add('bad', 'nowhere.issue.test');
    issuer(store).start();
    const first = await failed(store, 'bad', 30_000, 'a failure recorded');
    expect(first.attempts).toBe(1);
    expect(first.last_error).toMatch(/nowhere\.issue\.test/);
    expect(first.last_error).not.toContain('\n');
    const wait1 = Date.parse(first.next_attempt_at!) - Date.parse(first.updated_at);
    expect(wait1).toBeGreaterThan(300);
    expect(wait1).toBeLessThan(1000);
    const second = await waitFor(
      async () => {
        const m = (await store.get('bad')).managed_certificate!;
        return m.attempts === 2 && m;
      },
      { timeoutMs: 30_000, what: 'a second attempt' },
    );
    // The retry came after the pause, and the next pause doubled.
    expect(Date.parse(second.updated_at)).toBeGreaterThanOrEqual(Date.parse(first.next_attempt_at!));
    const wait2 = Date.parse(second.next_attempt_at!) - Date.parse(second.updated_at);
    expect(wait2).toBeGreaterThan(600); // 800 ms ± 20%
    expect(second.last_error).toMatch(/nowhere\.issue\.test/);
    // Once it resolves, the next attempt issues.
    await world.pebble.addA('nowhere.issue.test', HOSTS.web);
    await waitFor(async () => (await store.get('bad')).managed_certificate?.status === 'issued', {
      timeoutMs: 30_000,
      what: 'issued after the domain resolves',
    });
  }, 90_000);

  it('two issuers that both lead end with one account and one order per route', async () => {
    await world.client.kv.delete(acmeKeys.account);
    const store = new TestRouteStore(world.client.kv);
    const domains = ['a.race.test', 'b.race.test', 'c.race.test', 'd.race.test'];
    for (const [i, d] of domains.entries()) {
      await world.pebble.addA(d, HOSTS.web);
      await store.add(`race-${i}`, d);
    }
    // Two routers creating the account at the same moment store one key.
    const [x, y] = await Promise.all([
      storedAccount(world.client.kv, { directoryUrl: world.pebble.directoryUrl, contact: [] }),
      storedAccount(world.client.kv, { directoryUrl: world.pebble.directoryUrl, contact: [] }),
    ]);
    expect(x.account.key_pem).toBe(y.account.key_pem);
    await world.client.kv.delete(acmeKeys.account);
    const a = issuer(store, { id: () => 'issuer-a' });
    const b = issuer(store, { id: () => 'issuer-b' });
    a.start();
    b.start();
    await waitFor(
      async () =>
        (await store.listRoutes()).every(
          (r) => r.type === 'http' && r.managed_certificate?.status === 'issued',
        ),
      { timeoutMs: 40_000, what: 'every race route issued' },
    );
    await Promise.all([a.close(true), b.close(true)]);
    expect(a.ordersStarted + b.ordersStarted).toBe(domains.length);
    for (const i of domains.keys()) expect(store.writes.get(`race-${i}`)).toBe(1);
    const stored = JSON.parse((await world.client.kv.get(acmeKeys.account))!.value);
    expect(stored.url).toMatch(/^https:/);
  }, 60_000);

  it('retries a contended write with the certificate it has, without ordering again', async () => {
    const store = new TestRouteStore(world.client.kv);
    await world.pebble.addA('contended.issue.test', HOSTS.web);
    await store.add('contended', 'contended.issue.test');
    store.contend = 2;
    const i = issuer(store, { storeExpectsRequest: true });
    i.start();
    await waitFor(async () => (await store.get('contended')).managed_certificate?.status === 'issued', {
      timeoutMs: 30_000,
      what: 'issued despite contention',
    });
    await i.close(true);
    expect(i.ordersStarted).toBe(1);
    expect(i.discarded).toBe(0);
    expect(store.writes.get('contended')).toBe(1);
    expect(store.offered.length).toBe(3);
    expect(new Set(store.offered.map((o) => o.cert)).size).toBe(1);
    expect(store.certificates.get('contended')?.cert).toBe(store.offered[0].cert);
  }, 40_000);

  describe('against a fake directory', () => {
    const fake = new FakeAcme();
    beforeAll(() => fake.start(HOSTS.web));
    afterAll(() => fake.close());
    const account = () => ({ directoryUrl: fake.directoryUrl, contact: [], termsAgreed: true });

    it('records a rate limit with the server’s Retry-After as the earliest retry', async () => {
      fake.answer = 'rate-limited';
      const store = new TestRouteStore(world.client.kv);
      await store.add('limited', 'limited.issue.test');
      const i = issuer(store, { account: account() });
      i.start();
      const m = await failed(store, 'limited', 10_000, 'the rate limit recorded');
      await i.close(true);
      expect(m.last_error).toBe('too many new registrations from this address');
      expect(Date.parse(m.next_attempt_at!) - Date.parse(m.updated_at)).toBeGreaterThan(7_190_000);
      expect(fake.accountPosts).toBe(1);
      expect(i.ordersStarted).toBe(1);
    }, 20_000);

    it('aborts its orders when it steps down, leaving them to the next issuer', async () => {
      fake.answer = 'hang';
      const store = new TestRouteStore(world.client.kv);
      await store.add('stepdown', 'stepdown.issue.test');
      let leading = true;
      const posts = fake.accountPosts;
      const i = issuer(store, { account: account(), isLeader: () => leading });
      i.start();
      await waitFor(() => fake.accountPosts > posts && i.ordersInFlight === 1, {
        what: 'the order under way',
      });
      leading = false;
      i.stepDown();
      await waitFor(() => i.ordersInFlight === 0, { timeoutMs: 5000, what: 'the order aborted' });
      const m = (await store.get('stepdown')).managed_certificate!;
      expect(m.status).toBe('pending');
      expect(m.attempts).toBeUndefined();
      expect(await world.client.kv.get(acmeKeys.order('stepdown'))).toBeNull();
      await i.close(true);
    }, 20_000);

    it('fails an order that outlives its deadline (before its claim may be taken over)', async () => {
      fake.answer = 'hang';
      const store = new TestRouteStore(world.client.kv);
      await store.add('slow', 'slow.issue.test');
      const i = issuer(store, {
        account: account(),
        timing: { pollMs: 200, statusPollMs: 100, backoffBaseMs: 60_000, claimTtlMs: 1000 },
      });
      i.start();
      const m = await failed(store, 'slow', 10_000, 'the deadline recorded');
      await i.close(true);
      expect(m.last_error).toMatch(/did not finish within 1 s/);
      expect(i.ordersStarted).toBe(1);
    }, 20_000);
  });
});

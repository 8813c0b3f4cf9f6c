import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteStore } from '../src/index.js';
import { newStore, TestDiscoverd } from './helpers.js';

// Two RouteStores on two clients (two routers) write at once: the KV transactions decide, and
// the loser gets the precise error from a re-read.

let d: TestDiscoverd;
let s1: RouteStore;
let s2: RouteStore;

beforeAll(async () => {
  d = await new TestDiscoverd().start();
  s1 = newStore(d, { tcpRange: { start: 3000, end: 3400 } });
  s2 = newStore(d, { tcpRange: { start: 3000, end: 3400 } });
});
afterAll(async () => {
  await d?.close();
});

async function settle<T>(ps: Promise<T>[]) {
  const rs = await Promise.allSettled(ps);
  return {
    ok: rs.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<T>).value),
    errs: rs
      .filter((r) => r.status === 'rejected')
      .map((r) => (r as PromiseRejectedResult).reason as { message: string }),
  };
}

describe('concurrent writers', () => {
  it('exactly one of two identical creates wins, every time', async () => {
    for (let i = 0; i < 40; i++) {
      const body = { type: 'http', service: 'race', domain: `race${i}.example` };
      const { ok, errs } = await settle([s1.createRoute(body), s2.createRoute(body)]);
      expect(ok).toHaveLength(1);
      expect(errs.map((e) => e.message)).toEqual(['Duplicate route']);
      expect(
        (await s1.listRoutes()).filter((r) => r.type === 'http' && r.domain === body.domain),
      ).toHaveLength(1);
    }
  });

  it('concurrent TCP creates on one port: one wins; port 0 hands out distinct never-used ports', async () => {
    for (let i = 0; i < 20; i++) {
      const body = { type: 'tcp', service: 'trace', port: 3200 + i };
      const { ok, errs } = await settle([s1.createRoute(body), s2.createRoute(body)]);
      expect(ok).toHaveLength(1);
      expect(errs[0]?.message).toBe('Duplicate route');
    }
    const { ok, errs } = await settle(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? s1 : s2).createRoute({ type: 'tcp', service: 'trace' })),
    );
    expect(errs).toEqual([]);
    const ports = ok.map((r) => r.port);
    expect(new Set(ports).size).toBe(8);
  });

  it('two first routes of a service with different drain_backends: one wins', async () => {
    for (let i = 0; i < 20; i++) {
      const svc = `drainrace${i}`;
      const { ok, errs } = await settle([
        s1.createRoute({ type: 'http', service: svc, domain: `dr${i}a.example`, drain_backends: true }),
        s2.createRoute({ type: 'http', service: svc, domain: `dr${i}b.example`, drain_backends: false }),
      ]);
      expect(ok).toHaveLength(1);
      expect(errs.map((e) => e.message)).toEqual(['Invalid route']);
    }
  });

  it('a sub-path create racing the delete of its / route never leaves an orphan', async () => {
    let created = 0;
    let deleted = 0;
    for (let i = 0; i < 40; i++) {
      const domain = `orphan${i}.example`;
      const root = await s1.createRoute({ type: 'http', service: 'o', domain });
      const { ok, errs } = await settle<unknown>([
        s1.deleteRoute('http', root.id!),
        s2.createRoute({ type: 'http', service: 'o', domain, path: '/sub/' }),
      ]);
      expect(ok).toHaveLength(1);
      expect(errs).toHaveLength(1);
      const left = (await s2.listRoutes()).filter((r) => r.type === 'http' && r.domain === domain);
      if (ok[0] === undefined) {
        // The delete won: the create saw no / route.
        deleted++;
        expect(left).toEqual([]);
        expect(errs[0]!.message).toBe('Invalid route');
      } else {
        created++;
        expect(left.map((r) => (r.type === 'http' ? r.path : '')).sort()).toEqual(['/', '/sub/']);
        expect(errs[0]!.message).toBe('Route has dependent routes');
      }
    }
    // Both outcomes happen (the race is real), and each is consistent.
    expect(created + deleted).toBe(40);
  });
});

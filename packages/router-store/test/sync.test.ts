import { DiscoverdClient, type FetchLike } from '@flynn-edge/discoverd-client';
import type { Route } from '@flynn-edge/router-core';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RouteStore, RouteSync } from '../src/index.js';
import { newStore, TestDiscoverd } from './helpers.js';

// RouteSync against a real discoverd: initial listing, live changes, compaction, restarts, and a
// partition long enough for the watch to give up (then the 2 s-style resync reconciles).

let d: TestDiscoverd;
let store: RouteStore;
const syncs: RouteSync[] = [];

beforeAll(async () => {
  d = await new TestDiscoverd().start();
  store = newStore(d);
});
afterAll(async () => {
  for (const s of syncs) s.stop();
  await d?.close();
});

/** A router's table as the handlers build it, with the call log. */
class Table {
  readonly routes = new Map<string, Route>();
  readonly log: string[] = [];
  readonly setAt = new Map<string, number>();
  /** What the sync logged (a handler that threw included). */
  readonly errors: unknown[] = [];
  synced = 0;
  set = (r: Route) => {
    if (
      r.type === 'http' &&
      r.path !== '/' &&
      ![...this.routes.values()].some((x) => x.type === 'http' && x.domain === r.domain && x.path === '/')
    ) {
      throw new Error(`sub-path ${r.domain}${r.path} before its / route`);
    }
    this.routes.set(r.id!, r);
    this.setAt.set(r.id!, performance.now());
    this.log.push(`set ${r.id}`);
  };
  remove = (r: Route) => {
    this.routes.delete(r.id!);
    this.log.push(`remove ${r.id}`);
  };
  synced_ = (rev: number) => {
    this.synced = rev;
  };
}

function startSync(client: DiscoverdClient, t: Table, extra = {}): RouteSync {
  const s = new RouteSync(
    client.kv,
    { set: t.set, remove: t.remove, synced: t.synced_ },
    { retryDelayMs: 50, log: (_m, e) => t.errors.push(e), ...extra },
  );
  syncs.push(s);
  return s;
}

describe('RouteSync', () => {
  it('lists (/ routes before sub-paths), then applies live creates, updates, moves and deletes', async () => {
    const domain = 'sync1.example';
    // Created sub-path-heavy so that key order alone would not do: z.sync1 sorts after sync1.
    const root = await store.createRoute({ type: 'http', service: 'web', domain });
    const subs = [];
    for (const p of ['/a/', '/b/c/', '/b/'])
      subs.push(await store.createRoute({ type: 'http', service: 'web', domain, path: p }));
    const tcp = await store.createRoute({ type: 'tcp', service: 'db', port: 3005 });

    const t = new Table();
    const s = startSync(d.client(), t);
    await s.start();
    expect(t.synced).toBeGreaterThan(0);
    expect(s.revision).toBe(t.synced);
    expect(t.log[0]).toBe(`set ${root.id}`);
    expect([...t.routes.keys()].sort()).toEqual([root.id, ...subs.map((x) => x.id), tcp.id].sort());
    const alive0 = s.lastAliveAt;
    expect(alive0).toBeGreaterThan(0);

    const live = await store.createRoute({ type: 'http', service: 'web', domain, path: '/live/' });
    await waitFor(() => t.routes.has(live.id!), { what: 'the live create' });
    expect(s.lastAliveAt).toBeGreaterThanOrEqual(alive0);
    // A sub-path create re-puts the / route unchanged: that is not a new set of it.
    expect(t.log.filter((l) => l === `set ${root.id}`)).toHaveLength(1);

    await store.updateRoute('http', live.id!, { service: 'web', path: '/moved/' });
    await waitFor(() => (t.routes.get(live.id!) as { path?: string })?.path === '/moved/', {
      what: 'the move',
    });
    expect(t.log.slice(-2)).toEqual([`remove ${live.id}`, `set ${live.id}`]);
    expect(t.routes.has(live.id!)).toBe(true);

    await store.deleteRoute('tcp', tcp.id!);
    await waitFor(() => !t.routes.has(tcp.id!), { what: 'the delete' });
    expect(s.revision).toBeGreaterThan(t.synced);
    expect(t.errors).toEqual([]);
  });

  it('re-lists and resumes after the server reports compaction', async () => {
    const t = new Table();
    const s = startSync(d.client(), t);
    const watchers = d.server.kvWatchers.count;
    await s.start();
    await waitFor(() => d.server.kvWatchers.count > watchers, { what: 'the watch to connect' });
    const before = s.listings;
    const st = d.server.state;
    d.server.kvWatchers.compactAll({ compact_revision: st.kvRevision(), revision: st.kvRevision() });
    await waitFor(() => s.listings > before, { what: 'a re-list after compaction' });
    const r = await store.createRoute({ type: 'http', service: 'web', domain: 'aftercompact.example' });
    await waitFor(() => t.routes.has(r.id!), { what: 'a create after compaction' });
  });

  it('lastAliveAt moves with the store probe while nothing changes', async () => {
    const t = new Table();
    const s = startSync(d.client(), t, { probeIntervalMs: 20 });
    await s.start();
    const first = s.lastAliveAt;
    const rev = s.revision;
    await waitFor(() => s.lastAliveAt > first, { what: 'a probe' });
    expect(s.revision).toBe(rev);
  });

  it('keeps going across a discoverd restart', async () => {
    const t = new Table();
    const s = startSync(d.client(), t);
    await s.start();
    await d.restart();
    const r = await store.createRoute({ type: 'http', service: 'web', domain: 'afterrestart.example' });
    await waitFor(() => t.routes.has(r.id!), { what: 'a create after the restart', timeoutMs: 15_000 });
    expect(s.revision).toBeGreaterThanOrEqual(t.synced);
    expect(t.errors).toEqual([]);
  });

  it('after a partition outlasting the watch, resyncs and reconciles what it missed', async () => {
    let cut = new AbortController();
    let partitioned = false;
    const fetchFn: FetchLike = (input, init) => {
      if (partitioned)
        return Promise.reject(
          Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }),
        );
      const signal = init.signal ? AbortSignal.any([init.signal, cut.signal]) : cut.signal;
      return globalThis.fetch(input, { ...init, signal });
    };
    const client = new DiscoverdClient({ servers: [d.url], env: {}, fetch: fetchFn, retryDeadlineMs: 200 });
    const doomed = await store.createRoute({ type: 'http', service: 'web', domain: 'doomed.example' });
    const t = new Table();
    const s = startSync(client, t, { reconnectWindowMs: 100 });
    await s.start();
    expect(t.routes.has(doomed.id!)).toBe(true);
    const listings = s.listings;

    partitioned = true;
    cut.abort(new Error('partition'));
    cut = new AbortController();
    await store.deleteRoute('http', doomed.id!);
    const born = await store.createRoute({ type: 'http', service: 'web', domain: 'born.example' });
    // Long enough for the watch to give up and a resync to fail at least once.
    await new Promise((r) => setTimeout(r, 400));
    expect(t.routes.has(doomed.id!)).toBe(true);
    partitioned = false;

    await waitFor(() => s.listings > listings && !t.routes.has(doomed.id!) && t.routes.has(born.id!), {
      what: 'the resync to reconcile',
    });
    expect(t.log).toContain(`remove ${doomed.id}`);
    // The watch gave up and at least one resync failed while cut off: both were logged.
    expect(t.errors.length).toBeGreaterThan(0);
    await client.close();
  });
});

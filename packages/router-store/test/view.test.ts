import type { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvMirror, RouteStore, RouteSync, type StoreView, serviceKey } from '../src/index.js';
import { newStore, rejection, STORE_OPTS, TestDiscoverd } from './helpers.js';

// Route writes planned from a router's synced view (RouteSync keepView): with a current view a
// write is one transaction and no read; a view that is behind costs a retry, never a wrong write.

let d: TestDiscoverd;
let client: DiscoverdClient;
let sync: RouteSync;
let plain: RouteStore;
const handed: string[] = [];

beforeAll(async () => {
  d = await new TestDiscoverd().start();
  client = d.client();
  sync = new RouteSync(
    client.kv,
    { set: (r) => handed.push(r.id!), remove() {}, synced() {} },
    { keepView: true, log: () => {} },
  );
  await sync.start();
  plain = newStore(d);
});
afterAll(async () => {
  sync?.stop();
  await d?.close();
});

/** The view once it holds every write so far. */
async function currentView(): Promise<StoreView> {
  const { revision } = await client.kv.list('', { limit: 1 });
  return waitFor(() => (sync.view && sync.view.revision >= revision ? sync.view : undefined), {
    what: `view at revision ${revision}`,
  });
}

/** A copy of the view as it is now, never updated again (a router whose watch stalled). */
async function frozenView(): Promise<StoreView> {
  const v = await currentView();
  const m = new KvMirror();
  m.reset(v.revision, v.list('route'));
  return m;
}

/** A store on its own client, counting the requests it sends. */
function countingStore(view: () => StoreView | undefined): { store: RouteStore; sent: string[] } {
  const c = d.client();
  const sent: string[] = [];
  const json = c.transport.json.bind(c.transport);
  c.transport.json = (method, path, opts) => {
    sent.push(`${method} ${path.split('?')[0]}`);
    return json(method, path, opts);
  };
  return { store: new RouteStore(c.kv, { ...STORE_OPTS, view }), sent };
}

async function serviceRecord(service: string): Promise<unknown> {
  const e = await client.kv.get(serviceKey(service));
  return e && JSON.parse(e.value);
}

describe('KvMirror', () => {
  it('answers gets and prefix lists at the revision of its last listing or batch', () => {
    const m = new KvMirror();
    const e = (key: string, rev: number) => ({
      key,
      value: key,
      create_revision: rev,
      mod_revision: rev,
      version: 1,
    });
    m.reset(5, [e('routes/http/b.test:80/', 3), e('routes/http/a.test:80/', 4), e('route-ids/http/1', 4)]);
    m.apply(6, [
      { type: 'put', key: 'routes/http/a.test:80/x', value: 'x', revision: 6 },
      { type: 'put', key: 'routes/http/a.test:80/', value: 'again', revision: 6 },
      { type: 'delete', key: 'routes/http/b.test:80/', revision: 6 },
    ]);
    expect(m.revision).toBe(6);
    expect(m.list('routes/http/a.test:80/').map((x) => [x.key, x.mod_revision])).toEqual([
      ['routes/http/a.test:80/', 6],
      ['routes/http/a.test:80/x', 6],
    ]);
    expect(m.get('routes/http/b.test:80/')).toBeNull();
    expect(m.get('route-ids/http/1')?.mod_revision).toBe(4);
    expect(m.covers('route-services/web')).toBe(true);
    expect(m.covers('certificates/1')).toBe(false);
  });
});

describe('writes planned from the view', () => {
  it('with a current view, a create, an update and a delete are one transaction each', async () => {
    await plain.createRoute({ type: 'http', service: 'v-web', domain: 'v-seed.test' });
    const { store, sent } = countingStore(() => sync.view);
    await currentView();
    const r = await store.createRoute({ type: 'http', service: 'v-web', domain: 'v-one.test' });
    await currentView();
    await store.updateRoute('http', r.id!, { service: 'v-web', sticky: true });
    await currentView();
    await store.deleteRoute('http', r.id!);
    expect(sent).toEqual(['POST /kv/txn', 'POST /kv/txn', 'POST /kv/txn']);
    expect(await serviceRecord('v-web')).toEqual({ drain_backends: false, routes: 1 });
    // The wider watch hands the router routes only (no route ids or service records).
    await waitFor(() => handed.includes(r.id!), { what: 'the route handed to the sync handlers' });
    expect(sync.routes().every((x) => x.type === 'http' || x.type === 'tcp')).toBe(true);
  });

  it("right after the store's own write, a view that has not caught up is not used", async () => {
    let view: StoreView | undefined;
    const { store, sent } = countingStore(() => view);
    view = await frozenView();
    await store.createRoute({ type: 'http', service: 'v-own', domain: 'v-own1.test' });
    sent.length = 0;
    await store.createRoute({ type: 'http', service: 'v-own', domain: 'v-own2.test' });
    expect(sent).toContain('GET /kv/route-services/v-own');
    expect(await serviceRecord('v-own')).toEqual({ drain_backends: false, routes: 2 });
  });

  it('a view that is behind never lets a conflicting or invalid route in', async () => {
    const old = await frozenView();
    const { store } = countingStore(() => old);
    const root = await plain.createRoute({ type: 'http', service: 'v-old', domain: 'v-stale.test' });
    await plain.createRoute({ type: 'tcp', service: 'v-old', port: 3005 });

    // The view has no such route: the transaction's compare refuses, the re-read explains.
    expect(
      (await rejection(store.createRoute({ type: 'http', service: 'x', domain: 'v-stale.test' }))).message,
    ).toBe('Duplicate route');
    expect((await rejection(store.createRoute({ type: 'tcp', service: 'x', port: 3005 }))).message).toBe(
      'Duplicate route',
    );
    // The view has no record of the service: the drain rule still holds.
    const drain = await rejection(
      store.createRoute({ type: 'http', service: 'v-old', domain: 'v-other.test', drain_backends: true }),
    );
    expect(drain.code).toBe('validation_error');
    // Refusals read from the view are checked again: the `/` route exists, the sub-path may.
    await store.createRoute({ type: 'http', service: 'v-old', domain: 'v-stale.test', path: '/sub/' });
    expect(await serviceRecord('v-old')).toEqual({ drain_backends: false, routes: 3 });
    // A `/` route the view thinks alone cannot be deleted from under its sub-path.
    expect((await rejection(store.deleteRoute('http', root.id!))).message).toBe('Route has dependent routes');
    // A route the view has never seen can be changed.
    await store.updateRoute('http', root.id!, { service: 'v-old', sticky: true });
    expect(await plain.getRoute('http', root.id!)).toMatchObject({ sticky: true });
  });
});

import type { Route } from '@flynn-edge/router-core';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RouteSync } from '../src/index.js';
import { newStore, TestDiscoverd } from './helpers.js';

// Propagation: every write acknowledged by the store reaches another client's RouteSync, in
// commit order. (How fast is measured by `npm run bench:router`, not asserted here.)

let d: TestDiscoverd;
beforeAll(async () => {
  d = await new TestDiscoverd().start();
});
afterAll(async () => {
  await d?.close();
});

it('delivers every acknowledged write to a watching RouteSync, in order', { timeout: 60_000 }, async () => {
  const store = newStore(d);
  const seen: string[] = [];
  const sync = new RouteSync(d.client().kv, {
    set: (r: Route) => seen.push(r.id!),
    remove: () => {},
    synced: () => {},
  });
  const watchers = d.server.kvWatchers.count;
  await sync.start();
  await waitFor(() => d.server.kvWatchers.count > watchers, { what: 'the watch' });

  const acked: string[] = [];
  for (let i = 0; i < 50; i++) {
    const r = await store.createRoute({ type: 'http', service: 'prop', domain: `prop${i}.example` });
    acked.push(r.id!);
    await waitFor(() => seen.includes(r.id!), { intervalMs: 1, what: `route ${i}` });
  }
  sync.stop();
  expect(seen).toEqual(acked);
});

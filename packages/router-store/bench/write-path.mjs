// Where a route write's time goes, against a real 1-node discoverd process (not a test):
//   node packages/router-store/bench/write-path.mjs [--n 200] [--rounds 3] [--routes 0] [--watchers 0]
// Per round, interleaved: a stale KV read and a one-put transaction over fetch and over the
// client's node:http transport, then RouteStore.createRoute planned from stale reads and from a
// RouteSync view, over each transport. `--routes N` loads N routes first. Builds needed:
// discoverd-client, router-store and apps/discoverd (npm run build).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { RouteStore, RouteSync, routeIdKey } from '@flynn-edge/router-store';
import { stopProcess } from '../../../bench/router/lib.mjs';
import { startDiscoverd } from '../../../bench/router/router.mjs';

const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    routes: { type: 'string', default: '0' },
    // Extra store watches, as the routers of a cluster hold (a primary and each worker).
    watchers: { type: 'string', default: '0' },
  },
});
const N = Number(opt.n);
const ROUNDS = Number(opt.rounds);

const dir = mkdtempSync(join(os.tmpdir(), 'write-path-'));
const dv = await startDiscoverd(dir);
const STORE_OPTS = { httpPorts: [80], httpsPorts: [443], tcpRange: { start: 3000, end: 3999 } };

function client(transport) {
  const fetchOpt = transport === 'fetch' ? { fetch: (u, i) => globalThis.fetch(u, i) } : {};
  return new DiscoverdClient({ servers: [dv.url], env: {}, followPeers: false, ...fetchOpt });
}

/** Times a store's transactions: the rest of a write is its reads (and the plan). */
function instrument(kv, split) {
  const txn = kv.txn.bind(kv);
  kv.txn = async (req) => {
    const t0 = performance.now();
    try {
      return await txn(req);
    } finally {
      split.txn += performance.now() - t0;
      split.txns++;
    }
  };
}

const samples = new Map();
function record(name, ms) {
  if (!samples.has(name)) samples.set(name, []);
  samples.get(name).push(ms);
}

const clients = { fetch: client('fetch'), node: client('node') };
const sync = new RouteSync(
  clients.node.kv,
  { set() {}, remove() {}, synced() {} },
  { keepView: true, log: () => {} },
);
await sync.start();
const watches = Array.from({ length: Number(opt.watchers) }, () =>
  clients.node.kv.watch('routes/', { onRevision() {} }),
);
const splits = {};
const stores = {};
for (const t of ['fetch', 'node']) {
  for (const plan of ['stale', 'view']) {
    const name = `${t}/${plan}`;
    const kv = client(t).kv;
    splits[name] = { txn: 0, txns: 0, total: 0 };
    instrument(kv, splits[name]);
    stores[name] = new RouteStore(kv, { ...STORE_OPTS, view: plan === 'view' ? () => sync.view : undefined });
  }
}

const tag = Date.now().toString(36);
let seq = 0;
const route = () => ({ type: 'http', service: 'bench-svc', domain: `wp-${tag}-${seq++}.test` });

/** Waits (untimed) until the view holds the last route, as the next API write would find it. */
async function viewCaughtUp(id) {
  while (!sync.view?.get(routeIdKey('http', id))) await new Promise((r) => setImmediate(r));
}

if (Number(opt.routes) > 0) {
  const t0 = performance.now();
  const store = stores['node/view'];
  for (let i = 0; i < Number(opt.routes); i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(Number(opt.routes), i + 50); j++)
      batch.push(store.createRoute({ type: 'http', service: `load-${j}`, domain: `load-${tag}-${j}.test` }));
    await Promise.all(batch);
  }
  console.error(`loaded ${opt.routes} routes in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  Object.assign(splits['node/view'], { txn: 0, txns: 0, total: 0 });
}

await clients.node.kv.put('bench/x', 'v');
for (let round = 0; round < ROUNDS; round++) {
  for (const t of ['fetch', 'node']) {
    const kv = clients[t].kv;
    for (let i = 0; i < N; i++) {
      let t0 = performance.now();
      await kv.get('bench/x', { stale: true });
      record(`stale read, ${t}`, performance.now() - t0);
      t0 = performance.now();
      await kv.txn({ success: [{ op: 'put', key: 'bench/y', value: String(i) }] });
      record(`txn (1 put), ${t}`, performance.now() - t0);
    }
  }
  for (const name of Object.keys(stores)) {
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const created = await stores[name].createRoute(route());
      const ms = performance.now() - t0;
      await viewCaughtUp(created.id);
      splits[name].total += ms;
      record(`createRoute, ${name}`, ms);
    }
  }
}

const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
console.log(
  `| what | n | p50 ms | p99 ms | mean: reads+plan / txn ms (txns per write) |\n|---|---|---|---|---|`,
);
for (const [name, xs] of samples) {
  xs.sort((a, b) => a - b);
  const store = name.startsWith('createRoute, ') ? name.slice('createRoute, '.length) : undefined;
  const s = store && splits[store];
  const split = s
    ? `${((s.total - s.txn) / xs.length).toFixed(2)} / ${(s.txn / xs.length).toFixed(2)} (${(s.txns / xs.length).toFixed(2)})`
    : '';
  console.log(`| ${name} | ${xs.length} | ${q(xs, 50).toFixed(2)} | ${q(xs, 99).toFixed(2)} | ${split} |`);
}

sync.stop();
for (const w of watches) w.close();
await Promise.all(Object.values(clients).map((c) => c.close()));
await stopProcess(dv.proc);
rmSync(dir, { recursive: true, force: true });

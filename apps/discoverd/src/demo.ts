import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDemo, waitFor } from '@flynn-edge/process-kit';
import { DiscoverdProcessCluster } from './process-cluster.js';

// `npm start`: a local three-node discoverd cluster in three processes on 127.0.0.1-3. It shows a
// leader election, registrations replicated to every node, a leader killed with SIGKILL and
// replaced, the old leader catching up after its restart, and prints how to query it with curl
// and dig. A demo service keeps heartbeating until Ctrl-C.

const port = Number(process.env.DEMO_PORT ?? 1111);
const dnsPort = Number(process.env.DEMO_DNS_PORT ?? 5353);
const dir = mkdtempSync(join(tmpdir(), 'flynn-edge-discoverd-'));
const cluster = new DiscoverdProcessCluster({ port, dnsPort, dir });
const say = (msg = '') => process.stdout.write(`${msg}\n`);
const instances = ['127.0.0.1:8081', '127.0.0.2:8082', '127.0.0.3:8083'].map((addr) => ({
  id: createHash('md5').update(`tcp-${addr}`).digest('hex'),
  addr,
  proto: 'tcp',
  meta: { app: 'demo-web' },
}));

/** A write that follows 307s and tries the next node when one is down, like Flynn's client. */
async function put(path: string, body: unknown): Promise<Response> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    let url = cluster.url(attempt % cluster.addrs.length, path);
    try {
      for (let hop = 0; hop < 5; hop++) {
        const r = await fetch(url, {
          method: 'PUT',
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
          redirect: 'manual',
          signal: AbortSignal.timeout(3000),
        });
        if (r.status !== 307) {
          if (r.status >= 500) break;
          return r;
        }
        url = r.headers.get('location')!;
      }
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`PUT ${path} failed: ${String(lastError)}`);
}

async function indexes(): Promise<string> {
  const out = await Promise.all(
    cluster.addrs.map(async (a, i) => {
      try {
        const r = await fetch(cluster.url(i, '/ping'), { signal: AbortSignal.timeout(1000) });
        return `${a} index ${r.headers.get('discoverd-index')}`;
      } catch {
        return `${a} down`;
      }
    }),
  );
  return out.map((l) => `    ${l}`).join('\n');
}

async function converged(): Promise<void> {
  await waitFor(
    async () => {
      const idx = await Promise.all(
        cluster.addrs.map((_, i) =>
          fetch(cluster.url(i, '/ping'), { signal: AbortSignal.timeout(1000) }).then((r) =>
            r.headers.get('discoverd-index'),
          ),
        ),
      );
      return idx.every((x) => x === idx[0]);
    },
    { timeoutMs: 30_000, what: 'every node at the same applied index' },
  );
}

async function heartbeat(): Promise<void> {
  for (const inst of instances) await put(`/services/demo-web/instances/${inst.id}`, inst);
}

async function main(): Promise<void> {
  say(`flynn-edge discoverd demo: 3 processes on ${cluster.addrs.join(', ')} (DNS on port ${dnsPort})`);
  say(`data and logs in ${dir}\n`);
  cluster.start();
  const t0 = Date.now();
  const leader = await cluster.leader(20_000);
  say(`1. Raft leader elected: ${cluster.addrs[leader]} after ${Date.now() - t0} ms`);

  await put('/services/demo-web', { leader_type: 'oldest' });
  await heartbeat();
  await put('/services/demo-web/meta', { data: { release: 'v1' }, index: 0 });
  await converged();
  say('2. service demo-web registered with 3 instances and meta; replicated to every node:');
  say(await indexes());

  const killedAt = Date.now();
  await cluster.procs[leader].kill('SIGKILL');
  const next = await cluster.leader(20_000);
  say(
    `\n3. SIGKILL the leader ${cluster.addrs[leader]}: ${cluster.addrs[next]} leads after ${Date.now() - killedAt} ms`,
  );
  await heartbeat();
  cluster.procs[leader].start();
  await converged();
  say(`4. ${cluster.addrs[leader]} restarted from its write-ahead log and caught up:`);
  say(await indexes());

  const h = cluster.hosts[next];
  say('\nTry it (the demo keeps the instances heartbeating; Ctrl-C stops everything):');
  say(`  curl -s http://${h}:${port}/raft/leader`);
  say(`  curl -s http://${h}:${port}/services/demo-web/instances`);
  say(`  curl -s http://${h}:${port}/services/demo-web/leader`);
  say(`  curl -s http://${h}:${port}/services/demo-web/meta`);
  say(
    `  curl -sN http://${h}:${port}/services/demo-web          # SSE: up, leader, service_meta, current, …`,
  );
  say(`  dig @${h} -p ${dnsPort} demo-web.discoverd A +short`);
  say(`  dig @${h} -p ${dnsPort} _demo-web._tcp.discoverd SRV`);
  say(`  dig @${h} -p ${dnsPort} leader.demo-web.discoverd A +short`);
  setInterval(
    () => void heartbeat().catch((err) => say(`heartbeat failed: ${(err as Error).message}`)),
    3000,
  );
}

runDemo(main, () => cluster.close(), dir);

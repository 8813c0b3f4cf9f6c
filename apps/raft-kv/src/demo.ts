import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDemo } from '@flynn-edge/process-kit';
import { KvProcessCluster, type NodeStatus } from './process-cluster.js';

// `npm start`: a local three-node Raft cluster in three OS processes on 127.0.0.1-3. It shows a
// leader election, replicated writes, a leader killed with SIGKILL and replaced, the old leader
// catching up after its restart, then keeps the cluster running until Ctrl-C.

const port = Number(process.env.DEMO_PORT ?? 7001);
const dir = mkdtempSync(join(tmpdir(), 'flynn-edge-demo-'));
const cluster = new KvProcessCluster({ port, dir, tickInterval: '100ms' });
const say = (msg: string) => process.stdout.write(`${msg}\n`);

function table(statuses: (NodeStatus | undefined)[]): string {
  return cluster.addrs
    .map((a, i) => {
      const s = statuses[i];
      if (!s) return `    ${a.padEnd(16)} down`;
      return `    ${a.padEnd(16)} ${s.role.padEnd(9)} term ${String(s.term).padEnd(3)} applied ${String(s.appliedIndex).padEnd(6)} state ${s.fingerprint}`;
    })
    .join('\n');
}

async function statuses(): Promise<(NodeStatus | undefined)[]> {
  return Promise.all(cluster.addrs.map((a) => cluster.status(a)));
}

async function writeKeys(prefix: string, n: number): Promise<number> {
  const client = cluster.client();
  const started = Date.now();
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      client.call({ op: 'put', key: `${prefix}${i}`, value: `value-${i}` }),
    ),
  );
  client.close();
  return Date.now() - started;
}

async function main(): Promise<void> {
  say(`flynn-edge Raft demo: 3 processes on ${cluster.addrs.join(', ')}`);
  say(`data and logs in ${dir}\n`);
  cluster.start();
  const t0 = Date.now();
  const leader = await cluster.leader(20_000);
  say(`1. leader elected: ${cluster.addrs[leader]} after ${Date.now() - t0} ms`);

  const ms = await writeKeys('demo/', 200);
  say(`2. 200 writes committed through the leader in ${ms} ms; every node applied them:`);
  say(table(await cluster.converged()));

  const killedAt = Date.now();
  await cluster.procs[leader].kill('SIGKILL');
  say(`\n3. SIGKILL the leader ${cluster.addrs[leader]}`);
  const next = await cluster.leader(20_000);
  say(`   new leader: ${cluster.addrs[next]} after ${Date.now() - killedAt} ms`);
  await writeKeys('after-failover/', 100);
  say('   100 more writes committed with one node down');

  cluster.procs[leader].start();
  say(`\n4. restart ${cluster.addrs[leader]}: it recovers from its write-ahead log and catches up`);
  say(table(await cluster.converged(30_000)));

  const reader = cluster.client();
  const r = await reader.call({ op: 'get', key: 'demo/42' });
  reader.close();
  say(`\n5. linearizable read of demo/42 through the leader: ${r.ok ? r.value : r.message}`);
  say('\nThe cluster keeps running; Ctrl-C stops it. Status every 10 s:');
  setInterval(async () => say(`${new Date().toISOString()}\n${table(await statuses())}`), 10_000);
}

runDemo(main, () => cluster.close(), dir);

// discoverd's committed writes alone, for A/B work on the write path (no etcd, no results file):
// a fresh 3-node cluster, a 2 s burst at 64 clients, then 1 client for 5 s and 64 clients for 10 s
// through load.mjs, as bench:discoverd runs them. Prints rate, latency and each node's CPU.
//   npm run build && node bench/discoverd/writes.mjs [rounds=1]
// The nodes inherit this environment, so NODE_OPTIONS="--import .../bench/profile/cpuprof.mjs"
// with CPUPROF_DIR profiles them (each is sent SIGUSR2 before the cluster stops).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { cpuSeconds, sleep, write } from './lib.mjs';

const LOAD = fileURLToPath(new URL('./load.mjs', import.meta.url));
const rounds = Number(process.argv[2] ?? 1);

function load(config) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', () => resolve(JSON.parse(out.trim().split('\n').pop())));
  });
}

console.log(
  `load average at the start: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
for (let round = 1; round <= rounds; round++) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-writes-'));
  const c = new DiscoverdProcessCluster({
    dir,
    args: ['-instance-ttl', '10m'],
    port: 20_000 + Math.floor(Math.random() * 200) * 100,
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  try {
    c.start();
    const leader = await c.leader(30_000);
    const created = await write('PUT', c.url(leader, '/services/bench'), { body: '{}' });
    if (created.status !== 200) throw new Error(`create service: ${created.status} ${created.text}`);
    const base = c.url(leader);
    await load({ kind: 'discoverd', base, concurrency: 64, seconds: 2, warmupSeconds: 0, tag: 3 });
    for (const [clients, seconds, tag] of [
      [1, 5, 1],
      [64, 10, 2],
    ]) {
      const before = c.procs.map((p) => cpuSeconds(p.pid));
      const r = await load({ kind: 'discoverd', base, concurrency: clients, seconds, warmupSeconds: 1, tag });
      const used = c.procs.map((p, i) => cpuSeconds(p.pid) - before[i]);
      const total = used.reduce((a, b) => a + b, 0);
      console.log(
        `round ${round}, ${String(clients).padStart(2)} clients: ${r.perSecond} writes/s, p50 ${r.p50} ms, p99 ${r.p99} ms, ` +
          `server CPU ${Math.round((total / r.acknowledged) * 1e6)} µs/write (CPU s per node, leader ${leader + 1}: ${used.map((u) => u.toFixed(2)).join(' ')})`,
      );
    }
    if (process.env.CPUPROF_DIR) {
      // Without the preload's handler SIGUSR2 would end the node.
      for (const p of c.procs) if (p.pid) process.kill(p.pid, 'SIGUSR2');
      await sleep(1500);
    }
  } finally {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

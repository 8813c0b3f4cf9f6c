import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpGet } from '@flynn-edge/local-cluster';
import { netnsAvailable, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpsCluster } from '../src/ops-cluster.js';

// A whole-cluster power cut (issue 14, scenario 5): three machines (network namespaces) running
// the installed release, bootstrapped with the shipped manifest, plus a user app with two web
// jobs. Every process of every machine — daemons and jobs — is SIGKILLed at once, then each
// daemon is started again with its unit's ExecStart, and nothing else is done: the cluster must
// come back by itself to status 200 through every router, each app at its formation.

const TAG = 165;
const DOMAIN = 'powercut.flynn.test';
const DEADLINE_MS = 180_000;
const { available } = netnsAvailable();
let cluster: OpsCluster;

const env = () => ({
  DISCOVERD: cluster.ips.map((ip) => `${ip}:1111`).join(','),
  CLUSTER_KEY: cluster.clusterKey,
});

const APP = `
const http = require('node:http');
http.createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : 'hello ' + process.env.FLYNN_JOB_ID))
  .listen(process.env.PORT, process.env.EXTERNAL_IP);
`;
const RELEASE = {
  processes: {
    web: {
      args: ['server.js'],
      ports: [
        {
          proto: 'tcp',
          service: { name: 'hello-web', check: { type: 'http', path: '/healthz', interval: '500ms' } },
        },
      ],
    },
  },
};

const jobsOf = (k: number) => cluster.jobs(k);

/** `<host>:<app>/<type>@<release>` → count of running jobs, over every host. */
async function shape(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const k of cluster.hosts) {
    for (const j of await jobsOf(k)) {
      if (j.state !== 'running' || j.stopRequested) continue;
      const perHost = j.app.name === 'discoverd' || j.app.name === 'router';
      const key = `${perHost ? `h${k}:` : ''}${j.app.name}/${j.processType}@${j.meta?.FLYNN_RELEASE_ID ?? ''}`;
      out[key] = (out[key] ?? 0) + 1;
    }
  }
  return out;
}

async function statusVia(k: number): Promise<number> {
  return (await httpGet(`http://${cluster.ip(k)}/`, { host: `status.${DOMAIN}` }, 3000)).status;
}

beforeAll(async () => {
  if (!available) return;
  cluster = await OpsCluster.create({ tag: TAG, hosts: 3 });
  await cluster.initAll();
  await cluster.start();
  const boot = await cluster.bootstrap({ args: ['--job-timeout', '90'], env: { CLUSTER_DOMAIN: DOMAIN } });
  if (boot.code !== 0) throw new Error(`bootstrap exited ${boot.code}:\n${boot.stderr.slice(-3000)}`);
  const src = join(cluster.dir, 'hello');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'server.js'), APP);
  writeFileSync(join(src, 'release.json'), JSON.stringify(RELEASE));
  const tarball = join(cluster.dir, 'hello.tar.gz');
  execFileSync('tar', ['-czf', tarball, '-C', src, '.']);
  for (const args of [
    ['create', 'hello'],
    ['-a', 'hello', 'release', 'add', tarball],
    ['-a', 'hello', 'scale', 'web=2'],
  ]) {
    const r = await cluster.flynn(1, args, env());
    if (r.code !== 0) throw new Error(`flynn ${args.join(' ')}: ${r.stderr}`);
  }
}, 600_000);

afterAll(async () => {
  await cluster?.destroy();
}, 60_000);

describe.skipIf(!available)('a whole-cluster power cut', () => {
  it('every daemon and job SIGKILLed at once, daemons started again: the cluster comes back unattended', async () => {
    for (const k of cluster.hosts) expect(await statusVia(k)).toBe(200);
    const before = await shape();
    console.log(`[power-cut] before: ${JSON.stringify(before)}`);
    expect(Object.entries(before).filter(([k]) => k.startsWith('hello/web@'))[0]?.[1]).toBe(2);

    const pids = cluster.hosts.flatMap((k) => cluster.net.pids(k));
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // Gone from the namespaces, and each daemon's exit seen by its ManagedProcess (the exit event
    // comes a moment after the process is gone).
    await waitFor(
      () => cluster.hosts.every((k) => cluster.net.pids(k).length === 0 && !cluster.daemon(k)?.running),
      { timeoutMs: 10_000, what: 'every process gone' },
    );
    console.log(`[power-cut] killed ${pids.length} processes`);

    const t0 = Date.now();
    for (const k of cluster.hosts) cluster.startDaemon(k);
    await Promise.all(cluster.hosts.map((k) => cluster.waitHost(k, 60_000)));
    let last: Record<string, number> = {};
    let lastStatus: number[] = [];
    try {
      await waitFor(
        async () => {
          lastStatus = await Promise.all(cluster.hosts.map((k) => statusVia(k).catch(() => 0)));
          last = await shape();
          return lastStatus.every((s) => s === 200) && JSON.stringify(last) === JSON.stringify(before);
        },
        { timeoutMs: DEADLINE_MS, intervalMs: 1000, what: 'the cluster back at its formation' },
      );
    } finally {
      console.log(
        `[power-cut] after ${((Date.now() - t0) / 1000).toFixed(1)} s: status ${lastStatus.join(',')}; jobs ${JSON.stringify(last)}`,
      );
    }
  }, 600_000);
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppStore, type Artifact } from '@flynn-edge/app-model';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { isSameProcessAlive } from '@flynn-edge/host-jobs';
import { consecutivePorts, httpGet, LocalCluster, localHostDaemon } from '@flynn-edge/local-cluster';
import { nextPortBlock } from '@flynn-edge/process-kit';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A fresh fourth host joins a running three-host cluster (LocalCluster on 127.0.0.181-183) with
// nothing but the cluster's DISCOVERD and key: its daemon's omni reconciler reads the app model
// and starts discoverd (a proxy: its address is not among DISCOVERD_PEERS) and a router on its
// own address, which serves the cluster's routes.

const dir = mkdtempSync(join(tmpdir(), 'host-join-'));
const PER_HOST = 40;
const BASE = nextPortBlock(10 + 4 * PER_HOST);
const cluster = new LocalCluster({
  hosts: ['127.0.0.181', '127.0.0.182', '127.0.0.183'],
  dir,
  ports: { ...consecutivePorts(BASE, BASE + 10), jobPortsPerHost: PER_HOST },
});
const IP4 = '127.0.0.184';
const host4 = localHostDaemon({
  n: 4,
  ip: IP4,
  apiPort: cluster.ports.host,
  dir,
  jobPorts: { start: BASE + 10 + 3 * PER_HOST, end: BASE + 10 + 4 * PER_HOST - 1 },
  env: { DISCOVERD: cluster.discoverd, CLUSTER_KEY: cluster.keys.clusterKey },
});

interface HostJob {
  id: string;
  app: { name: string };
  processType: string;
  state: string;
  stopRequested: boolean;
  pid?: number;
  procStartTime?: number;
}

async function host4Jobs(): Promise<HostJob[]> {
  const r = await fetch(`http://${IP4}:${cluster.ports.host}/host/jobs`, {
    headers: { authorization: `Bearer ${cluster.keys.clusterKey}` },
    signal: AbortSignal.timeout(5000),
  });
  if (!r.ok) throw new Error(`host4 /host/jobs: ${r.status}`);
  return (await r.json()) as HostJob[];
}

const liveOf = (jobs: HostJob[], app: string) =>
  jobs.filter(
    (j) => j.app.name === app && (j.state === 'running' || j.state === 'starting') && !j.stopRequested,
  );

beforeAll(async () => {
  await cluster.start();
  // discoverd's release as bootstrap records it: no host, address or directory in its args (the
  // host gives EXTERNAL_IP and FLYNN_DATA_DIR); only this cluster's ports are named.
  const client = new DiscoverdClient({
    servers: cluster.hosts.map((h) => `http://${h}:${cluster.ports.discoverd}`),
    clusterKey: cluster.keys.clusterKey,
  });
  try {
    const store = new AppStore(client.kv);
    const app = await store.app('discoverd');
    const artifact: Artifact = {
      id: crypto.randomUUID(),
      type: 'builtin',
      uri: 'builtin:discoverd',
      meta: {},
      created_at: new Date().toISOString(),
    };
    await store.putArtifact(artifact);
    const release = await store.createRelease(app.value, {
      artifacts: [artifact.id],
      env: { DISCOVERD_PEERS: `${cluster.discoverd},` },
      processes: {
        app: {
          args: [
            'bin/discoverd.js',
            '-addr',
            `:${cluster.ports.discoverd}`,
            '-dns-addr',
            `:${cluster.ports.dns}`,
          ],
          omni: true,
        },
      },
    });
    await store.switchRelease(app, release.id, { app: 1 });
  } finally {
    await client.close();
  }
}, 180_000);

afterAll(async () => {
  // The fourth daemon first (its reconciler stops with it), then its jobs, which outlive it.
  const jobs = await host4Jobs().catch(() => []);
  await host4.kill('SIGTERM');
  await host4.close();
  for (const j of jobs) {
    if (j.pid && isSameProcessAlive(j.pid, j.procStartTime)) process.kill(-j.pid, 'SIGTERM');
  }
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}, 90_000);

describe('a fourth host joins', { timeout: 60_000 }, () => {
  it('starts discoverd as a proxy and a router on its own address, through the reconciler', async () => {
    host4.start();
    const jobs = await waitFor(
      async () => {
        const js = await host4Jobs().catch(() => []);
        return liveOf(js, 'discoverd').length > 0 && liveOf(js, 'router').length > 0 ? js : undefined;
      },
      { timeoutMs: 40_000, what: 'discoverd and a router on host4' },
    );
    expect(liveOf(jobs, 'discoverd')).toHaveLength(1);
    expect(liveOf(jobs, 'router')).toHaveLength(1);

    // discoverd answers on host4's address, and the Raft voters are still the first three.
    const discoverd4 = `http://${IP4}:${cluster.ports.discoverd}`;
    await waitFor(
      async () => (await fetch(`${discoverd4}/ping`, { redirect: 'manual' }).catch(() => null)) !== null,
      { timeoutMs: 20_000, what: 'discoverd on host4' },
    );
    const peers = (await (
      await fetch(`http://${cluster.hosts[0]}:${cluster.ports.discoverd}/raft/peers`)
    ).json()) as string[];
    expect(peers.sort()).toEqual(cluster.hosts.map((h) => `${h}:${cluster.ports.discoverd}`).sort());

    // host4's router serves the cluster's routes on host4's address.
    await waitFor(
      async () =>
        (
          await httpGet(`http://${IP4}:${cluster.ports.http}/`, { host: `demo.${cluster.domain}` }).catch(
            () => null,
          )
        )?.status === 200,
      { timeoutMs: 30_000, what: 'the demo app through host4’s router' },
    );
  });

  it('is listed as a flynn-host and keeps one job per omni type on its next passes', async () => {
    const client = new DiscoverdClient({
      servers: [`http://${cluster.hosts[0]}:${cluster.ports.discoverd}`],
    });
    try {
      const hosts = await client.instances('flynn-host');
      expect(hosts.map((h) => h.meta?.id).sort()).toEqual(['host1', 'host2', 'host3', 'host4']);
    } finally {
      await client.close();
    }
    // Through the next pass (every 10 s): one of each on every host, none doubled.
    const until = Date.now() + 11_000;
    while (Date.now() < until) {
      const jobs = await host4Jobs();
      expect([liveOf(jobs, 'discoverd').length, liveOf(jobs, 'router').length]).toEqual([1, 1]);
      for (let i = 0; i < 3; i++) {
        const js = (await cluster.hostApi(i, 'GET', '/host/jobs')) as HostJob[];
        expect([liveOf(js, 'discoverd').length, liveOf(js, 'router').length]).toEqual([1, 1]);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  });
});

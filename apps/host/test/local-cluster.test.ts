import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../src/local-cluster.js';

// What `npm start` runs (LocalCluster), on 127.0.0.91-93 with its own ports: every component is a
// job of a flynn-host daemon, the keys are enforced, and the demo app answers through the router.

const dir = mkdtempSync(join(tmpdir(), 'local-cluster-'));
const BASE = 25_000 + Math.floor(Math.random() * 40) * 20;
const cluster = new LocalCluster({
  hosts: ['127.0.0.91', '127.0.0.92', '127.0.0.93'],
  dir,
  ports: {
    discoverd: BASE,
    dns: BASE + 1,
    host: BASE + 2,
    http: BASE + 3,
    https: BASE + 4,
    routerApi: BASE + 5,
    syslog: BASE + 6,
    aggregatorApi: BASE + 7,
    status: BASE + 8,
    jobPortsBase: 26_000,
  },
});

beforeAll(async () => {
  try {
    await cluster.start();
  } catch (err) {
    console.error(cluster.diagnose());
    throw err;
  }
}, 120_000);
afterAll(async () => {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('the local cluster (npm start)', { timeout: 30_000 }, () => {
  it('runs every component as a job, on the hosts the demo names', async () => {
    const ran = (name: 'discoverd' | 'router' | 'logaggregator' | 'demo') =>
      (cluster.jobs.get(name) ?? []).map((j) => j.host);
    expect(ran('discoverd')).toEqual([0, 1, 2]);
    expect(ran('router')).toEqual([0]);
    expect(ran('logaggregator')).toEqual([0]);
    expect(ran('demo')).toEqual([1, 2]);
    const jobs = (await cluster.hostApi(1, 'GET', '/host/jobs')) as { state: string }[];
    expect(jobs.filter((j) => j.state === 'running')).toHaveLength(2); // discoverd + one demo job
  });

  it('serves the demo app through the router from both of its jobs', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20 && seen.size < 2; i++) {
      const r = await cluster.throughRouter(`demo.${cluster.domain}`);
      expect(r.status).toBe(200);
      seen.add(r.body.trim());
    }
    expect([...seen].sort()).toEqual(
      (cluster.jobs.get('demo') ?? []).map((j) => `hello from ${j.id}`).sort(),
    );
  });

  it('holds every API to the generated cluster key', async () => {
    const hostApi = `http://${cluster.hosts[0]}:${cluster.ports.host}/host/jobs`;
    expect((await fetch(hostApi)).status).toBe(401);
    const routes = await fetch(`${cluster.routerApi}/routes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'http', service: 'x', domain: 'x.example' }),
    });
    expect(routes.status).toBe(401);
    const kv = await fetch(`http://${cluster.hosts[0]}:${cluster.ports.discoverd}/kv/apps/demo`);
    expect(kv.status).toBe(401);
    // The key itself works.
    expect(((await cluster.hostApi(0, 'GET', '/host/jobs')) as unknown[]).length).toBeGreaterThan(0);
  });
});

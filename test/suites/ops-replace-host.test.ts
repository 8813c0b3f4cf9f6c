import { httpGet } from '@flynn-edge/local-cluster';
import { netnsAvailable, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvWriter, kvRequest } from '../src/kv-writer.js';
import { OpsCluster } from '../src/ops-cluster.js';

// The guide's "Replacing hosts" (flynn-ops.md §11.2) end to end, on four machines (network
// namespaces) running the installed release: hosts 1–3 bootstrapped with the shipped manifest,
// host 4 added with `flynn-host init` (its discoverd a proxy). While a writer puts KV keys without
// pause, voter 3's cable is pulled for good; `demote --force` drops it, `promote` makes host 4 a
// voter, `flynn -a discoverd env set DISCOVERD_PEERS=…` redeploys discoverd one by one on the live
// hosts. Every acknowledged write must be readable at the end, and the new voter set must survive
// losing one more host.

const TAG = 163;
const DOMAIN = 'replace.flynn.test';
const { available } = netnsAvailable();
let cluster: OpsCluster;
const voters = [1, 2, 3];

const peersOf = (hosts: number[]) => hosts.map((k) => `${cluster.ip(k)}:1111`);

/** `flynn-host init` on `hosts` (each its address, the three voters as peers) and their daemons. */
async function initAndStart(hosts: number[]): Promise<void> {
  for (const k of hosts) {
    const r = await cluster.init(k, [
      '--external-ip',
      cluster.ip(k),
      '--peer-ips',
      voters.map((v) => cluster.ip(v)).join(','),
    ]);
    if (r.code !== 0) throw new Error(`init h${k}: ${r.stderr}`);
  }
  for (const k of hosts) cluster.startDaemon(k);
  await Promise.all(hosts.map((k) => cluster.waitHost(k)));
}

/** The installed CLIs from host 1's namespace, against the given discoverd servers. */
const env = (servers: number[]) => ({
  DISCOVERD: peersOf(servers).join(','),
  CLUSTER_KEY: cluster.clusterKey,
});

const kv = (k: number, method: 'GET' | 'PUT', key: string, value?: string) =>
  kvRequest(cluster, k, method, key, value);

async function leaderOf(k: number): Promise<string> {
  const res = await fetch(`http://${cluster.ip(k)}:1111/raft/leader`, {
    headers: { authorization: `Bearer ${cluster.clusterKey}` },
    signal: AbortSignal.timeout(2000),
  });
  if (res.status !== 200) throw new Error(`h${k} /raft/leader: ${res.status}`);
  return ((await res.json()) as { host: string }).host;
}

async function raftPeers(k: number): Promise<string[]> {
  const res = await fetch(`http://${cluster.ip(k)}:1111/raft/peers`, {
    headers: { authorization: `Bearer ${cluster.clusterKey}` },
    signal: AbortSignal.timeout(2000),
  });
  return ((await res.json()) as string[]).sort();
}

/** The jobs running or starting on host k. */
const jobs = async (k: number) =>
  (await cluster.jobs(k)).filter((j) => j.state === 'running' || j.state === 'starting');

const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

beforeAll(async () => {
  if (!available) return;
  cluster = await OpsCluster.create({ tag: TAG, hosts: 4 });
  await initAndStart(voters);
  const boot = await cluster.bootstrap({
    hosts: voters,
    args: ['--job-timeout', '90'],
    env: { CLUSTER_DOMAIN: DOMAIN },
  });
  if (boot.code !== 0) throw new Error(`bootstrap exited ${boot.code}:\n${boot.stderr.slice(-3000)}`);
  console.log(`[replace] bootstrapped at ${since()}`);
  await initAndStart([4]);
  // Host 4's own daemon starts its discoverd (a proxy) and its router.
  await waitFor(
    async () =>
      (await httpGet(`http://${cluster.ip(4)}/`, { host: `status.${DOMAIN}` }, 2000)).status === 200,
    { timeoutMs: 90_000, intervalMs: 500, what: 'status through host 4' },
  );
  console.log(`[replace] host 4 serving at ${since()}`);
}, 600_000);

afterAll(async () => {
  await cluster?.destroy();
}, 60_000);

describe.skipIf(!available)('replacing a consensus host (flynn-ops §11.2)', () => {
  const writer = () => new KvWriter(cluster, [1, 2, 3, 4], 'replace');
  let w: Writer;

  it('host 4 runs discoverd as a proxy; hosts 1–3 are the voters', async () => {
    expect(await raftPeers(1)).toEqual(peersOf(voters).sort());
    const names = (await jobs(4)).map((j) => j.app.name);
    expect(names).toContain('discoverd');
    expect(names).toContain('router');
  });

  it('bad DISCOVERD_PEERS values are refused (exit 2) and nothing changes', async () => {
    const before = await cluster.flynn(1, ['-a', 'discoverd', 'env', 'get', 'DISCOVERD_PEERS'], env(voters));
    expect(before.code, before.stderr).toBe(0);
    for (const bad of ['10.0.0.1', `${cluster.ip(1)}:1111,x:y`, ',']) {
      const r = await cluster.flynn(
        1,
        ['-a', 'discoverd', 'env', 'set', `DISCOVERD_PEERS=${bad}`],
        env(voters),
      );
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^flynn: invalid DISCOVERD_PEERS/);
    }
    const after = await cluster.flynn(1, ['-a', 'discoverd', 'env', 'get', 'DISCOVERD_PEERS'], env(voters));
    expect(after.stdout).toBe(before.stdout);
  }, 60_000);

  it('voter 3 cut off for good, demote --force, promote host 4, DISCOVERD_PEERS set: no write lost', async () => {
    w = writer();
    w.start();
    await waitFor(() => w.acked.size >= 20, { timeoutMs: 20_000, what: 'the writer going' });
    const jobs3 = (await jobs(3)).map((j) => j.app.name);
    console.log(
      `[replace] cutting host 3 at ${since()} (it runs ${jobs3.join(', ')}); leader ${await leaderOf(1)}`,
    );
    cluster.net.cut(3);

    const live = [1, 2, 4];
    const demote = await cluster.flynnHost(1, ['demote', '--force', `${cluster.ip(3)}:1111`], env([1, 2]));
    console.log(`[replace] demote at ${since()}: ${demote.code} ${demote.stdout}${demote.stderr}`);
    expect(demote.code, demote.stderr).toBe(0);
    expect(await raftPeers(1)).toEqual(peersOf([1, 2]).sort());

    const promote = await cluster.flynnHost(1, ['promote', `${cluster.ip(4)}:1111`], env([1, 2]));
    console.log(`[replace] promote at ${since()}: ${promote.code} ${promote.stdout}${promote.stderr}`);
    expect(promote.code, promote.stderr).toBe(0);
    await waitFor(async () => (await raftPeers(1)).join(',') === peersOf(live).sort().join(','), {
      timeoutMs: 60_000,
      what: 'host 4 a voter',
    });

    const value = `${peersOf(live).join(',')},`;
    const set = await cluster.flynn(
      1,
      ['-a', 'discoverd', 'env', 'set', `DISCOVERD_PEERS=${value}`],
      env(live),
    );
    console.log(`[replace] env set at ${since()}: ${set.code}\n${set.stderr}`);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stderr).not.toMatch(/differs from the Raft voters/);
    const list = await cluster.flynnHost(1, ['list'], env(live));
    console.log(`[replace] flynn-host list after the redeploy:\n${list.stdout}${list.stderr}`);
    const get = await cluster.flynn(1, ['-a', 'discoverd', 'env', 'get', 'DISCOVERD_PEERS'], env(live));
    expect(get.stdout).toBe(`${value}\n`);
    // Every live host runs discoverd of the new release.
    const release = (
      JSON.parse(
        (await cluster.flynn(1, ['-a', 'discoverd', 'release', 'show', '--json'], env(live))).stdout,
      ) as {
        id: string;
      }
    ).id;
    for (const k of live) {
      const d = (await jobs(k)).filter((j) => j.app.name === 'discoverd');
      expect(
        d.map((j) => j.meta?.FLYNN_RELEASE_ID),
        `h${k}`,
      ).toEqual([release]);
    }

    const n = w.acked.size;
    await waitFor(() => w.acked.size >= n + 20, { timeoutMs: 30_000, what: 'writes after the redeploy' });
    await w.stop();
    console.log(
      `[replace] writer: ${w.acked.size} acknowledged, ${w.failures} failed attempts, longest pause ${w.maxGapMs} ms`,
    );
    for (const [key, v] of w.acked) {
      const res = await kv(1, 'GET', key);
      expect(res.status, key).toBe(200);
      expect(((await res.json()) as { value: string }).value, key).toBe(v);
    }
    expect(w.maxGapMs).toBeLessThan(20_000);
  }, 600_000);

  it('the new voters (1, 2, 4) survive losing host 2', async () => {
    cluster.net.cut(2);
    const leader = await waitFor(
      async () => {
        const l = await leaderOf(1);
        return l !== `${cluster.ip(2)}:1111` && l;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'a leader among hosts 1 and 4' },
    );
    console.log(`[replace] host 2 cut at ${since()}; leader ${leader}`);
    expect([`${cluster.ip(1)}:1111`, `${cluster.ip(4)}:1111`]).toContain(leader);
    for (const k of [1, 4]) {
      const res = await kv(k, 'PUT', `after/h${k}`, 'ok');
      expect(res.status).toBe(200);
      expect(
        ((await (await kv(k === 1 ? 4 : 1, 'GET', `after/h${k}`)).json()) as { value: string }).value,
      ).toBe('ok');
    }
    // The routers of the surviving hosts still answer (status itself may run on a dead host).
    for (const k of [1, 4]) {
      const r = await httpGet(`http://${cluster.ip(k)}/`, { host: `status.${DOMAIN}` }, 5000);
      console.log(`[replace] status through h${k} with hosts 2 and 3 gone: ${r.status}`);
    }
  }, 120_000);
});

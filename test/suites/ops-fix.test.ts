import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '@flynn-edge/cli/testing';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import type { Job } from '@flynn-edge/host-jobs';
import { consecutivePorts, LocalCluster } from '@flynn-edge/local-cluster';
import { nextPortBlock } from '@flynn-edge/process-kit';
import { FLYNN_EDGE_VERSION } from '@flynn-edge/service-kit';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `flynn-host version`, list's VERSION column and `flynn-host fix` (flynn-ops.md §4, §7) on a real
// three-host cluster (LocalCluster on 127.0.0.171-173). The host APIs listen on Flynn's port 1113
// (these addresses are this suite's alone): with every discoverd dead, fix finds the hosts behind
// the DISCOVERD servers on that port.

const dir = mkdtempSync(join(tmpdir(), 'ops-fix-'));
const BASE = nextPortBlock(10 + 3 * 40);
const cluster = new LocalCluster({
  hosts: ['127.0.0.171', '127.0.0.172', '127.0.0.173'],
  dir,
  ports: { ...consecutivePorts(BASE, BASE + 10), host: 1113, jobPortsPerHost: 40 },
});
const env = () => ({ DISCOVERD: cluster.discoverd, CLUSTER_KEY: cluster.keys.clusterKey });
const flynnHost = (...args: string[]) => runCli(args, env());

const jobsOf = async (i: number) => (await cluster.hostApi(i, 'GET', '/host/jobs')) as Job[];
const present = (j: Job) =>
  !j.stopRequested && (j.state === 'running' || j.state === 'starting' || !!j.restartAt);

/**
 * Gone for good: SIGKILL the process, and stop the job through its host so the restart policy
 * does not bring it back (a stop cancels a pending restart).
 */
async function killForGood(i: number, job: Job): Promise<void> {
  if (job.pid) {
    try {
      process.kill(job.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await cluster.hostApi(i, 'DELETE', `/host/jobs/${job.id}?grace=0`);
}

async function leaderAnswers(): Promise<boolean> {
  for (const h of cluster.hosts) {
    try {
      const r = await fetch(`http://${h}:${cluster.ports.discoverd}/raft/leader`, {
        headers: { authorization: `Bearer ${cluster.keys.clusterKey}` },
        signal: AbortSignal.timeout(1000),
      });
      if (r.ok) return true;
    } catch {
      // next
    }
  }
  return false;
}

beforeAll(() => cluster.start(), 180_000);
afterAll(async () => {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('flynn-host version', () => {
  it('prints the installed version; --release cuts the commit; the hosts report the same', async () => {
    const v = await flynnHost('version');
    expect(v).toMatchObject({ code: 0, stdout: `${FLYNN_EDGE_VERSION}\n`, stderr: '' });
    expect((await flynnHost('--version')).stdout).toBe(`${FLYNN_EDGE_VERSION}\n`);
    expect((await flynnHost('version', '--release')).stdout).toBe(`${FLYNN_EDGE_VERSION.split('-')[0]}\n`);
    const status = (await cluster.hostApi(0, 'GET', '/host/status')) as { version: string };
    expect(status.version).toBe(FLYNN_EDGE_VERSION);
  });

  it('flynn-host list shows each host version, without a warning when they agree', async () => {
    const table = await flynnHost('list');
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+ADDR\s+RAFT STATUS\s+VERSION$/);
    for (const id of ['host1', 'host2', 'host3']) {
      expect(table.stdout).toMatch(
        new RegExp(`^${id}\\s.*\\s${FLYNN_EDGE_VERSION.replace(/\./g, '\\.')}$`, 'm'),
      );
    }
    expect(table.stderr).not.toMatch(/different versions/);
    const json = JSON.parse((await flynnHost('list', '--json')).stdout) as { version: string }[];
    expect(json.map((r) => r.version)).toEqual([FLYNN_EDGE_VERSION, FLYNN_EDGE_VERSION, FLYNN_EDGE_VERSION]);
  });
});

describe('flynn-host fix', { timeout: 180_000 }, () => {
  it('says what is wrong with its flags', async () => {
    for (const args of [['fix'], ['fix', '-n', '0'], ['fix', '-n', 'x']]) {
      const r = await flynnHost(...args);
      expect(r).toMatchObject({ code: 2, stderr: 'flynn-host: invalid or missing --min-hosts value\n' });
    }
    const few = await flynnHost('fix', '-n', '4');
    expect(few.code).toBe(1);
    expect(few.stderr).toMatch(/^flynn-host: expected at least 4 hosts, but 3 found$/m);
  });

  it('every discoverd job killed: fix -n 3 runs them again from the job history; the store survives', async () => {
    const client = new DiscoverdClient({
      servers: cluster.hosts.map((h) => `http://${h}:${cluster.ports.discoverd}`),
      clusterKey: cluster.keys.clusterKey,
    });
    try {
      for (let k = 1; k <= 5; k++) await client.kv.put(`fix-test/k${k}`, `v${k}`);
      const killed: string[] = [];
      for (let i = 0; i < cluster.hosts.length; i++) {
        for (const j of (await jobsOf(i)).filter((x) => x.app.name === 'discoverd' && present(x))) {
          await killForGood(i, j);
          killed.push(j.id);
        }
      }
      expect(killed).toHaveLength(3);
      await waitFor(async () => !(await leaderAnswers()), { timeoutMs: 10_000, what: 'discoverd gone' });
      // Nothing brings it back by itself.
      for (let i = 0; i < 3; i++)
        expect((await jobsOf(i)).filter((x) => x.app.name === 'discoverd' && present(x))).toEqual([]);

      const fix = await flynnHost('fix', '-n', '3');
      expect(fix.code, fix.stderr).toBe(0);
      expect(fix.stderr).toMatch(/^found expected hosts n=3$/m);
      expect(fix.stderr.match(/^started discoverd instance job\.id=host\d-\S+$/gm)).toHaveLength(3);
      expect(fix.stderr).toMatch(/^waiting for discoverd to be available$/m);
      expect(fix.stderr).toMatch(/cluster fix complete\n$/);
      expect(await leaderAnswers()).toBe(true);
      for (let k = 1; k <= 5; k++) expect((await client.kv.get(`fix-test/k${k}`))?.value).toBe(`v${k}`);
      // One discoverd per host again, each a new job.
      for (let i = 0; i < 3; i++) {
        const live = (await jobsOf(i)).filter((x) => x.app.name === 'discoverd' && present(x));
        expect(live).toHaveLength(1);
        expect(killed).not.toContain(live[0]?.id);
      }
      // A second fix finds nothing to do.
      const again = await flynnHost('fix', '-n', '3');
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).not.toMatch(/started/);
    } finally {
      client.close();
    }
  });

  it('one host gone for good: fix -n 2 runs its app jobs on the hosts left', async () => {
    await cluster.refreshJobs();
    // The demo app's web=2 sits on two hosts; one of them that is not host 1 (whose router the
    // test goes through) goes away with every job on it.
    const victim = (cluster.jobs.get('demo') ?? []).map((j) => j.host).find((h) => h !== 0);
    if (victim === undefined) throw new Error('no demo job off host 1');
    for (const j of (await jobsOf(victim)).filter(present)) await killForGood(victim, j);
    await cluster.daemons[victim]?.kill('SIGKILL');

    const fix = await flynnHost('fix', '-n', '2');
    expect(fix.code, fix.stderr).toBe(0);
    expect(fix.stderr).toMatch(/^found expected hosts n=2$/m);
    expect(fix.stderr).toMatch(/^demo web host\d-\S+ started on host\d$/m);
    expect(fix.stderr).not.toMatch(new RegExp(`started on host${victim + 1}$`, 'm'));
    expect(fix.stderr).toMatch(/cluster fix complete\n$/);

    // Every app at its formation on the two live hosts.
    const live = [0, 1, 2].filter((i) => i !== victim);
    const jobs = (await Promise.all(live.map(jobsOf))).flat().filter(present);
    const demo = jobs.filter((j) => j.app.name === 'demo' && j.processType === 'web');
    expect(demo).toHaveLength(2);
    // Omni: one running job on each live host (jobs crash-looping on a taken port do not count).
    for (const name of ['discoverd', 'router']) {
      const running = jobs.filter((j) => j.app.name === name && j.state === 'running');
      expect(new Set(running.map((j) => j.id.split('-')[0])), fix.stderr).toEqual(
        new Set(live.map((i) => `host${i + 1}`)),
      );
    }
    // Back at the manifest's formations: two logaggregators, two status jobs, one controller.
    for (const [name, n] of [
      ['logaggregator', 2],
      ['status', 2],
      ['controller', 1],
    ] as const) {
      expect(
        jobs.filter((j) => j.app.name === name),
        name,
      ).toHaveLength(n);
    }
    // The router serves both demo jobs again.
    const want = demo.map((j) => `hello from ${j.id}`).sort();
    const seen = new Set<string>();
    await waitFor(
      async () => {
        const r = await cluster.throughRouter(`demo.${cluster.domain}`);
        if (r.status === 200) seen.add(r.body.trim());
        return want.every((w) => seen.has(w));
      },
      { timeoutMs: 60_000, what: 'both demo jobs through the router' },
    ).catch(async (err) => {
      const instances = await fetch(
        `http://${cluster.hosts[0]}:${cluster.ports.discoverd}/services/demo-web/instances`,
      ).then((r) => r.text(), String);
      throw new Error(
        `${(err as Error).message}; want ${want.join(', ')}; seen ${[...seen].join(', ')}; demo-web: ${instances}\n${cluster.diagnose(8)}`,
      );
    });

    const three = await flynnHost('fix', '-n', '3');
    expect(three.code).toBe(1);
    expect(three.stderr).toMatch(/^flynn-host: expected at least 3 hosts, but 2 found$/m);
  });
});

import { type CliResult, hasStackTrace, runCli } from '@flynn-edge/cli/testing';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// flynn-host against three real discoverd processes on 127.0.0.1-3 (and a fourth host, started
// later as a proxy, on 127.0.0.4). The tests run in order and share the cluster.

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return (await r.json()) as T;
}

/** The voters as a live node sees them. */
async function voters(cluster: DiscoverdProcessCluster, node: number): Promise<string[]> {
  return getJson<string[]>(cluster.url(node, '/raft/peers'));
}

/**
 * Runs a membership command until it is not refused for a membership change in progress: the Raft
 * core makes one change at a time, and the leader may be promoting a learner right then.
 */
async function runMembership(args: string[]): Promise<CliResult> {
  return waitFor(
    async () => {
      const r = await runCli(args);
      return r.code !== 0 && /another membership change/.test(r.stderr) ? undefined : r;
    },
    { timeoutMs: 90_000, intervalMs: 250, what: `flynn-host ${args.join(' ')}` },
  );
}

describe('flynn-host against a discoverd cluster', () => {
  const cluster = new DiscoverdProcessCluster();
  let leader = 0;
  let victim = 0;
  const discoverd = () => cluster.addrs.slice(0, 3).join(',');

  beforeAll(async () => {
    cluster.start();
    leader = await cluster.leader();
    // Every node must know all three voters before the first listing.
    await waitFor(
      async () => {
        const all = await Promise.all([0, 1, 2].map((i) => voters(cluster, i)));
        return all.every((v) => v.length === 3);
      },
      { timeoutMs: 15_000, what: 'three voters on every node' },
    );
  });
  afterAll(() => cluster.close());

  it('raft lists the three voters with the leader marked', async () => {
    const r = await runCli(['raft', '--discoverd', discoverd()]);
    expect(r.stderr).toMatch(/^flynn-host: DISCOVERD_PEERS should list the voters: [\d.:,]+\n$/);
    expect(r.code).toBe(0);
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ADDRESS\s+ROLE$/);
    const parsed = rows.map((l) => l.split(/\s{3,}/));
    expect(parsed.map(([a]) => a).sort()).toEqual([...cluster.addrs].sort());
    leader = await cluster.leader();
    for (const [addr, role] of parsed) {
      expect(role, addr).toBe(addr === cluster.addrs[leader] ? 'voter (leader)' : 'voter');
    }
  });

  it('raft --json, from DISCOVERD, skipping a server that does not answer', async () => {
    const r = await runCli(['raft', '--json'], {
      DISCOVERD: `127.0.0.9:${cluster.port},${cluster.addrs[1]}`,
    });
    expect(r.code).toBe(0);
    const view = JSON.parse(r.stdout) as { server: string; leader: string; voters: string[]; learners: [] };
    expect(view.server).toBe(cluster.url(1));
    expect([...view.voters].sort()).toEqual([...cluster.addrs].sort());
    expect(view.learners).toEqual([]);
    expect(view.leader).toBe(cluster.addrs[await cluster.leader()]);
  });

  it('demote without --force of a dead voter fails and suggests --force', async () => {
    victim = (leader + 1) % 3;
    await cluster.procs[victim].kill('SIGKILL');
    const addr = cluster.addrs[victim];
    const r = await runCli(['demote', addr, '--discoverd', discoverd()]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${addr} does not answer (connection refused`);
    expect(r.stderr).toContain(`flynn-host demote --force ${addr}`);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(await voters(cluster, leader)).toContain(addr);
  });

  it('demote -f removes the SIGKILLed voter through the leader', async () => {
    const addr = cluster.addrs[victim];
    const r = await runMembership(['demote', '-f', addr, '--discoverd', discoverd()]);
    expect(r.stderr).toContain(`${addr} does not answer`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Removed ${addr} from the Raft cluster`);
    expect(r.stdout).toContain(`Remember to remove ${addr} from DISCOVERD_PEERS`);
    const survivors = [0, 1, 2].filter((i) => i !== victim);
    await waitFor(
      async () => {
        const views = await Promise.all(survivors.map((i) => voters(cluster, i)));
        return views.every((v) => v.length === 2 && !v.includes(addr));
      },
      { timeoutMs: 15_000, what: `${addr} gone from /raft/peers` },
    );
  });

  it('demote --force of a node that is no longer a member says so', async () => {
    const addr = cluster.addrs[victim];
    const r = await runMembership(['demote', '--force', addr, '--discoverd', discoverd()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${addr} is not a Raft voter or learner`);
  });

  it('promote turns a proxy into a voter', async () => {
    const i = cluster.addHost();
    cluster.procs[i].start();
    const addr = cluster.addrs[i];
    // A proxy answers /ping with a 307 to a peer.
    await waitFor(
      async () => {
        const res = await fetch(cluster.url(i, '/ping'), { redirect: 'manual' }).catch(() => null);
        return res !== null && (res.status === 200 || res.status === 307);
      },
      { timeoutMs: 15_000, what: `${addr} serving` },
    );
    expect(await voters(cluster, leader)).not.toContain(addr);
    const r = await runMembership(['promote', addr]);
    expect(r.stderr).not.toMatch(/error|answered/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Promoted ${addr}`);
    expect(r.stdout).toContain(`Remember to add ${addr} to DISCOVERD_PEERS`);
    await waitFor(async () => (await voters(cluster, i)).includes(addr), {
      timeoutMs: 30_000,
      what: `${addr} a voter`,
    });
    const listed = await runCli(['raft', '--json', '--discoverd', addr]);
    expect((JSON.parse(listed.stdout) as { voters: string[] }).voters).toContain(addr);
  });

  it('demote of a reachable voter turns it into a proxy', async () => {
    const i = cluster.addrs.length - 1;
    const addr = cluster.addrs[i];
    const r = await runMembership(['demote', addr]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Demoted ${addr}`);
    expect(r.stdout).toContain(`Remember to remove ${addr} from DISCOVERD_PEERS`);
    await waitFor(async () => !(await voters(cluster, leader)).includes(addr), {
      timeoutMs: 30_000,
      what: `${addr} gone from /raft/peers`,
    });
    // It keeps running, as a proxy.
    const ping = await fetch(cluster.url(i, '/ping'), { redirect: 'manual' });
    expect(ping.status).toBe(307);
  });
});

describe('flynn-host demote --force of a dead leader', () => {
  const cluster = new DiscoverdProcessCluster();
  afterAll(() => cluster.close());

  it('waits for a new leader, then has it remove the old one', async () => {
    cluster.start();
    const old = await cluster.leader();
    const addr = cluster.addrs[old];
    await cluster.procs[old].kill('SIGKILL');
    // The followers name the dead leader until their election timeout: the CLI retries.
    const r = await runMembership(['demote', '-f', addr, '--discoverd', cluster.addrs.join(',')]);
    expect(r.code).toBe(0);
    const next = await cluster.leader();
    expect(r.stdout).toContain(`Removed ${addr} from the Raft cluster (leader ${cluster.addrs[next]})`);
    await waitFor(async () => !(await voters(cluster, next)).includes(addr), {
      timeoutMs: 15_000,
      what: `${addr} gone from /raft/peers`,
    });
  });
});

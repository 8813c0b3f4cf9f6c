import { runCli } from '@flynn-edge/cli/testing';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// With CLUSTER_KEY set on discoverd, membership changes need the key (design.md, "Security"):
// a single voter on 127.0.0.1 and a proxy on 127.0.0.2, promoted and demoted with and without it.

const KEY = 'cli-test-key';

describe('flynn-host with a cluster key', () => {
  const cluster = new DiscoverdProcessCluster({ size: 1, env: { CLUSTER_KEY: KEY } });
  let proxy = 0;

  beforeAll(async () => {
    cluster.start();
    await cluster.leader();
    proxy = cluster.addHost({ env: { CLUSTER_KEY: KEY } });
    cluster.procs[proxy].start();
    await waitFor(
      async () => {
        const res = await fetch(cluster.url(proxy, '/ping'), { redirect: 'manual' }).catch(() => null);
        return res?.status === 307;
      },
      { timeoutMs: 15_000, what: 'the proxy serving' },
    );
  });
  afterAll(() => cluster.close());

  it('promote without the key is refused with a hint; with CLUSTER_KEY it works', async () => {
    const addr = cluster.addrs[proxy];
    const refused = await runCli(['promote', addr]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('answered 401 unauthorized');
    expect(refused.stderr).toContain('set CLUSTER_KEY or pass --cluster-key');

    const wrong = await runCli(['promote', addr, '--cluster-key', 'nope']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('invalid cluster key');

    const r = await runCli(['promote', addr], { CLUSTER_KEY: KEY });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Promoted ${addr}`);
    const view = await runCli(['raft', '--json', '--discoverd', cluster.addrs[0]]);
    expect((JSON.parse(view.stdout) as { voters: string[] }).voters).toContain(addr);
  });

  it('demote needs the key too', async () => {
    const addr = cluster.addrs[proxy];
    const refused = await runCli(['demote', addr]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('answered 401 unauthorized');

    const r = await runCli(['demote', addr, '--cluster-key', KEY]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Demoted ${addr}`);
  });
});

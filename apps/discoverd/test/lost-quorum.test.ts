import { waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { DiscoverdProcessCluster } from '../src/process-cluster.js';
import { http, write } from './helpers.js';

// Two of three voters are gone for good: the operator restarts the survivor with
// -force-new-cluster, it serves alone with all committed data, and fresh hosts are promoted back
// to three voters.

describe('lost quorum', () => {
  const cluster = new DiscoverdProcessCluster();
  afterAll(() => cluster.close());

  it('recovers from one survivor and grows back to three voters', async () => {
    cluster.start();
    const leader = await cluster.leader();
    await write('PUT', cluster.url(leader, '/services/kept'), {});
    await write('PUT', cluster.url(leader, '/services/kept/meta'), { data: 'before', index: 0 });
    const survivor = leader;
    // Wait until the survivor holds everything, then lose the other two.
    await waitFor(
      async () => (await http('GET', cluster.url(survivor, '/services/kept/meta'))).status === 200,
      {
        what: 'meta on the survivor',
      },
    );
    for (let i = 0; i < 3; i++) if (i !== survivor) await cluster.procs[i].kill('SIGKILL');

    await cluster.restartWith(survivor, ['-force-new-cluster']);
    await waitFor(
      async () => {
        const r = await http('GET', cluster.url(survivor, '/raft/leader')).catch(() => null);
        return r?.status === 200 && (r.json() as { host: string }).host === cluster.addrs[survivor];
      },
      { timeoutMs: 15_000, what: 'the survivor to lead alone' },
    );
    expect((await http('GET', cluster.url(survivor, '/raft/peers'))).json()).toEqual([
      cluster.addrs[survivor],
    ]);
    expect(
      ((await http('GET', cluster.url(survivor, '/services/kept/meta'))).json() as { data: string }).data,
    ).toBe('before');
    expect((await write('PUT', cluster.url(survivor, '/services/after'), {})).status).toBe(200);

    // Fresh hosts (new data directories) join as proxies and are promoted.
    for (let n = 0; n < 2; n++) {
      const p = cluster.addHost();
      cluster.procs[p].start();
      await waitFor(
        async () => (await http('POST', cluster.url(p, '/raft/promote')).catch(() => null))?.status === 200,
        {
          timeoutMs: 30_000,
          what: `promotion of host ${p}`,
        },
      );
    }
    const peers = (await http('GET', cluster.url(survivor, '/raft/peers'))).json() as string[];
    expect(peers).toHaveLength(3);
    expect((await write('PUT', cluster.url(survivor, '/services/three-again'), {})).status).toBe(200);
  });
});

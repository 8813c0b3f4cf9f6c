import { iptablesAvailable, LinkCutter, waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { DiscoverdProcessCluster } from '../src/process-cluster.js';
import { http, md5Id, write } from './helpers.js';

// Real partitions with iptables between 127.0.0.11-13 (the test talks from 127.0.0.1, outside
// the cut): an isolated leader stops accepting writes, the minority never answers a write with a
// success, and after healing every node converges.

const tool = iptablesAvailable();

describe.skipIf(!tool.available)('discoverd under a partition', () => {
  const cluster = new DiscoverdProcessCluster({ firstHost: 11 });
  const cutter = new LinkCutter();
  afterAll(async () => {
    cutter.heal();
    await cluster.close();
  });

  it('an isolated leader stops accepting writes; the majority carries on; all converge after healing', async () => {
    cluster.start();
    const old = await cluster.leader();
    await write('PUT', cluster.url(old, '/services/part'), {});
    cutter.isolate(cluster.hosts[old], cluster.hosts);

    // The majority elects a new leader and accepts writes.
    const others = [0, 1, 2].filter((i) => i !== old);
    const newLeader = await waitFor(
      async () => {
        for (const i of others) {
          const r = await http('GET', cluster.url(i, '/raft/leader'));
          if (r.status === 200) {
            const host = (r.json() as { host: string }).host;
            if (host !== cluster.addrs[old]) return cluster.addrs.indexOf(host);
          }
        }
        return undefined;
      },
      { timeoutMs: 15_000, what: 'a leader in the majority' },
    );
    const addr = '10.7.0.1:80';
    const id = md5Id('tcp', addr);
    const ok = await write('PUT', cluster.url(newLeader, `/services/part/instances/${id}`), {
      id,
      addr,
      proto: 'tcp',
    });
    expect(ok.status).toBe(200);

    // The minority: a write sent to the old leader is never acknowledged.
    const addr2 = '10.7.0.2:80';
    const id2 = md5Id('tcp', addr2);
    const minority = await http('PUT', cluster.url(old, `/services/part/instances/${id2}`), {
      id: id2,
      addr: addr2,
      proto: 'tcp',
    });
    expect([307, 503]).toContain(minority.status);

    cutter.heal();
    await waitFor(
      async () => {
        const idx = await Promise.all(
          cluster.addrs.map((_, i) =>
            http('GET', cluster.url(i, '/ping')).then((r) => r.headers.get('discoverd-index')),
          ),
        );
        return idx.every((x) => x === idx[0]);
      },
      { timeoutMs: 20_000, what: 'every node at the same index after healing' },
    );
    const list = (await http('GET', cluster.url(old, '/services/part/instances'))).json() as {
      addr: string;
    }[];
    expect(list.map((i) => i.addr)).toContain(addr);
  });
});

import { requireCommand, waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { DiscoverdProcessCluster } from '../src/process-cluster.js';
import { dig, http, md5Id, write } from './helpers.js';

const digTool = requireCommand('dig', 'dnsutils');

// Hosts started after bootstrap run as proxies; promote them from 3 voters to 5 under write load,
// demote back to 3, and remove a dead voter by force.

describe('discoverd membership', () => {
  const cluster = new DiscoverdProcessCluster();
  afterAll(() => cluster.close());

  it('promotes proxies to voters and demotes them again, under load', async () => {
    cluster.start();
    const p4 = cluster.addHost();
    const p5 = cluster.addHost();
    cluster.start();
    const leader = await cluster.leader();
    await write('PUT', cluster.url(leader, '/services/load'), {});

    // A proxy redirects everything but promote/demote/shutdown, without Discoverd-* headers.
    const proxied = await http('GET', cluster.url(p4, '/raft/peers'));
    expect(proxied.status).toBe(307);
    expect(proxied.headers.get('discoverd-peers')).toBeNull();

    // A proxy answers DNS from a voter's data: the three voters registered themselves.
    if (digTool.available) {
      await waitFor(() => dig(cluster.hosts[p4], cluster.dnsPort, 'discoverd.discoverd', 'A').length === 3, {
        timeoutMs: 15_000,
        what: 'DNS on the proxy',
      });
    }

    const acked: string[] = [];
    let stop = false;
    const writer = (async () => {
      for (let n = 0; !stop; n++) {
        const addr = `10.1.${n >> 8}.${n & 255}:80`;
        const id = md5Id('tcp', addr);
        try {
          const r = await write('PUT', cluster.url(n % 3, `/services/load/instances/${id}`), {
            id,
            addr,
            proto: 'tcp',
          });
          if (r.status === 200) acked.push(id);
        } catch {
          // a node may be changing role: try the next one
        }
      }
    })();

    for (const p of [p4, p5]) {
      const r = await http('POST', cluster.url(p, '/raft/promote'));
      expect(r.status).toBe(200);
    }
    const peers = async () => (await http('GET', cluster.url(0, '/raft/peers'))).json() as string[];
    expect((await peers()).sort()).toEqual([...cluster.addrs].sort());
    // A promoted node serves reads itself now.
    const direct = await http('GET', cluster.url(p4, '/raft/peers'));
    expect(direct.status).toBe(200);
    expect(direct.headers.get('discoverd-peers')).toBeTruthy();

    for (const p of [p5, p4]) {
      const r = await http('POST', cluster.url(p, '/raft/demote'));
      expect(r.status).toBe(200);
    }
    expect((await peers()).sort()).toEqual(cluster.addrs.slice(0, 3).sort());
    stop = true;
    await writer;
    expect(acked.length).toBeGreaterThan(20);

    // Read from the leader, after every node applied everything (a follower's reads may lag).
    const leaderNow = await cluster.leader();
    const list = (await http('GET', cluster.url(leaderNow, '/services/load/instances'))).json() as {
      id: string;
    }[];
    const present = new Set(list.map((i) => i.id));
    expect(acked.filter((id) => !present.has(id))).toEqual([]);
  });

  it('a restart with a stale -peers does not split the cluster (the log’s membership wins)', async () => {
    const i = ((await cluster.leader()) + 1) % 3;
    // Restart a voter claiming to be alone: on a fresh data directory this would make a new
    // single-node cluster; on an existing one the membership in its log wins.
    await cluster.restartWith(i, ['-peers', cluster.addrs[i]]);
    await waitFor(
      async () => {
        const r = await http('GET', cluster.url(i, '/raft/peers')).catch(() => null);
        return r?.status === 200 && (r.json() as string[]).length === 3;
      },
      { timeoutMs: 15_000, what: 'the restarted node back in the 3-voter cluster' },
    );
    const leader = await cluster.leader();
    expect(leader).not.toBe(-1);
    expect((await write('PUT', cluster.url(i, '/services/after-stale-peers'), {})).status).toBe(200);
  });

  it('removes a dead voter through the leader (demote --force)', async () => {
    const victim = ((await cluster.leader()) + 1) % 3;
    await cluster.procs[victim].kill('SIGKILL');
    const leader = await cluster.leader();
    const r = await write('DELETE', cluster.url(leader, `/raft/peers/${cluster.addrs[victim]}`));
    expect(r.status).toBe(200);
    await waitFor(
      async () => {
        const peers = (await http('GET', cluster.url(leader, '/raft/peers'))).json() as string[];
        return peers.length === 2 && !peers.includes(cluster.addrs[victim]);
      },
      { what: 'the dead voter removed' },
    );
    // The remaining two still commit writes.
    expect((await write('PUT', cluster.url(leader, '/services/after-removal'), {})).status).toBe(200);
  });
});

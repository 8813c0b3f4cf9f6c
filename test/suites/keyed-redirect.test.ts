import { runCli } from '@flynn-edge/cli/testing';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient, DiscoverdError } from '@flynn-edge/discoverd-client';
import { instanceId as md5Id } from '@flynn-edge/discoverd-state';
import { http, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 11: every keyed request keeps its cluster key whether it reaches the Raft leader directly,
// through a follower's 307 or through a proxy node, and is refused (401) without it. 3 voters and
// 1 proxy, real processes. Promote and demote travel the same way: the node asks a peer, the peer
// redirects to the leader, and the key must survive that hop (it did not: fetch drops
// Authorization on a cross-origin redirect).

const KEY = 'keyed-redirect-key';

type Entry = 'leader' | 'follower' | 'proxy';

describe('keyed requests through redirects and proxies', () => {
  const cluster = new DiscoverdProcessCluster({ size: 3, env: { CLUSTER_KEY: KEY } });
  let proxy = 3;
  const clients: DiscoverdClient[] = [];

  /** A client that knows only node i (so every other node is reached by redirect or proxy). */
  function client(i: number, key: string | null = KEY): DiscoverdClient {
    const c = new DiscoverdClient({
      servers: [cluster.addrs[i]],
      env: {},
      clusterKey: key ?? undefined,
      followPeers: false,
      retryDeadlineMs: 5_000,
    });
    clients.push(c);
    return c;
  }

  async function voters(): Promise<string[]> {
    const leader = await cluster.leader();
    return (await http('GET', cluster.url(leader, '/raft/peers'))).json() as string[];
  }

  async function nodeFor(entry: Entry): Promise<number> {
    const leader = await cluster.leader();
    if (entry === 'leader') return leader;
    if (entry === 'proxy') return proxy;
    const members = await voters();
    return cluster.addrs.findIndex((a, i) => i !== leader && members.includes(a));
  }

  async function status(p: Promise<unknown>): Promise<number> {
    try {
      await p;
      return 200;
    } catch (err) {
      if (err instanceof DiscoverdError) return err.status;
      throw err;
    }
  }

  beforeAll(async () => {
    cluster.start();
    await cluster.leader(30_000);
    proxy = cluster.addHost({ env: { CLUSTER_KEY: KEY } });
    cluster.procs[proxy].start();
    await waitFor(
      async () =>
        (await http('GET', cluster.url(proxy, '/ping'), undefined, {}, 1000).catch(() => null))?.status ===
        307,
      { timeoutMs: 20_000, what: 'the proxy serving' },
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await cluster.close();
  });

  for (const entry of ['leader', 'follower', 'proxy'] as const) {
    it(`/kv/ put, get, delete and /raft writes through the ${entry}: with the key they work, without it 401`, async () => {
      const i = await nodeFor(entry);
      const c = client(i);
      const key = `keyed/${entry}`;
      const put = await c.kv.put(key, 'v1');
      expect(put.revision).toBeGreaterThan(0);
      expect((await c.kv.get(key))?.value).toBe('v1');
      expect((await c.kv.list('keyed/')).entries.map((e) => e.key)).toContain(key);
      expect((await c.kv.delete(key)).deleted).toBe(1);
      // Removing a peer that is not a member is a no-op: it exercises the keyed /raft write path.
      await c.raftRemovePeer(`127.0.0.250:${cluster.port}`);

      const anon = client(i, null);
      expect(await status(anon.kv.put(key, 'v2'))).toBe(401);
      expect(await status(anon.kv.get(key))).toBe(401);
      expect(await status(anon.kv.delete(key))).toBe(401);
      expect(await status(anon.raftRemovePeer(`127.0.0.250:${cluster.port}`))).toBe(401);
      const wrong = client(i, 'not-the-key');
      expect(await status(wrong.kv.put(key, 'v3'))).toBe(401);
    });

    it(`registry writes through the ${entry} succeed with the key (and stay open without it)`, async () => {
      const i = await nodeFor(entry);
      for (const [key, name] of [
        [KEY, 'key'],
        [null, 'anon'],
      ] as const) {
        const c = client(i, key);
        const service = `keyed-${entry}-${name}`;
        await c.addService(service);
        const addr = `10.9.0.${i + 1}:80`;
        const id = md5Id('tcp', addr);
        await c.send('PUT', `/services/${service}/instances/${id}`, { body: { id, addr, proto: 'tcp' } });
        const written = await c.setMeta(service, { data: { entry }, index: 0 });
        expect(written > 0).toBe(true);
        // Reads are local (Flynn's rule): through the proxy it may land on a follower that has not
        // applied the write yet, so read your write at its index.
        expect((await c.getMeta(service, { index: written }))?.data).toEqual({ entry });
        await c.send('DELETE', `/services/${service}/instances/${id}`);
        await c.removeService(service);
      }
    });
  }

  it('a /kv/ watch through the proxy streams with the key', async () => {
    const c = client(proxy);
    const seen: string[] = [];
    const w = c.kv.watch('keyed-watch/', { onEvent: (e) => seen.push(`${e.type} ${e.key}`) });
    // The watch starts after the revision it opened at: write until one shows up.
    await waitFor(
      async () => {
        await c.kv.put('keyed-watch/a', String(Date.now()));
        return seen.length > 0;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: 'a watch event through the proxy' },
    );
    expect(seen[0]).toBe('put keyed-watch/a');
    w.close();
  });

  it('promote and demote (of a follower, then of the leader through the CLI) keep the key', async () => {
    const p = proxy;
    const pAddr = cluster.addrs[p];
    // Without the key: refused by the node itself.
    expect((await http('POST', cluster.url(p, '/raft/promote'))).status).toBe(401);

    // Promote the proxy: it asks a peer, whose 307 leads to the leader.
    const promoted = await http(
      'POST',
      cluster.url(p, '/raft/promote'),
      undefined,
      {
        authorization: `Bearer ${KEY}`,
      },
      90_000,
    );
    expect(promoted.status, promoted.text).toBe(200);
    expect(await voters()).toContain(pAddr);

    // Demote a follower (not the node just promoted): its own request reaches the leader.
    const follower = await nodeFor('follower');
    const fAddr = cluster.addrs[follower];
    expect((await http('POST', cluster.url(follower, '/raft/demote'))).status).toBe(401);
    const demoted = await http(
      'POST',
      cluster.url(follower, '/raft/demote'),
      undefined,
      {
        authorization: `Bearer ${KEY}`,
      },
      90_000,
    );
    expect(demoted.status, demoted.text).toBe(200);
    expect(await voters()).not.toContain(fAddr);

    // Demote the leader with the CLI, DISCOVERD pointing at a follower: the leader's request to
    // remove itself goes to a follower, which redirects it back to the leader.
    const leader = await cluster.leader();
    const lAddr = cluster.addrs[leader];
    const follower2 = cluster.addrs.find((a, i) => i !== leader && i !== follower && a !== undefined)!;
    const cli = await runCli(['demote', lAddr], { CLUSTER_KEY: KEY, DISCOVERD: `http://${follower2}` });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(`Demoted ${lAddr}`);
    const newLeader = await cluster.leader(30_000);
    expect(newLeader).not.toBe(leader);
    expect(await voters()).not.toContain(lAddr);

    // And back: the demoted leader promotes itself again through the new leader.
    const again = await runCli(['promote', lAddr], { CLUSTER_KEY: KEY });
    expect(again.code, again.stderr).toBe(0);
    expect(await voters()).toContain(lAddr);
  }, 240_000);
});

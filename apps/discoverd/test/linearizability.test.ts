import { checkHistory, type Operation } from '@flynn-edge/lincheck';
import { iptablesAvailable, LinkCutter, waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { DiscoverdProcessCluster } from '../src/process-cluster.js';

// lincheck over the cluster store's reads, writes and compare-and-set, against three real
// processes while the leader is SIGKILLed and restarted, and (with iptables) cut off.

const partitions = iptablesAvailable();
/** Seeds each client's choices (node, key, operation); a failure prints it, SEED=n runs them again. */
const SEED = Number(process.env.SEED ?? 20_261_128);

/** A seeded uniform [0, 1) generator (mulberry32), one per client. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('cluster store linearizability', () => {
  const cluster = new DiscoverdProcessCluster({ firstHost: 21 });
  const cutter = new LinkCutter();
  afterAll(async () => {
    if (partitions.available) cutter.heal();
    await cluster.close();
  });

  type Outcome = { ok: true; output: Operation['output'] } | { ok: false; definite: boolean };

  /** One request, following 307s; classifies failures as definitely-not-executed or unknown. */
  async function request(
    random: () => number,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown } | 'refused' | 'unknown'> {
    let url = cluster.url(Math.floor(random() * 3), path);
    for (let hop = 0; hop < 5; hop++) {
      let r: Response;
      try {
        r = await fetch(url, {
          method,
          body: body === undefined ? undefined : JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
          redirect: 'manual',
          signal: AbortSignal.timeout(3000),
        });
      } catch (err) {
        const code = (err as { cause?: { code?: string } }).cause?.code;
        return code === 'ECONNREFUSED' ? 'refused' : 'unknown';
      }
      const text = await r.text();
      if (r.status === 307) {
        url = r.headers.get('location')!;
        continue;
      }
      return { status: r.status, json: text ? JSON.parse(text) : null };
    }
    return 'unknown';
  }

  function classify(
    r: Awaited<ReturnType<typeof request>>,
    read: (json: unknown) => Operation['output'],
  ): Outcome {
    if (r === 'refused') return { ok: false, definite: true };
    if (r === 'unknown') return { ok: false, definite: false };
    if (r.status === 200) return { ok: true, output: read(r.json) };
    // Refused before proposing (no leader, bad request): never executed. Anything else: unknown.
    const msg = (r.json as { message?: string } | null)?.message ?? '';
    return { ok: false, definite: r.status === 404 || msg.includes('no known leader') };
  }

  it('reads, writes and compare-and-set stay linearizable under kills and partitions', async () => {
    onTestFailed(() => console.error(`linearizability test failed with SEED=${SEED}`));
    cluster.start();
    await cluster.leader();
    const history: Operation[] = [];
    const keys = ['a', 'b', 'c'];
    let stop = false;
    let counter = 0;
    const clients = Array.from({ length: 8 }, async (_, clientId) => {
      const random = seeded(SEED * 31 + clientId);
      while (!stop) {
        const key = keys[Math.floor(random() * keys.length)];
        const roll = random();
        const value = `v${clientId}-${counter++}`;
        const call = performance.now();
        let op: Operation;
        let outcome: Outcome;
        if (roll < 0.4) {
          const r = await request(random, 'GET', `/kv/${key}`);
          outcome =
            r !== 'refused' &&
            r !== 'unknown' &&
            r.status === 404 &&
            (r.json as { code?: string })?.code === 'object_not_found'
              ? { ok: true, output: { value: null } }
              : classify(r, (j) => ({ value: (j as { value: string }).value }));
          op = { clientId, key, kind: 'read', input: {}, call };
        } else if (roll < 0.7) {
          outcome = classify(await request(random, 'PUT', `/kv/${key}`, { value }), () => ({}));
          op = { clientId, key, kind: 'write', input: { value }, call };
        } else {
          const expected =
            random() < 0.3
              ? null
              : (history.filter((h) => h.key === key && h.kind === 'write').at(-1)?.input.value ?? null);
          const compare = expected === null ? { key, op: 'absent' } : { key, op: 'value', value: expected };
          const r = await request(random, 'POST', '/kv/txn', {
            compare: [compare],
            success: [{ op: 'put', key, value }],
            failure: [],
          });
          outcome = classify(r, (j) => ({ ok: (j as { succeeded: boolean }).succeeded }));
          op = { clientId, key, kind: 'cas', input: { expected, value }, call };
        }
        if (outcome.ok) history.push({ ...op, output: outcome.output, ret: performance.now() });
        else if (!outcome.definite) history.push(op);
        else await new Promise((r) => setTimeout(r, 20));
      }
    });

    const faults = (async () => {
      for (let round = 0; round < 2; round++) {
        await waitFor(() => history.length > (round + 1) * 150, { timeoutMs: 20_000, what: 'operations' });
        const leader = await cluster.leader();
        await cluster.procs[leader].kill('SIGKILL');
        await waitFor(() => history.length > (round + 1) * 150 + 80, {
          timeoutMs: 20_000,
          what: 'operations on a new leader',
        });
        cluster.procs[leader].start();
        if (partitions.available) {
          const l2 = await cluster.leader();
          cutter.isolate(cluster.hosts[l2], cluster.hosts);
          await waitFor(() => history.length > (round + 1) * 150 + 160, {
            timeoutMs: 20_000,
            what: 'operations across a partition',
          });
          cutter.heal();
        }
      }
    })();
    await faults;
    stop = true;
    await Promise.all(clients);

    const completed = history.filter((h) => h.ret !== undefined).length;
    expect(completed).toBeGreaterThan(300);
    const result = checkHistory(history, { timeoutMs: 30_000 });
    expect(result.failure?.key).toBeUndefined();
    expect(result.linearizable).toBe(true);
  });
});

import { SseReader, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, load, TestCluster } from './helpers.js';

// Churn under load against one router process with two workers: route updates, a graceful
// worker replacement (SIGHUP), draining, and a backend killed mid-load.

const cluster = new TestCluster({ routers: 1, workers: 2, firstHost: 21 });

beforeAll(async () => {
  await cluster.start();
}, 90_000);

afterAll(async () => {
  await cluster.close();
});

async function workerPids(): Promise<number[]> {
  const r = await fetch(`${cluster.routers[0].apiUrl}/router/status`);
  const s = (await r.json()) as { workers: { pid: number }[] };
  return s.workers.map((w) => w.pid).sort();
}

async function route(body: Record<string, unknown>): Promise<{ id: string }> {
  const r = await cluster.api('POST', '/routes', body);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

async function servedBy(host: string): Promise<void> {
  await waitFor(async () => (await get(cluster.httpUrl(), host)).status === 200, { what: `${host} served` });
}

describe('router under churn', { timeout: 60_000 }, () => {
  it('applies route updates under load without a failed request', async () => {
    await cluster.backend('churn');
    await cluster.backend('churn');
    const r = await route({ type: 'http', service: 'churn', domain: 'churn.test' });
    await servedBy('churn.test');
    const l = load(cluster.httpUrl(), 'churn.test', 8);
    for (let n = 0; n < 20; n++) {
      const other = await route({ type: 'http', service: 'churn', domain: `other-${n}.test` });
      const upd = await cluster.api('PUT', `/routes/http/${r.id}`, {
        service: 'churn',
        domain: 'churn.test',
        sticky: n % 2 === 0,
      });
      expect(upd.status, JSON.stringify(upd.body)).toBe(200);
      expect((await cluster.api('DELETE', `/routes/http/${other.id}`)).status).toBe(200);
    }
    const c = await l.stop();
    expect(c.failed, JSON.stringify({ ...c, statuses: [...c.statuses] })).toBe(0);
    expect(c.ok).toBeGreaterThan(100);
  });

  it('replaces its workers on SIGHUP without dropping a request', async () => {
    await servedBy('churn.test');
    const before = await workerPids();
    expect(before).toHaveLength(2);
    const l = load(cluster.httpUrl(), 'churn.test', 8);
    await waitFor(() => l.counts.ok > 200);
    cluster.routers[0].proc.signal('SIGHUP');
    await waitFor(
      async () => {
        const now = await workerPids();
        return now.length === 2 && now.every((p) => !before.includes(p));
      },
      { timeoutMs: 30_000, what: 'both workers replaced' },
    );
    const atSwap = l.counts.ok;
    await waitFor(() => l.counts.ok > atSwap + 200);
    const c = await l.stop();
    expect(c.failed, JSON.stringify({ ...c, statuses: [...c.statuses] })).toBe(0);
  });

  it('reports backend-drained only after the in-flight request to a downed backend finishes', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let started = 0;
    const slow = await cluster.backend('drain-svc', (_req, res) => {
      started++;
      void held.then(() => res.end('finally'));
    });
    await route({ type: 'http', service: 'drain-svc', domain: 'drain.test', drain_backends: true });
    const events = new SseReader(
      `${cluster.routers[0].apiUrl}/events?types=backend-up,backend-down,backend-drained`,
    );
    await waitFor(() =>
      events.messages.some(
        (m) => JSON.parse(m.data).event === 'backend-up' && JSON.parse(m.data).backend?.addr === slow.addr,
      ),
    );
    const inflight = get(cluster.httpUrl(), 'drain.test');
    await waitFor(() => started === 1, { what: 'the request to reach the backend' });
    await slow.deregister();
    const kinds = () =>
      events.messages
        .map((m) => JSON.parse(m.data))
        .filter((e) => e.backend?.addr === slow.addr)
        .map((e) => e.event);
    await waitFor(() => kinds().includes('backend-down'), { what: 'backend-down' });
    // Still in flight: no backend-drained yet.
    await new Promise((r) => setImmediate(r));
    expect(kinds()).not.toContain('backend-drained');
    release();
    expect((await inflight).text).toBe('finally');
    await waitFor(() => kinds().includes('backend-drained'), { what: 'backend-drained' });
    expect(kinds().indexOf('backend-down')).toBeLessThan(kinds().indexOf('backend-drained'));
    await events.close();
  });

  it('loses at most the in-flight requests of a backend killed under load', async () => {
    const a = await cluster.backend('kill-svc');
    await cluster.backend('kill-svc');
    await route({ type: 'http', service: 'kill-svc', domain: 'kill.test' });
    await servedBy('kill.test');
    const concurrency = 8;
    const l = load(cluster.httpUrl(), 'kill.test', concurrency);
    await waitFor(() => l.counts.ok > 200);
    a.server.closeAllConnections();
    a.server.close();
    const atKill = l.counts.ok;
    await waitFor(() => l.counts.ok > atKill + 300, { timeoutMs: 20_000 });
    const c = await l.stop();
    expect(c.failed).toBeLessThanOrEqual(concurrency);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoverdServer, prometheusTargets } from '@flynn-edge/discoverd-server';
import { createLogger } from '@flynn-edge/service-kit';
import { freePort, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, md5Id } from './helpers.js';

// discoverd's /metrics (the issue-6 list) and its Prometheus HTTP service discovery endpoint,
// against a real single-node server with a cluster key and a low snapshot threshold.

const KEY = 'metrics-test-key';
const dataDir = mkdtempSync(join(tmpdir(), 'discoverd-metrics-'));
let server: DiscoverdServer;
let base = '';

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = new DiscoverdServer({
    addr: `127.0.0.1:${port}`,
    host: '127.0.0.1',
    dataDir,
    peers: [],
    logger: createLogger({ component: 'discoverd', level: 'silent' }),
    tickMs: 10,
    electionTicks: 10,
    clusterKey: KEY,
    hostId: 'hostA',
    snapshotEvery: 20,
    snapshotMinIntervalMs: 0,
  });
  await server.start();
  await waitFor(() => server.raft.isLeader, { what: 'a leader' });
});

afterAll(async () => {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function metrics(): Promise<string> {
  const r = await http('GET', `${base}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return r.text;
}

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function register(service: string, addr: string, meta?: Record<string, string>): Promise<void> {
  await http('PUT', `${base}/services/${service}`, {});
  const id = md5Id('http', addr);
  const r = await http('PUT', `${base}/services/${service}/instances/${id}`, {
    id,
    addr,
    proto: 'http',
    meta,
  });
  expect(r.status).toBe(200);
}

describe('discoverd metrics', () => {
  it('counts proposals by outcome, and observes proposal and fsync latency', async () => {
    const before = await metrics();
    await register('counted', '10.1.0.1:80');
    // Deleting an unknown service: refused by the leader's state check before proposing (404).
    expect((await http('DELETE', `${base}/services/never-created`)).status).toBe(404);
    const after = await metrics();
    const d = (s: string) => (sample(after, s) ?? 0) - (sample(before, s) ?? 0);
    expect(d('flynn_discoverd_raft_proposals_total{result="applied"}')).toBeGreaterThanOrEqual(2);
    expect(d('flynn_discoverd_raft_proposals_total{result="refused"}')).toBe(1);
    expect(sample(after, 'flynn_discoverd_raft_proposals_total{result="timeout"}')).toBe(0);
    expect(d('flynn_discoverd_raft_proposal_duration_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(d('flynn_discoverd_raft_fsync_duration_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'flynn_discoverd_raft_term')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'flynn_discoverd_raft_leader')).toBe(1);
  });

  it('exports instances per service, and drops a service once its last instance is gone', async () => {
    await register('web', '10.1.0.2:80');
    await register('web', '10.1.0.3:80');
    let text = await metrics();
    expect(sample(text, 'flynn_discoverd_service_instances{service="web"}')).toBe(2);
    for (const addr of ['10.1.0.2:80', '10.1.0.3:80']) {
      await http('DELETE', `${base}/services/web/instances/${md5Id('http', addr)}`);
    }
    text = await metrics();
    expect(sample(text, 'flynn_discoverd_service_instances{service="web"}')).toBeUndefined();
    expect(sample(text, 'flynn_discoverd_service_instances{service="counted"}')).toBe(1);
  });

  it('counts snapshots and exports the latest snapshot size', async () => {
    for (let i = 0; i < 25; i++) await register('snap', `10.2.0.${i}:80`);
    const text = await waitFor(
      async () => {
        const t = await metrics();
        return (sample(t, 'flynn_discoverd_raft_snapshots_total{source="local"}') ?? 0) >= 1 && t;
      },
      { what: 'a snapshot' },
    );
    expect(sample(text, 'flynn_discoverd_raft_snapshot_size_bytes')).toBeGreaterThan(100);
    expect(sample(text, 'flynn_discoverd_raft_snapshots_total{source="leader"}')).toBe(0);
  });
});

describe('GET /prometheus/targets', () => {
  it('lists every instance with METRICS_ADDR, labelled, deduplicated, sorted; no cluster key needed', async () => {
    await register('b-svc', '10.3.0.1:80', {
      METRICS_ADDR: '10.3.0.1:9100',
      HOST_ID: 'h1',
      FLYNN_APP_NAME: 'b',
    });
    await register('a-svc', '10.3.0.2:80', { METRICS_ADDR: '10.3.0.2:9100' });
    // Same metrics address under a second service: listed once, under the first service.
    await register('c-svc', '10.3.0.3:80', { METRICS_ADDR: '10.3.0.1:9100' });
    // Malformed: skipped, or Prometheus would reject the whole list.
    await register('d-svc', '10.3.0.4:80', { METRICS_ADDR: 'http://x/metrics' });
    const r = await http('GET', `${base}/prometheus/targets`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    const groups = r.json() as { targets: string[]; labels: Record<string, string> }[];
    const mine = groups.filter((g) => g.labels.service !== 'discoverd');
    expect(mine).toEqual([
      { targets: ['10.3.0.2:9100'], labels: { service: 'a-svc' } },
      { targets: ['10.3.0.1:9100'], labels: { service: 'b-svc', host: 'h1', app: 'b' } },
    ]);
    // discoverd registers itself with its own address and host id.
    await waitFor(
      async () => {
        const g = (await http('GET', `${base}/prometheus/targets`)).json() as typeof groups;
        return g.some(
          (x) =>
            x.labels.service === 'discoverd' &&
            x.targets[0] === base.slice('http://'.length) &&
            x.labels.host === 'hostA',
        );
      },
      { what: 'the discoverd self-registration as a target' },
    );
    // /kv/ is guarded by the same key: the key is really on.
    expect((await http('GET', `${base}/kv/x`)).status).toBe(401);
  });

  it('prometheusTargets ignores instances without meta and orders by service then index', () => {
    const insts = new Map([
      ['z/1', { id: '1', addr: 'a:1', proto: 'http', index: 5, meta: { METRICS_ADDR: '[::1]:9000' } }],
      ['z/2', { id: '2', addr: 'a:2', proto: 'http', index: 3, meta: { METRICS_ADDR: 'h:9001' } }],
      ['y/3', { id: '3', addr: 'a:3', proto: 'http', index: 9 }],
      ['y/4', { id: '4', addr: 'a:4', proto: 'http', index: 9, meta: { METRICS_ADDR: 'h:0' } }],
    ]);
    const view = {
      instanceKeys: () => [...insts.keys()].map((k) => ({ service: k.split('/')[0], id: k.split('/')[1] })),
      instance: (s: string, id: string) => insts.get(`${s}/${id}`),
    };
    expect(prometheusTargets(view)).toEqual([
      { targets: ['h:9001'], labels: { service: 'z' } },
      { targets: ['[::1]:9000'], labels: { service: 'z' } },
    ]);
  });
});

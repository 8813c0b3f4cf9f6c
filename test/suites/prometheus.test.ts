import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prometheusScrapeConfig } from '@flynn-edge/discoverd';
import { consecutivePorts, LocalCluster } from '@flynn-edge/local-cluster';
import { nextPortBlock } from '@flynn-edge/process-kit';
import { freePort, ManagedProcess, requireCommand, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A real Prometheus (Debian's 2.42) with the scrape config of docs/monitoring.md against the local
// cluster (LocalCluster, what `npm start` runs): every target comes from discoverd's HTTP service
// discovery and is `up`, a chosen metric of each service has a sane value, and `promtool check
// metrics` finds nothing in any service's /metrics but prom-client's known false positives.

const prom = requireCommand('prometheus', 'prometheus');

/**
 * promtool findings that come from prom-client's default Node metrics, not from ours: these are
 * gauges whose names end in _total. Listed in docs/monitoring.md.
 */
export const PROM_CLIENT_FALSE_POSITIVES = [
  /_nodejs_active_handles_total non-counter metrics should not have "_total" suffix$/,
  /_nodejs_active_requests_total non-counter metrics should not have "_total" suffix$/,
  /_nodejs_active_resources_total non-counter metrics should not have "_total" suffix$/,
];

const HOSTS = ['127.0.66.1', '127.0.66.2', '127.0.66.3'];
const dir = mkdtempSync(join(tmpdir(), 'prometheus-e2e-'));
const BASE = nextPortBlock(10);
const cluster = new LocalCluster({
  hosts: HOSTS,
  dir,
  ports: consecutivePorts(BASE, 29_000) /* job ports: this suite's band, 29000-31999 */,
});
let prometheus: ManagedProcess | undefined;
let promUrl = '';

interface Target {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

async function promApi<T>(path: string): Promise<T> {
  const r = await fetch(`${promUrl}${path}`, { signal: AbortSignal.timeout(5000) });
  const body = (await r.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? r.status}`);
  return body.data;
}

async function targets(): Promise<Target[]> {
  return (await promApi<{ activeTargets: Target[] }>('/api/v1/targets?state=active')).activeTargets;
}

/** Values of an instant vector query, by the label `by`. */
async function query(promql: string, by = 'instance'): Promise<Map<string, number>> {
  const data = await promApi<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
    `/api/v1/query?query=${encodeURIComponent(promql)}`,
  );
  return new Map(data.result.map((r) => [r.metric[by] ?? '', Number(r.value[1])]));
}

/** The services that register METRICS_ADDR, with how many targets each should have. */
function expectedTargets(): Map<string, number> {
  const m = new Map([
    ['discoverd', HOSTS.length],
    ['flynn-host', HOSTS.length],
    ['router-api', HOSTS.length], // a router on every host
    ['logaggregator-api', 2], // bootstrap's manifest runs two
  ]);
  if (cluster.hasStatus) m.set('status-web', 2);
  return m;
}

beforeAll(async () => {
  if (!prom.available) return;
  await cluster.start();
  const port = await freePort(HOSTS[0]);
  promUrl = `http://${HOSTS[0]}:${port}`;
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    prometheusScrapeConfig(
      HOSTS.map((h) => `${h}:${cluster.ports.discoverd}`),
      { scrapeInterval: '1s', refreshInterval: '1s' },
    ),
  );
  prometheus = new ManagedProcess({
    name: 'prometheus',
    command: 'prometheus',
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=${HOSTS[0]}:${port}`,
      '--log.level=warn',
    ],
    logFile: join(dir, 'prometheus.out'),
  });
  prometheus.start();
}, 120_000);

afterAll(async () => {
  await prometheus?.close();
  if (prom.available) await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.skipIf(!prom.available)('Prometheus against the local cluster', { timeout: 30_000 }, () => {
  it('finds every service through discoverd, once each, and scrapes every target (up)', async () => {
    const want = expectedTargets();
    const ts = await waitFor(
      async () => {
        const list = await targets();
        const count = new Map<string, number>();
        for (const t of list) count.set(t.labels.service, (count.get(t.labels.service) ?? 0) + 1);
        const complete = [...want].every(([s, n]) => count.get(s) === n);
        return complete && list.every((t) => t.health === 'up') && list;
      },
      { timeoutMs: 25_000, intervalMs: 200, what: 'every target up' },
    ).catch(async (err) => {
      throw new Error(
        `${(err as Error).message}\n${JSON.stringify(await targets().catch(() => []), null, 1)}`,
      );
    });
    // Three discoverd providers give the same list: Prometheus merged them, nothing is doubled.
    expect(ts).toHaveLength([...want.values()].reduce((a, b) => a + b, 0));
    // Labels: service, host (the flynn-host id), app (for jobs).
    const hostsOf = (service: string) =>
      ts
        .filter((t) => t.labels.service === service)
        .map((t) => t.labels.host)
        .sort();
    expect(hostsOf('flynn-host')).toEqual(['host1', 'host2', 'host3']);
    expect(hostsOf('discoverd')).toEqual(['host1', 'host2', 'host3']);
    expect(hostsOf('router-api')).toEqual(['host1', 'host2', 'host3']);
    expect(ts.find((t) => t.labels.service === 'logaggregator-api')?.labels.app).toBe('logaggregator');
    expect(
      ts
        .filter((t) => t.labels.service === 'router-api')
        .map((t) => t.scrapeUrl)
        .sort(),
    ).toEqual(HOSTS.map((h) => `http://${h}:${cluster.ports.routerApi}/metrics`).sort());
  });

  it('reads a sane value of a chosen metric from each service', async () => {
    // A request through the router, and a line from the demo app, after the cluster started.
    expect((await cluster.throughRouter(`demo.${cluster.domain}`)).status).toBe(200);
    // The status service checks on demand: one healthy answer sets its component gauges.
    expect(cluster.hasStatus).toBe(true);
    await waitFor(async () => (await cluster.throughRouter(`status.${cluster.domain}`)).status === 200, {
      timeoutMs: 15_000,
      what: 'a healthy status answer',
    });
    const checks: [string, (v: Map<string, number>) => boolean, string?][] = [
      // Every discoverd knows a term ≥ 1, and exactly one is the leader.
      ['flynn_discoverd_raft_term', (v) => v.size === HOSTS.length && [...v.values()].every((x) => x >= 1)],
      ['sum(flynn_discoverd_raft_leader)', (v) => v.get('') === 1],
      ['flynn_discoverd_service_instances{service="demo-web"}', (v) => [...v.values()].every((x) => x === 2)],
      ['sum(flynn_router_requests_total)', (v) => (v.get('') ?? 0) > 0],
      ['flynn_router_routes', (v) => [...v.values()].every((x) => x >= 1)],
      // Host 1 runs discoverd, the router and the logaggregator (and the status service).
      [
        'flynn_host_jobs{state="running",host="host1"}',
        (v) => v.size === 1 && [...v.values()].every((x) => x >= 3),
      ],
      ['sum(flynn_logaggregator_messages_ingested_total)', (v) => (v.get('') ?? 0) > 0],
      ['sum(flynn_host_log_lines_total)', (v) => (v.get('') ?? 0) > 0],
      // The status service saw each of the four components up (two status jobs: the one the
      // router asked has the gauges).
      [
        'max by (component) (flynn_status_component_up)',
        (v) => v.size === 4 && [...v.values()].every((x) => x === 1),
        'component',
      ],
    ];
    for (const [promql, ok, by] of checks) {
      await waitFor(async () => ok(await query(promql, by)), {
        timeoutMs: 15_000,
        intervalMs: 250,
        what: promql,
      }).catch(async (err) => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify([...(await query(promql, by))])}`);
      });
    }
  });

  it('promtool check metrics: clean on every target but for prom-client’s known false positives', async () => {
    const ts = await targets();
    expect(ts.length).toBeGreaterThan(0);
    for (const t of ts) {
      const text = await (await fetch(t.scrapeUrl, { signal: AbortSignal.timeout(5000) })).text();
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      const findings = `${r.stdout}${r.stderr}`
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !PROM_CLIENT_FALSE_POSITIVES.some((re) => re.test(l)));
      expect({ target: t.scrapeUrl, findings }).toEqual({ target: t.scrapeUrl, findings: [] });
    }
  });
});

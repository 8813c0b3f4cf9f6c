import type { Instance } from '@flynn-edge/discoverd-state';
import { HOST_ID_META, METRICS_ADDR_META, sendJson } from '@flynn-edge/service-kit';
import type { FastifyInstance } from 'fastify';

// Prometheus HTTP service discovery (http_sd_configs, Prometheus ≥ 2.28): GET /prometheus/targets
// lists, as target groups, every registered instance whose meta carries METRICS_ADDR (the
// `ip:port` serving /metrics), labelled with its service, host and app. Read-only and holding
// addresses only, it is not behind the cluster key. DNS SRV cannot do this job: Prometheus
// resolves names through the system resolver only.

export const PROMETHEUS_TARGETS_PATH = '/prometheus/targets';

export interface PrometheusTargetGroup {
  targets: [string];
  labels: { service: string; host?: string; app?: string };
}

export interface RegistryView {
  instanceKeys(): Iterable<{ service: string; id: string }>;
  instance(service: string, id: string): Instance | undefined;
}

/** `ip:port`, `name:port` or `[v6]:port`, port 1-65535: what Prometheus accepts as a target. */
export function isTargetAddr(addr: string): boolean {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[2]);
  return m !== null && port >= 1 && port <= 65535;
}

/**
 * One group per metrics address, sorted by service then address. When several instances name
 * the same address, the first by (service, instance index) wins. Malformed addresses are
 * skipped: Prometheus would otherwise reject the whole list.
 */
export function prometheusTargets(registry: RegistryView): PrometheusTargetGroup[] {
  const found: { addr: string; service: string; index: number; inst: Instance }[] = [];
  for (const { service, id } of registry.instanceKeys()) {
    const inst = registry.instance(service, id);
    const addr = inst?.meta?.[METRICS_ADDR_META];
    if (!inst || !addr || !isTargetAddr(addr)) continue;
    found.push({ addr, service, index: inst.index ?? 0, inst });
  }
  found.sort((a, b) => cmp(a.service, b.service) || a.index - b.index || cmp(a.addr, b.addr));
  const seen = new Set<string>();
  const groups: PrometheusTargetGroup[] = [];
  for (const f of found) {
    if (seen.has(f.addr)) continue;
    seen.add(f.addr);
    const labels: PrometheusTargetGroup['labels'] = { service: f.service };
    const host = f.inst.meta?.[HOST_ID_META];
    const app = f.inst.meta?.FLYNN_APP_NAME;
    if (host) labels.host = host;
    if (app) labels.app = app;
    groups.push({ targets: [f.addr], labels });
  }
  return groups;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function prometheusRoutes(registry: RegistryView) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    // Answered from this node's applied state (like a stale read): it trails the leader by
    // milliseconds, and Prometheus re-reads it every refresh_interval anyway.
    app.get(PROMETHEUS_TARGETS_PATH, (_req, reply) => sendJson(reply, 200, prometheusTargets(registry)));
  };
}

export interface ScrapeConfigOptions {
  /** Prometheus job name; default `flynn`. */
  jobName?: string;
  /** How often each target is scraped; default `15s`. */
  scrapeInterval?: string;
  /** How often the target list is re-read from discoverd; default `30s`. */
  refreshInterval?: string;
}

/**
 * The scrape config of docs/monitoring.md for a cluster whose discoverd peers are `discoverd`
 * (`ip:port`): one http_sd_config per peer, so the list survives any one peer being down
 * (Prometheus merges identical targets from several providers into one).
 */
export function prometheusScrapeConfig(discoverd: readonly string[], opts: ScrapeConfigOptions = {}): string {
  const interval = opts.scrapeInterval ?? '15s';
  const lines = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval === '15s' ? '10s' : interval}`,
    `  evaluation_interval: ${interval}`,
    'scrape_configs:',
    `  - job_name: ${opts.jobName ?? 'flynn'}`,
    // flynn_discoverd_service_instances{service} names registered services: keep its label as
    // scraped instead of renaming it exported_service under the target's own service label.
    '    honor_labels: true',
    '    http_sd_configs:',
  ];
  for (const peer of discoverd) {
    lines.push(
      `      - url: http://${peer}${PROMETHEUS_TARGETS_PATH}`,
      `        refresh_interval: ${opts.refreshInterval ?? '30s'}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

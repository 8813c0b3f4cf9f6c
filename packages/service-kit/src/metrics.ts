// prom-client with the project's naming rules:
// - every metric lives in the component's own Registry (never prom-client's global one);
// - names are snake_case and start with flynn_<component>_;
// - base units only: seconds and bytes (no _ms, _kb, _minutes, ...); counters end in _total and
//   nothing else does;
// - bounded labels: no request ids, raw paths/URLs or client addresses.
// The registry is served in the Prometheus text format only. Switching one registry between the
// text and OpenMetrics formats per request corrupts counter names later (see shared notes).

import {
  Counter,
  type CounterConfiguration,
  collectDefaultMetrics,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  type HistogramConfiguration,
  Registry,
} from 'prom-client';

export class MetricNameError extends Error {
  override readonly name = 'MetricNameError';
}

type Extra<C> = Omit<C, 'name' | 'help' | 'labelNames' | 'registers'>;

export type HttpLabels = 'method' | 'route' | 'status';

export interface Metrics {
  readonly component: string;
  /** `flynn_<component>_` */
  readonly prefix: string;
  readonly registry: Registry;
  /** Content-Type of text(): the Prometheus text format 0.0.4. */
  readonly contentType: string;
  counter<L extends string = never>(
    name: string,
    help: string,
    labelNames?: readonly L[],
    extra?: Extra<CounterConfiguration<L>>,
  ): Counter<L>;
  gauge<L extends string = never>(
    name: string,
    help: string,
    labelNames?: readonly L[],
    extra?: Extra<GaugeConfiguration<L>>,
  ): Gauge<L>;
  histogram<L extends string = never>(
    name: string,
    help: string,
    labelNames?: readonly L[],
    extra?: Extra<HistogramConfiguration<L>>,
  ): Histogram<L>;
  /** `flynn_<component>_http_request_duration_seconds{method,route,status}`, created on first use. */
  httpRequestDuration(): Histogram<HttpLabels>;
  /** The exposition text. */
  text(): Promise<string>;
}

export interface MetricsOptions {
  /** Node process metrics (CPU, memory, event loop, GC), prefixed. Default true. */
  defaultMetrics?: boolean;
}

const NON_BASE_UNITS = new Set([
  'ns',
  'nanoseconds',
  'us',
  'microseconds',
  'ms',
  'millis',
  'milliseconds',
  'minutes',
  'hours',
  'days',
  'kb',
  'kib',
  'kilobytes',
  'mb',
  'mib',
  'megabytes',
  'gb',
  'gib',
  'gigabytes',
  'percent',
]);
const UNBOUNDED_LABELS = new Set([
  'request_id',
  'req_id',
  'url',
  'path',
  'raw_path',
  'client_ip',
  'client_addr',
  'remote_addr',
  'ip',
  'user_agent',
]);
const RESERVED_HISTOGRAM_SUFFIXES = ['_bucket', '_count', '_sum'];

export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** Throws a MetricNameError if `name`/`labelNames` break the project's conventions. */
export function checkMetricName(
  prefix: string,
  kind: MetricKind,
  name: string,
  labelNames: readonly string[] = [],
): void {
  const fail = (why: string) => {
    throw new MetricNameError(`metric ${JSON.stringify(name)}: ${why}`);
  };
  if (!/^[a-z][a-z0-9_]*$/.test(name) || name.includes('__') || name.endsWith('_')) {
    fail('must be snake_case ([a-z0-9_], no empty words)');
  }
  if (!name.startsWith(prefix) || name.length === prefix.length) fail(`must start with ${prefix}`);
  const words = name.slice(prefix.length).split('_');
  const bad = words.find((w) => NON_BASE_UNITS.has(w));
  if (bad) fail(`uses the unit "${bad}"; use base units (_seconds, _bytes, _ratio)`);
  if (kind === 'counter' && !name.endsWith('_total')) fail('a counter must end in _total');
  if (kind !== 'counter' && name.endsWith('_total')) fail(`only counters end in _total (this is a ${kind})`);
  if (kind === 'histogram' && RESERVED_HISTOGRAM_SUFFIXES.some((s) => name.endsWith(s))) {
    fail('a histogram must not end in _bucket, _count or _sum');
  }
  for (const label of labelNames) {
    if (!/^[a-z_][a-z0-9_]*$/.test(label) || label.startsWith('__')) fail(`bad label name "${label}"`);
    if (UNBOUNDED_LABELS.has(label) || (kind === 'histogram' && label === 'le')) {
      fail(`label "${label}" is unbounded or reserved`);
    }
  }
}

/** `discoverd` → `flynn_discoverd_`; dashes become underscores. */
export function metricPrefix(component: string): string {
  const c = component.toLowerCase().replaceAll('-', '_');
  if (!/^[a-z][a-z0-9_]*$/.test(c))
    throw new MetricNameError(`bad component name ${JSON.stringify(component)}`);
  return `flynn_${c}_`;
}

export function createMetrics(component: string, options: MetricsOptions = {}): Metrics {
  const prefix = metricPrefix(component);
  const registry = new Registry();
  // prom-client samples event-loop delay every 10 ms by default: ~5 ms of CPU a second in every
  // idle process (measured, issue 17); 100 ms costs ~0.6 ms and still shows stalls.
  if (options.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix, eventLoopMonitoringPrecision: 100 });
  let http: Histogram<HttpLabels> | undefined;

  const metrics: Metrics = {
    component,
    prefix,
    registry,
    contentType: registry.contentType,
    counter(name, help, labelNames = [], extra = {}) {
      checkMetricName(prefix, 'counter', name, labelNames);
      return new Counter({ ...extra, name, help, labelNames, registers: [registry] });
    },
    gauge(name, help, labelNames = [], extra = {}) {
      checkMetricName(prefix, 'gauge', name, labelNames);
      return new Gauge({ ...extra, name, help, labelNames, registers: [registry] });
    },
    histogram(name, help, labelNames = [], extra = {}) {
      checkMetricName(prefix, 'histogram', name, labelNames);
      return new Histogram({ ...extra, name, help, labelNames, registers: [registry] });
    },
    httpRequestDuration() {
      http ??= metrics.histogram(
        `${prefix}http_request_duration_seconds`,
        'HTTP request latency by method, route pattern and status code.',
        ['method', 'route', 'status'],
      );
      return http;
    },
    text: () => registry.metrics(),
  };
  return metrics;
}

// ---- where a service's metrics are found ---------------------------------------------------
// Every service registers its metrics address in discoverd (design.md), as meta of the instance
// it registers anyway; discoverd's GET /prometheus/targets turns those into Prometheus targets.

/** Instance meta key: the `ip:port` whose `/metrics` Prometheus scrapes (docs/monitoring.md). */
export const METRICS_ADDR_META = 'METRICS_ADDR';
/** Instance meta key: the flynn-host id of the host the instance runs on. */
export const HOST_ID_META = 'HOST_ID';

/**
 * The meta that makes an instance a Prometheus target: `METRICS_ADDR=<ip:port>` (the listener
 * serving `/metrics`; the path is always /metrics) and `HOST_ID` when the host is known:
 * `hostId`, else `env.HOST_ID` (flynn-host gives it to every job; default env: process.env).
 */
export function metricsMeta(
  metricsAddr: string,
  opts: { hostId?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): Record<string, string> {
  if (!/^[^\s/]+:\d{1,5}$/.test(metricsAddr)) {
    throw new TypeError(`metrics address ${JSON.stringify(metricsAddr)} must be host:port`);
  }
  const meta: Record<string, string> = { [METRICS_ADDR_META]: metricsAddr };
  const hostId = opts.hostId || (opts.env ?? process.env).HOST_ID;
  if (hostId) meta[HOST_ID_META] = hostId;
  return meta;
}

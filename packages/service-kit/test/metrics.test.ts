import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  checkMetricName,
  createMetrics,
  HOST_ID_META,
  METRICS_ADDR_META,
  MetricNameError,
  metricPrefix,
  metricsMeta,
} from '../src/index.js';

describe('metrics naming', () => {
  it('derives the prefix from the component', () => {
    expect(metricPrefix('discoverd')).toBe('flynn_discoverd_');
    expect(metricPrefix('log-aggregator')).toBe('flynn_log_aggregator_');
    expect(() => metricPrefix('9lives')).toThrow(MetricNameError);
  });

  it('accepts conventional names', () => {
    const m = createMetrics('router', { defaultMetrics: false });
    expect(() => m.counter('flynn_router_requests_total', 'requests', ['method'])).not.toThrow();
    expect(() => m.gauge('flynn_router_backends', 'backends', ['service'])).not.toThrow();
    expect(() => m.histogram('flynn_router_upstream_duration_seconds', 'latency')).not.toThrow();
    expect(() => m.histogram('flynn_router_response_size_bytes', 'size')).not.toThrow();
  });

  it.each([
    ['counter', 'flynn_router_requests', 'a counter must end in _total'],
    ['counter', 'router_requests_total', 'must start with flynn_router_'],
    ['counter', 'flynn_discoverd_requests_total', 'must start with flynn_router_'],
    ['gauge', 'flynn_router_open_total', 'only counters end in _total'],
    ['histogram', 'flynn_router_latency_ms', 'unit "ms"'],
    ['histogram', 'flynn_router_latency_milliseconds', 'unit "milliseconds"'],
    ['gauge', 'flynn_router_buffer_kb', 'unit "kb"'],
    ['histogram', 'flynn_router_duration_seconds_sum', '_bucket, _count or _sum'],
    ['gauge', 'flynn_router_Backends', 'snake_case'],
    ['gauge', 'flynn_router_', 'snake_case'],
  ] as const)('rejects a %s named %s', (kind, name, why) => {
    expect(() => checkMetricName('flynn_router_', kind, name)).toThrow(why);
  });

  it('rejects unbounded labels', () => {
    const m = createMetrics('router', { defaultMetrics: false });
    expect(() => m.counter('flynn_router_requests_total', 'x', ['path'])).toThrow(/unbounded/);
    expect(() => m.histogram('flynn_router_x_seconds', 'x', ['request_id'])).toThrow(/unbounded/);
    expect(() => m.gauge('flynn_router_x', 'x', ['client_ip'])).toThrow(/unbounded/);
  });

  it('uses its own registry with prefixed default metrics, never the global one', async () => {
    const before = (await globalRegistry.getMetricsAsJSON()).length;
    const m = createMetrics('status');
    const c = m.counter('flynn_status_checks_total', 'checks', ['name']);
    c.inc({ name: 'router' });
    const text = await m.text();
    expect(text).toContain('flynn_status_checks_total{name="router"} 1');
    expect(text).toContain('flynn_status_process_cpu_user_seconds_total');
    expect(text).not.toMatch(/^process_/m);
    expect(m.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect((await globalRegistry.getMetricsAsJSON()).length).toBe(before);
    // Two registries for the same component do not clash.
    expect(() => createMetrics('status').counter('flynn_status_checks_total', 'checks')).not.toThrow();
  });

  it('creates the HTTP histogram once', () => {
    const m = createMetrics('x', { defaultMetrics: false });
    expect(m.httpRequestDuration()).toBe(m.httpRequestDuration());
  });
});

describe('metricsMeta', () => {
  it('names the metrics address, and the host from the option, else $HOST_ID', () => {
    expect(metricsMeta('10.0.0.1:5000', { env: { HOST_ID: 'host7' } })).toEqual({
      [METRICS_ADDR_META]: '10.0.0.1:5000',
      [HOST_ID_META]: 'host7',
    });
    expect(metricsMeta('10.0.0.1:5000', { hostId: 'h1', env: { HOST_ID: 'host7' } })).toEqual({
      METRICS_ADDR: '10.0.0.1:5000',
      HOST_ID: 'h1',
    });
    expect(metricsMeta('[::1]:1111', { env: {} })).toEqual({ METRICS_ADDR: '[::1]:1111' });
  });

  it('refuses anything but host:port', () => {
    for (const bad of ['', '10.0.0.1', 'http://10.0.0.1:5000/metrics', ':5000', '10.0.0.1:port']) {
      expect(() => metricsMeta(bad, { env: {} })).toThrow(/host:port/);
    }
  });
});

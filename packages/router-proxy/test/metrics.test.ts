import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createProxyMetrics } from '../src/metrics.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The same series recorded the plain prom-client way (label lookup per observation). */
function reference() {
  const registry = new Registry();
  const requests = new Counter({
    name: 'flynn_router_requests_total',
    help: 'HTTP requests proxied, by route (domain+path) and status class',
    labelNames: ['route', 'status_class'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'flynn_router_request_duration_seconds',
    help: 'Time from request head to end of response',
    labelNames: ['status_class'],
    buckets: BUCKETS,
    registers: [registry],
  });
  const observe = (route: string, status: number, s: number) => {
    const c = `${Math.min(Math.max(Math.floor(status / 100), 1), 5)}xx`;
    requests.inc({ route, status_class: c });
    duration.observe({ status_class: c }, s);
  };
  return { registry, observe };
}

/** The two request metrics' lines, sorted (series order follows first use, which may differ). */
async function requestSeries(r: Registry): Promise<string[]> {
  const a = await r.getSingleMetricAsString('flynn_router_requests_total');
  const b = await r.getSingleMetricAsString('flynn_router_request_duration_seconds');
  // Sums are added in another order (per scrape): equal to ~1e-15, so compared to 9 digits.
  const round = (l: string) => l.replace(/(_sum\{.*\} )(.*)$/, (_, k, v) => k + Number(v).toPrecision(9));
  return `${a}\n${b}`.split('\n').map(round).sort();
}

const byLabels = (x: { labels: object }) => JSON.stringify(x.labels);
const sortedValues = (ms: { name: string; values: { labels: object; value: number }[] }[]) =>
  ms
    .filter((x) => x.name.includes('request'))
    .map((x) => ({
      ...x,
      values: x.values
        .map((v) => ({ ...v, value: Number(v.value.toPrecision(9)) }))
        .sort((a, b) => (byLabels(a) < byLabels(b) ? -1 : 1)),
    }));

describe('proxy metrics', () => {
  it('scrape equals prom-client recording every request itself, across scrapes and a reset', async () => {
    const registry = new Registry();
    const m = createProxyMetrics(registry);
    const ref = reference();
    let seed = 17;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const statuses = [101, 200, 204, 301, 404, 499, 503, 504];
    const batch = (n: number) => {
      for (let i = 0; i < n; i++) {
        const route = `r${Math.floor(rand() * 5)}.test/`;
        const status = statuses[Math.floor(rand() * statuses.length)];
        // Spans every bucket, bounds exactly, and +Inf.
        const s = rand() < 0.1 ? BUCKETS[Math.floor(rand() * BUCKETS.length)] : rand() ** 4 * 20;
        m.observe(route, status, s);
        ref.observe(route, status, s);
      }
    };
    batch(500);
    expect(await requestSeries(registry)).toEqual(await requestSeries(ref.registry));
    batch(300); // after a scrape: nothing is counted twice
    expect(await requestSeries(registry)).toEqual(await requestSeries(ref.registry));
    expect(await requestSeries(registry)).toEqual(await requestSeries(ref.registry));
    batch(100); // dropped by the reset like recorded ones, scraped or not
    registry.resetMetrics();
    ref.registry.resetMetrics();
    batch(200);
    expect(await requestSeries(registry)).toEqual(await requestSeries(ref.registry));
    const json = await registry.getMetricsAsJSON();
    const refJson = await ref.registry.getMetricsAsJSON();
    expect(sortedValues(json)).toEqual(sortedValues(refJson));
  });
});

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const MAX_ROUTES = 1000;
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** prom-client 15's per-label-set histogram state (its `hashMap` values). */
interface HistogramEntry {
  labels: Record<string, string | number>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/** Observations of one status class not yet added to the histogram. */
class PendingDurations {
  /** Per bucket: observations whose smallest bound ≥ the value is that bucket's. */
  readonly buckets = new Float64Array(BUCKETS.length);
  sum = 0;
  count = 0;

  add(seconds: number): void {
    if (!Number.isFinite(seconds)) return; // prom-client would throw; a NaN sum would stick
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]) {
        this.buckets[i]++;
        break;
      }
    }
    this.sum += seconds;
    this.count++;
  }

  clear(): void {
    this.buckets.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /** Adds (then forgets) the pending observations to `e`. */
  flushInto(e: HistogramEntry): void {
    for (let i = 0; i < BUCKETS.length; i++) {
      e.bucketValues[BUCKETS[i]] += this.buckets[i];
      this.buckets[i] = 0;
    }
    e.sum += this.sum;
    e.count += this.count;
    this.sum = 0;
    this.count = 0;
  }
}

export interface ProxyMetrics {
  requests: Counter<'route' | 'status_class'>;
  duration: Histogram<'status_class'>;
  retries: Counter;
  clientConnections: Gauge;
  rejectedConnections: Counter;
  evictedConnections: Counter;
  dialFailures: Counter;
  quarantined: Gauge;
  upgrades: Counter;
  /** Bounded route label: the first 1,000 distinct values, then `_other`. */
  routeLabel(route: string): string;
  /**
   * Records one finished request in local counts, added to the prom-client metrics when they are
   * collected (a scrape), so the hot path does no label validation or hashing.
   */
  observe(route: string, status: number, seconds: number): void;
  /** Set by the proxy: how many backends are quarantined now (read at scrape time). */
  quarantinedCount?: () => number;
}

function statusClass(status: number): number {
  const c = Math.floor(status / 100) - 1;
  return c < 0 ? 0 : Math.min(c, 4);
}

export function createProxyMetrics(registry: Registry): ProxyMetrics {
  const requests = new Counter({
    name: 'flynn_router_requests_total',
    help: 'HTTP requests proxied, by route (domain+path) and status class',
    labelNames: ['route', 'status_class'] as const,
    registers: [registry],
    collect: () => flushRequests(),
  });
  const duration = new Histogram({
    name: 'flynn_router_request_duration_seconds',
    help: 'Time from request head to end of response',
    labelNames: ['status_class'] as const,
    buckets: BUCKETS,
    registers: [registry],
    collect: () => flushDurations(),
  });
  const m: ProxyMetrics = {
    requests,
    duration,
    retries: new Counter({
      name: 'flynn_router_retries_total',
      help: 'Backend attempts retried after a dial error or a stale pooled connection',
      registers: [registry],
    }),
    clientConnections: new Gauge({
      name: 'flynn_router_client_connections',
      help: 'Open HTTP client connections',
      registers: [registry],
    }),
    rejectedConnections: new Counter({
      name: 'flynn_router_rejected_connections_total',
      help: 'Client connections closed at once because the connection limit was reached',
      registers: [registry],
    }),
    evictedConnections: new Counter({
      name: 'flynn_router_evicted_connections_total',
      help: 'Connections without a request in flight closed to make room at the connection limit',
      registers: [registry],
    }),
    dialFailures: new Counter({
      name: 'flynn_router_backend_dial_failures_total',
      help: 'Failed backend dials',
      registers: [registry],
    }),
    quarantined: new Gauge({
      name: 'flynn_router_quarantined_backends',
      help: 'Backends skipped after consecutive dial failures',
      registers: [registry],
      collect() {
        this.set(m.quarantinedCount?.() ?? 0);
      },
    }),
    upgrades: new Counter({
      name: 'flynn_router_upgrades_total',
      help: 'Upgraded (e.g. websocket) connections established',
      registers: [registry],
    }),
    routeLabel,
    observe,
  };
  /** Per route label: requests per status class not yet added to the counter. */
  const routes = new Map<string, Float64Array>();
  const pending = CLASSES.map(() => new PendingDurations());
  function routeLabel(route: string): string {
    return routes.has(route) || routes.size < MAX_ROUTES ? route : '_other';
  }
  function observe(route: string, status: number, seconds: number): void {
    let counts = routes.get(route);
    if (counts === undefined) {
      const label = routeLabel(route);
      counts = routes.get(label);
      if (counts === undefined) {
        counts = new Float64Array(CLASSES.length);
        routes.set(label, counts);
      }
    }
    const c = statusClass(status);
    counts[c]++;
    pending[c].add(seconds);
  }
  // A reset (Registry.resetMetrics) drops what is pending too, as it drops what was recorded.
  const resetRequests = requests.reset.bind(requests);
  requests.reset = () => {
    for (const counts of routes.values()) counts.fill(0);
    resetRequests();
  };
  const resetDuration = duration.reset.bind(duration);
  duration.reset = () => {
    for (const p of pending) p.clear();
    resetDuration();
  };
  function flushRequests(): void {
    for (const [route, counts] of routes) {
      for (let c = 0; c < CLASSES.length; c++) {
        if (counts[c] === 0) continue;
        requests.inc({ route, status_class: CLASSES[c] }, counts[c]);
        counts[c] = 0;
      }
    }
  }
  function flushDurations(): void {
    const map = (duration as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap;
    for (let c = 0; c < CLASSES.length; c++) {
      const p = pending[c];
      if (p.count === 0) continue;
      let e = entryOf(map, CLASSES[c]);
      if (e === undefined) {
        // Creates the label set's entry through the public API, then takes the probe back out.
        duration.observe({ status_class: CLASSES[c] }, 0);
        e = entryOf(map, CLASSES[c]);
        if (e === undefined) throw new Error('prom-client histogram internals changed');
        e.bucketValues[BUCKETS[0]]--;
        e.count--;
      }
      p.flushInto(e);
    }
  }
  return m;
}

function entryOf(map: Record<string, HistogramEntry>, statusClass: string): HistogramEntry | undefined {
  for (const k in map) if (map[k].labels.status_class === statusClass) return map[k];
  return undefined;
}

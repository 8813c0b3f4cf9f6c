import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const MAX_ROUTES = 1000;
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

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
  /** Records one finished request (children cached so the hot path does no label hashing). */
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
  });
  const duration = new Histogram({
    name: 'flynn_router_request_duration_seconds',
    help: 'Time from request head to end of response',
    labelNames: ['status_class'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
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
  const routes = new Map<string, Counter.Internal[]>();
  const durations = CLASSES.map((c) => duration.labels(c));
  function routeLabel(route: string): string {
    return routes.has(route) || routes.size < MAX_ROUTES ? route : '_other';
  }
  function observe(route: string, status: number, seconds: number): void {
    let children = routes.get(route);
    if (children === undefined) {
      const label = routeLabel(route);
      children = routes.get(label);
      if (children === undefined) {
        children = CLASSES.map((c) => requests.labels(label, c));
        routes.set(label, children);
      }
    }
    const c = statusClass(status);
    children[c].inc();
    durations[c].observe(seconds);
  }
  return m;
}

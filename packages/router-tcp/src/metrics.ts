// Prometheus metrics. Labels stay bounded: the only label is the routed port.

import { Counter, Gauge, type Registry } from 'prom-client';

export interface TcpMetrics {
  connections: Counter<'port'>;
  dialFailures: Counter<'port'>;
}

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function createTcpMetrics(registry: Registry, active: () => number): TcpMetrics {
  const connections = reuse(
    registry,
    'flynn_router_tcp_connections_total',
    () =>
      new Counter({
        name: 'flynn_router_tcp_connections_total',
        help: 'TCP route connections accepted on a routed port.',
        labelNames: ['port'],
        registers: [registry],
      }),
  );
  const dialFailures = reuse(
    registry,
    'flynn_router_tcp_dial_failures_total',
    () =>
      new Counter({
        name: 'flynn_router_tcp_dial_failures_total',
        help: 'Failed backend dial attempts for TCP routes (each attempt counts).',
        labelNames: ['port'],
        registers: [registry],
      }),
  );
  if (!registry.getSingleMetric('flynn_router_tcp_active_connections')) {
    new Gauge({
      name: 'flynn_router_tcp_active_connections',
      help: 'Open TCP route client connections (dialing or spliced).',
      registers: [registry],
      collect() {
        this.set(active());
      },
    });
  }
  return { connections, dialFailures };
}

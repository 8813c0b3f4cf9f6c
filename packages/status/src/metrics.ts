import type { Metrics } from '@flynn-edge/service-kit';
import type { ComponentResult } from './envelope.js';
import type { RoundObserver } from './runner.js';
import type { Scope } from './service.js';

// The status service's own metrics (issue 6): whether each component was up at the last check,
// how long each check took, and the requests answered by scope and status code.

export interface StatusMetrics extends RoundObserver {
  onResult(name: string, result: ComponentResult): void;
  onResponse(scope: Scope | 'none', code: number): void;
}

const CHECK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5];

export function createStatusMetrics(metrics: Metrics): StatusMetrics {
  const up = metrics.gauge(
    'flynn_status_component_up',
    '1 when the component was healthy at its last check, 0 otherwise.',
    ['component'],
  );
  const duration = metrics.histogram(
    'flynn_status_check_duration_seconds',
    'Duration of each component check (capped by the check timeout).',
    ['component'],
    { buckets: CHECK_BUCKETS },
  );
  const requests = metrics.counter(
    'flynn_status_requests_total',
    'Status requests answered, by scope (cluster, host, none for 401/400) and HTTP status code.',
    ['scope', 'code'],
  );
  return {
    onResult(name, result) {
      up.set({ component: name }, result.status === 'healthy' ? 1 : 0);
      duration.observe({ component: name }, result.latency_seconds);
    },
    onResponse(scope, code) {
      requests.inc({ scope, code: String(code) });
    },
  };
}

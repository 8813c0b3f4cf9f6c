import type { ManagedStatus, Route } from '@flynn-edge/router-core';
import type { Metrics } from '@flynn-edge/service-kit';
import { isManaged } from './plan.js';

// The managed certificates as Prometheus sees them (docs/monitoring.md): expiry and status per
// domain from the route records, plus the issuer's own orders.

const STATUSES: ManagedStatus[] = ['pending', 'issued', 'failed', 'renewing'];

/** issued; failed (recorded on the route); discarded (issued, the route moved on); aborted (stepped down). */
export type OrderResult = 'issued' | 'failed' | 'discarded' | 'aborted';
const RESULTS: OrderResult[] = ['issued', 'failed', 'discarded', 'aborted'];

export interface IssuerMetrics {
  ordered(result: OrderResult): void;
}

export function createIssuerMetrics(
  metrics: Metrics,
  view: { routes(): Route[]; inFlight(): number; leader(): boolean },
): IssuerMetrics {
  metrics.gauge(
    'flynn_router_managed_certificate_expiry_timestamp_seconds',
    'When the managed certificate of a domain expires (Unix time); absent before the first issuance.',
    ['domain'],
    {
      collect() {
        this.reset();
        for (const r of view.routes()) {
          if (!isManaged(r) || !r.managed_certificate.expires_at) continue;
          const t = Date.parse(r.managed_certificate.expires_at);
          if (!Number.isNaN(t)) this.set({ domain: r.managed_certificate.domain }, t / 1000);
        }
      },
    },
  );
  metrics.gauge(
    'flynn_router_managed_certificate_status',
    'Status of the managed certificate of a domain: 1 for its current status, 0 for the others.',
    ['domain', 'status'],
    {
      collect() {
        this.reset();
        for (const r of view.routes()) {
          if (!isManaged(r)) continue;
          const m = r.managed_certificate;
          for (const s of STATUSES) this.set({ domain: m.domain, status: s }, m.status === s ? 1 : 0);
        }
      },
    },
  );
  metrics.gauge('flynn_router_acme_orders_in_flight', 'ACME orders this router is running now.', [], {
    collect() {
      this.set(view.inFlight());
    },
  });
  metrics.gauge('flynn_router_acme_issuer', '1 while this router is the ACME issuer of the cluster.', [], {
    collect() {
      this.set(view.leader() ? 1 : 0);
    },
  });
  const orders = metrics.counter('flynn_router_acme_orders_total', 'ACME orders finished, by result.', [
    'result',
  ]);
  for (const result of RESULTS) orders.inc({ result }, 0);
  return { ordered: (result) => orders.inc({ result }) };
}

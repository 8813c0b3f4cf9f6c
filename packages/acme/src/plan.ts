import type { HTTPRoute, ManagedCertificate, ManagedStatus, Route } from '@flynn-edge/router-core';

// Which managed certificates the issuer should order now, and when a failed one may try again.
// Pure functions of the route records and the clock: a new issuer decides from the same records.

export interface PlanTiming {
  /** Renew an issued certificate once less than this share of its lifetime is left (default 1/3). */
  renewFraction: number;
  /** First retry after a failure; doubles per failed attempt (default 5 s). */
  backoffBaseMs: number;
  /** Longest pause between attempts (default 1 h). */
  backoffMaxMs: number;
}

export const DEFAULT_PLAN_TIMING: Readonly<PlanTiming> = Object.freeze({
  renewFraction: 1 / 3,
  backoffBaseMs: 5000,
  backoffMaxMs: 3_600_000,
});

/** An HTTP route with a managed certificate. */
export type ManagedRoute = HTTPRoute & { id: string; managed_certificate: ManagedCertificate };

export function isManaged(r: Route): r is ManagedRoute {
  return r.type === 'http' && !!r.id && (r as HTTPRoute).managed_certificate?.domain !== undefined;
}

/** Pause before attempt n+1 after n failed ones: base·2^(n-1), capped. */
export function backoffMs(attempts: number, t: PlanTiming): number {
  const n = Math.max(1, attempts);
  return Math.min(t.backoffMaxMs, t.backoffBaseMs * 2 ** Math.min(n - 1, 40));
}

/** Should an order start now for this certificate? Answers the status the decision was made on. */
export function due(m: ManagedCertificate, now: number, t: PlanTiming): ManagedStatus | undefined {
  switch (m.status) {
    case 'pending':
    case 'renewing':
      return m.status;
    case 'failed': {
      const next = m.next_attempt_at ? Date.parse(m.next_attempt_at) : 0;
      return Number.isNaN(next) || next <= now ? 'failed' : undefined;
    }
    case 'issued': {
      const end = m.expires_at ? Date.parse(m.expires_at) : Number.NaN;
      const start = m.not_before ? Date.parse(m.not_before) : Number.NaN;
      // No validity recorded: nothing to go by, so order (the record is incomplete).
      if (Number.isNaN(end)) return 'issued';
      const life = Number.isNaN(start) ? 0 : end - start;
      return end - now < life * t.renewFraction ? 'issued' : undefined;
    }
    default:
      return undefined;
  }
}

/** One line: ACME problem details and stack-less messages may carry newlines. */
export function oneLine(msg: string, max = 500): string {
  const s = msg.replace(/\s*\n\s*/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

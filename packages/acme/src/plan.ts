import type { HTTPRoute, ManagedCertificate, ManagedStatus, Route } from '@flynn-edge/router-core';

// Which managed certificates the issuer should order now, in which order, and when a failed one
// may try again. Pure functions of the route records and the clock: a new issuer decides from the
// same records.

export interface PlanTiming {
  /** Renew an issued certificate once less than this share of its lifetime is left (default 1/3). */
  renewFraction: number;
  /** First retry after a failure; doubles per failed attempt (default 1 min). */
  backoffBaseMs: number;
  /** Longest pause between attempts (default 24 h). */
  backoffMaxMs: number;
  /** Each pause is spread by ± this share, so failures do not retry in step (default 0.2). */
  backoffJitter: number;
}

export const DEFAULT_PLAN_TIMING: Readonly<PlanTiming> = Object.freeze({
  renewFraction: 1 / 3,
  backoffBaseMs: 60_000,
  backoffMaxMs: 86_400_000,
  backoffJitter: 0.2,
});

/** An HTTP route with a managed certificate. */
export type ManagedRoute = HTTPRoute & { id: string; managed_certificate: ManagedCertificate };

export function isManaged(r: Route): r is ManagedRoute {
  return r.type === 'http' && !!r.id && (r as HTTPRoute).managed_certificate?.domain !== undefined;
}

/**
 * Pause before attempt n+1 after n failed ones: base·2^(n-1) spread by ±jitter, never over the
 * maximum. `random` is in [0, 1) (tests pin it).
 */
export function backoffMs(attempts: number, t: PlanTiming, random: () => number = Math.random): number {
  const n = Math.max(1, attempts);
  const plain = Math.min(t.backoffMaxMs, t.backoffBaseMs * 2 ** Math.min(n - 1, 40));
  const spread = 1 + t.backoffJitter * (2 * random() - 1);
  return Math.round(Math.min(t.backoffMaxMs, plain * spread));
}

/**
 * Should an order start now for this route's certificate? Answers the status the decision was
 * made on. An issued certificate that is no longer the route's (deleted through the certificate
 * API) is ordered again at once.
 */
export function due(r: ManagedRoute, now: number, t: PlanTiming): ManagedStatus | undefined {
  const m = r.managed_certificate;
  switch (m.status) {
    case 'pending':
    case 'renewing':
      return m.status;
    case 'failed': {
      const next = m.next_attempt_at ? Date.parse(m.next_attempt_at) : 0;
      return Number.isNaN(next) || next <= now ? 'failed' : undefined;
    }
    case 'issued': {
      if (r.certificate?.id !== m.certificate_id) return 'issued';
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

export interface Candidate {
  route: ManagedRoute;
  /** The status `due` decided on. */
  seen: ManagedStatus;
}

/** Renewals keep a name that is served; a failed name has waited longest when its retry came first. */
function rank(c: Candidate): [number, number] {
  const m = c.route.managed_certificate;
  const t = (s: string | undefined) => {
    const v = s ? Date.parse(s) : Number.NaN;
    return Number.isNaN(v) ? 0 : v;
  };
  if (c.seen === 'issued' || c.seen === 'renewing') return [0, t(m.expires_at)];
  if (c.seen === 'pending') return [1, t(m.created_at)];
  return [2, t(m.next_attempt_at)];
}

/**
 * The orders due now, in the order they should start (the cap in flight may not take them all):
 * renewals (issued, renewing) first, soonest expiry first; then pending, oldest first; then
 * failed, oldest next_attempt_at first.
 */
export function candidates(routes: Iterable<Route>, now: number, t: PlanTiming): Candidate[] {
  const out: Candidate[] = [];
  for (const r of routes) {
    if (!isManaged(r)) continue;
    const seen = due(r, now, t);
    if (seen !== undefined) out.push({ route: r, seen });
  }
  const ranked = out.map((c) => ({ c, k: rank(c) }));
  ranked.sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1]);
  return ranked.map((x) => x.c);
}

/** One line: ACME problem details and stack-less messages may carry newlines. */
export function oneLine(msg: string, max = 500): string {
  const s = msg.replace(/\s*\n\s*/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

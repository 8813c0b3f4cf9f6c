import type { ManagedCertificate } from '@flynn-edge/router-core';
import { describe, expect, it } from 'vitest';
import { backoffMs, candidates, DEFAULT_PLAN_TIMING, due, type ManagedRoute, oneLine } from '../src/plan.js';

const t = DEFAULT_PLAN_TIMING;
const base: ManagedCertificate = { domain: 'a.test', status: 'pending', created_at: '', updated_at: '' };
const at = (ms: number) => new Date(ms).toISOString();

function route(id: string, m: Partial<ManagedCertificate>, certificateId?: string): ManagedRoute {
  return {
    type: 'http',
    id,
    domain: `${id}.test`,
    service: 'web',
    managed_certificate: { ...base, domain: `${id}.test`, ...m },
    ...(certificateId ? { certificate: { id: certificateId, cert: '', key: '' } } : {}),
  } as ManagedRoute;
}

describe('plan', () => {
  it('orders pending and renewing at once, failed after next_attempt_at', () => {
    expect(due(route('a', {}), 0, t)).toBe('pending');
    expect(due(route('a', { status: 'renewing' }), 0, t)).toBe('renewing');
    const failed = route('a', { status: 'failed', next_attempt_at: at(10_000) });
    expect(due(failed, 9_999, t)).toBeUndefined();
    expect(due(failed, 10_000, t)).toBe('failed');
  });

  it('renews an issued certificate once less than a third of its life is left', () => {
    const m = { status: 'issued' as const, not_before: at(0), expires_at: at(90_000), certificate_id: 'c1' };
    const issued = route('a', m, 'c1');
    expect(due(issued, 59_000, t)).toBeUndefined();
    expect(due(issued, 60_001, t)).toBe('issued');
    expect(due(issued, 10, { ...t, renewFraction: 0.99999 })).toBe('issued');
  });

  it('orders again at once when the issued certificate is no longer the route’s (deleted)', () => {
    const m = { status: 'issued' as const, not_before: at(0), expires_at: at(90_000), certificate_id: 'c1' };
    expect(due(route('a', m), 10, t)).toBe('issued');
    expect(due(route('a', m, 'c2'), 10, t)).toBe('issued');
  });

  it('starts renewals first, then pending (oldest first), then failed by oldest retry', () => {
    const life = { not_before: at(0), certificate_id: 'c' };
    const routes = [
      route('failed-late', { status: 'failed', next_attempt_at: at(500) }),
      route('pending-new', { created_at: at(300) }),
      route('failed-early', { status: 'failed', next_attempt_at: at(100) }),
      route('renew-late', { status: 'issued', ...life, expires_at: at(1300) }, 'c'),
      route('pending-old', { created_at: at(200) }),
      route('renewing', { status: 'renewing', expires_at: at(1200) }),
      route('renew-soon', { status: 'issued', ...life, expires_at: at(1100) }, 'c'),
      route('not-due', { status: 'issued', ...life, expires_at: at(100_000) }, 'c'),
      route('failed-waiting', { status: 'failed', next_attempt_at: at(5000) }),
    ];
    expect(candidates(routes, 1000, t).map((c) => c.route.id)).toEqual([
      'renew-soon',
      'renewing',
      'renew-late',
      'pending-old',
      'pending-new',
      'failed-early',
      'failed-late',
    ]);
  });

  it('backs off from a minute, doubling, with ±20% jitter, never past 24 h', () => {
    expect(t.backoffBaseMs).toBe(60_000);
    expect(t.backoffMaxMs).toBe(86_400_000);
    const lo = () => 0;
    const hi = () => 0.999_999;
    const mid = () => 0.5;
    expect(backoffMs(1, t, mid)).toBe(60_000);
    expect(backoffMs(2, t, mid)).toBe(120_000);
    expect(backoffMs(1, t, lo)).toBe(48_000);
    expect(backoffMs(1, t, hi)).toBeCloseTo(72_000, -1);
    expect(backoffMs(3, t, lo)).toBe(192_000);
    expect(backoffMs(100, t, mid)).toBe(86_400_000);
    expect(backoffMs(100, t, hi)).toBe(86_400_000);
    expect(backoffMs(100, t, lo)).toBe(69_120_000);
    // Random draws stay within the bounds and spread.
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const ms = backoffMs(2, t);
      expect(ms).toBeGreaterThanOrEqual(96_000);
      expect(ms).toBeLessThanOrEqual(144_000);
      seen.add(ms);
    }
    expect(seen.size).toBeGreaterThan(10);
  });

  it('keeps errors to one line', () => {
    expect(oneLine('a\n  b\nc')).toBe('a b c');
  });
});

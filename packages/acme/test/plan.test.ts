import type { ManagedCertificate } from '@flynn-edge/router-core';
import { describe, expect, it } from 'vitest';
import { backoffMs, DEFAULT_PLAN_TIMING, due, oneLine } from '../src/plan.js';

const t = DEFAULT_PLAN_TIMING;
const base: ManagedCertificate = { domain: 'a.test', status: 'pending', created_at: '', updated_at: '' };
const at = (ms: number) => new Date(ms).toISOString();

describe('plan', () => {
  it('orders pending and renewing at once, failed after next_attempt_at', () => {
    expect(due(base, 0, t)).toBe('pending');
    expect(due({ ...base, status: 'renewing' }, 0, t)).toBe('renewing');
    const failed = { ...base, status: 'failed' as const, next_attempt_at: at(10_000) };
    expect(due(failed, 9_999, t)).toBeUndefined();
    expect(due(failed, 10_000, t)).toBe('failed');
  });

  it('renews an issued certificate once less than a third of its life is left', () => {
    const issued = { ...base, status: 'issued' as const, not_before: at(0), expires_at: at(90_000) };
    expect(due(issued, 59_000, t)).toBeUndefined();
    expect(due(issued, 60_001, t)).toBe('issued');
    expect(due(issued, 10, { ...t, renewFraction: 0.99999 })).toBe('issued');
  });

  it('backs off 5 s doubling, capped at an hour', () => {
    expect(backoffMs(1, t)).toBe(5000);
    expect(backoffMs(2, t)).toBe(10_000);
    expect(backoffMs(4, t)).toBe(40_000);
    expect(backoffMs(100, t)).toBe(3_600_000);
  });

  it('keeps errors to one line', () => {
    expect(oneLine('a\n  b\nc')).toBe('a b c');
  });
});

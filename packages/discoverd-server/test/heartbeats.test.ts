import { describe, expect, it } from 'vitest';
import { HeartbeatTracker } from '../src/heartbeats.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const a = { service: 'web', id: 'a' };
const b = { service: 'web', id: 'b' };

/** Sweeps once a second for `ms`, heartbeating `alive` every 3 s; returns everything expired. */
function run(h: HeartbeatTracker, c: ReturnType<typeof clock>, ms: number, alive: (typeof a)[]) {
  const expired: string[] = [];
  for (let t = 0; t < ms; t += 1000) {
    c.advance(1000);
    if (t % 3000 === 0) for (const i of alive) h.heartbeat(i);
    for (const e of h.sweep([a, b])) expired.push(e.id);
  }
  return expired;
}

describe('HeartbeatTracker', () => {
  it('expires only silent instances, after the TTL, once past the 2 x TTL grace of a new leader', () => {
    const c = clock();
    const h = new HeartbeatTracker({ now: c.now });
    h.setLeader(true);
    expect(run(h, c, 19_000, [a])).toEqual([]);
    const later = run(h, c, 3000, [a]);
    // Reported once, not again while its expiry is being applied.
    expect(later).toEqual(['b']);
  });

  it('reports an instance again only after it heartbeats and falls silent once more', () => {
    const c = clock();
    const h = new HeartbeatTracker({ now: c.now });
    h.setLeader(true);
    expect(run(h, c, 22_000, [a])).toEqual(['b']);
    // b comes back (its heartbeat revives it), then goes silent once more.
    h.heartbeat(b);
    expect(run(h, c, 12_000, [a])).toEqual(['b']);
  });

  it('never expires on a follower', () => {
    const c = clock();
    const h = new HeartbeatTracker({ now: c.now });
    h.setLeader(false);
    expect(run(h, c, 60_000, [])).toEqual([]);
  });

  it('a stalled leader waits 2 x TTL after it resumes instead of mass-expiring (Flynn #4005)', () => {
    const c = clock();
    const h = new HeartbeatTracker({ now: c.now });
    h.setLeader(true);
    run(h, c, 25_000, [a, b]);
    // SIGSTOP for 25 s: no sweeps, no heartbeats reach us.
    c.advance(25_000);
    expect(h.sweep([a, b])).toEqual([]);
    expect(h.graceReason).toBe('stall');
    // Instances resume heartbeating within the grace period: nothing is ever expired.
    expect(run(h, c, 30_000, [a, b])).toEqual([]);
  });

  it('a stalled leader still expires an instance that stays silent after the grace period', () => {
    const c = clock();
    const h = new HeartbeatTracker({ now: c.now });
    h.setLeader(true);
    run(h, c, 25_000, [a, b]);
    c.advance(25_000);
    h.sweep([a, b]);
    expect(run(h, c, 25_000, [a])).toContain('b');
  });

  it('clears heartbeats on every leadership change', () => {
    const c = clock();
    const h = new HeartbeatTracker({ now: c.now });
    h.setLeader(true);
    run(h, c, 25_000, [a, b]);
    h.setLeader(false);
    h.setLeader(true);
    expect(h.inGrace).toBe(true);
    // Nobody heartbeats to the new term: both expire, but only after the grace period.
    expect(run(h, c, 19_000, [])).toEqual([]);
    expect(run(h, c, 2000, []).sort()).toEqual(['a', 'b']);
  });
});

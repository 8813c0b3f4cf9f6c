import { describe, expect, it } from 'vitest';
import { runFigure8, runSimulation, type SimBug } from '../../src/sim/index.js';

// The simulator's own contract: deterministic per seed, clean on the correct implementation, and
// able to fail: every deliberately broken variant is caught.

describe('simulator', () => {
  it('is deterministic: one seed, one outcome', () => {
    const a = runSimulation({ seed: 42, nodes: 3, ops: 300, faults: true });
    const b = runSimulation({ seed: 42, nodes: 3, ops: 300, faults: true });
    expect(a).toEqual(b);
  });

  it.each([3, 5])('keeps every invariant and linearizability with %i voters under all faults', (nodes) => {
    const totals: Record<string, number> = {};
    for (let seed = 1; seed <= 6; seed++) {
      const s = runSimulation({ seed, nodes, ops: 800, faults: true });
      expect(s.violations, `seed ${seed}`).toEqual([]);
      expect(s.linearizable).toBe(true);
      expect(s.converged).toBe(true);
      expect(s.acknowledged).toBeGreaterThan(600);
      for (const [k, v] of Object.entries(s.injected)) totals[k] = (totals[k] ?? 0) + v;
    }
    // The faults really happened.
    for (const kind of ['crashes', 'partitions', 'dropped', 'duplicated', 'snapshotInstalls', 'elections']) {
      expect(totals[kind], kind).toBeGreaterThan(0);
    }
  });

  it('runs clean without faults', () => {
    const s = runSimulation({ seed: 7, nodes: 5, ops: 500, faults: false });
    expect(s.violations).toEqual([]);
    expect(s.acknowledged).toBe(s.ops + 5);
    expect(s.unknown).toBe(0);
  });
});

describe('the simulator catches broken variants', () => {
  const firstCaught = (bug: SimBug, nodes: number, maxSeeds: number) => {
    for (let seed = 1; seed <= maxSeeds; seed++) {
      const s = runSimulation({ seed, nodes, ops: 1500, faults: true, bug });
      if (s.violations.length > 0 || !s.linearizable) return { seed, violations: s.violations };
    }
    return null;
  };

  it.each<[SimBug, number]>([
    ['double-vote', 5],
    ['keep-conflicting', 3],
    ['stale-read', 3],
    ['ack-before-fsync', 3],
  ])('%s (%i voters, random faults)', (bug, nodes) => {
    const caught = firstCaught(bug, nodes, 100);
    expect(caught, `${bug} was never caught`).not.toBeNull();
  });

  it('commit-old-term, through the scripted figure-8 schedule', () => {
    const broken = runFigure8(1, 'commit-old-term');
    expect(broken.completed).toBe(true);
    expect(broken.violations.join('\n')).toMatch(/leader completeness|state machine safety/);
    // The same script against the correct core ends with a leader and no violation.
    const correct = runFigure8(1);
    expect(correct.completed).toBe(true);
    expect(correct.violations).toEqual([]);
  });
});

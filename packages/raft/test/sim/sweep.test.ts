import { describe, expect, it } from 'vitest';
import { runSimulation, type SimStats } from '../../src/sim/index.js';

// The acceptance sweep: 200 consecutive seeds for each of 3 and 5 voters, 1,500 operations, every
// fault on. Each run must be clean, and across the 200 runs every kind of fault must have happened
// at least 100 times. Same as `npm run sim -- --seed 1 --seeds 200 --nodes N --ops 1500 --faults all`.

const KINDS: (keyof SimStats)[] = [
  'crashes',
  'partitions',
  'pauses',
  'dropped',
  'duplicated',
  'diskErrors',
  'snapshotInstalls',
  'membershipChanges',
  'elections',
];

describe.each([3, 5])('200 seeds with %i voters', (nodes) => {
  it('is clean and injects every kind of fault at least 100 times', () => {
    const totals: Record<string, number> = {};
    const failed: string[] = [];
    for (let seed = 1; seed <= 200; seed++) {
      const s = runSimulation({ seed, nodes, ops: 1500, faults: true });
      if (s.violations.length > 0 || !s.linearizable) failed.push(`seed ${seed}: ${s.violations.join('; ')}`);
      for (const [k, v] of Object.entries(s.injected)) totals[k] = (totals[k] ?? 0) + v;
    }
    expect(failed).toEqual([]);
    for (const kind of KINDS) expect(totals[kind], kind).toBeGreaterThanOrEqual(100);
  }, 600_000);
});

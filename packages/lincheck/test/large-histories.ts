import type { Operation } from '../src/index.js';
import { simulateHistory } from './generate.js';

/** Large histories shared by the verdict tests and the timing bench (bench/check.bench.ts). */
export const LARGE_HISTORIES: { name: string; ops: () => Operation[] }[] = [
  {
    name: '10,000 ops over 10 keys from 10 clients (5% no reply)',
    ops: () => simulateHistory({ seed: 2024, clients: 10, keys: 10, ops: 10_000, noReplyRate: 0.05 }),
  },
  {
    name: '10,000 ops on a single hot key from 10 clients',
    ops: () => simulateHistory({ seed: 7, clients: 10, keys: 1, ops: 10_000, noReplyRate: 0.05 }),
  },
  {
    name: '5,000 ops from 50 clients contending on one key',
    ops: () => simulateHistory({ seed: 11, clients: 50, keys: 1, ops: 5_000, noReplyRate: 0.1 }),
  },
  {
    name: 'a read of a never-written value under contention (not linearizable)',
    ops: () => {
      const ops = simulateHistory({ seed: 12, clients: 50, keys: 1, ops: 5_000, noReplyRate: 0.1 });
      const reads = ops.filter((o) => o.kind === 'read' && o.ret !== undefined);
      reads[reads.length - 10]!.output = { value: 'never-written' };
      return ops;
    },
  },
];

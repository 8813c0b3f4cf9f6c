import { expect, it } from 'vitest';
import { checkHistory, simulateHistory } from '../src/index.js';

it('checks 10,000 ops over 10 keys from 10 clients (5% no reply) in under 5 s', () => {
  const ops = simulateHistory({ seed: 2024, clients: 10, keys: 10, ops: 10_000, noReplyRate: 0.05 });
  const start = performance.now();
  const result = checkHistory(ops);
  const ms = performance.now() - start;
  console.log(`lincheck: 10k ops / 10 keys / 10 clients checked in ${ms.toFixed(1)} ms`);
  expect(result).toEqual({ linearizable: true, keys: 10 });
  expect(ms).toBeLessThan(5000);
});

it('checks 10,000 ops on a single hot key from 10 clients in under 5 s', () => {
  const ops = simulateHistory({ seed: 7, clients: 10, keys: 1, ops: 10_000, noReplyRate: 0.05 });
  const start = performance.now();
  const result = checkHistory(ops);
  const ms = performance.now() - start;
  console.log(`lincheck: 10k ops / 1 key / 10 clients checked in ${ms.toFixed(1)} ms`);
  expect(result).toEqual({ linearizable: true, keys: 1 });
  expect(ms).toBeLessThan(5000);
});

it('stays fast with 50 clients contending on one key', () => {
  const ops = simulateHistory({ seed: 11, clients: 50, keys: 1, ops: 5_000, noReplyRate: 0.1 });
  const start = performance.now();
  expect(checkHistory(ops)).toEqual({ linearizable: true, keys: 1 });
  expect(performance.now() - start).toBeLessThan(5000);
});

it('gives a verdict and an explanation quickly for a read of a never-written value under contention', () => {
  const ops = simulateHistory({ seed: 12, clients: 50, keys: 1, ops: 5_000, noReplyRate: 0.1 });
  const reads = ops.filter((o) => o.kind === 'read' && o.ret !== undefined);
  const victim = reads[reads.length - 10];
  victim.output = { value: 'never-written' };
  const start = performance.now();
  const result = checkHistory(ops);
  expect(performance.now() - start).toBeLessThan(5000);
  expect(result.linearizable).toBe(false);
  expect(result.timedOut).toBeUndefined();
  expect(result.failure?.longestPrefix.length).toBeGreaterThan(0);
  expect(result.failure?.longestPrefix).not.toContain(victim);
});

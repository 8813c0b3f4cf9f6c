import { expect, it } from 'vitest';
import { checkHistory } from '../src/index.js';
import { LARGE_HISTORIES } from './large-histories.js';

// The histories bench/check.bench.ts times; here only the verdicts are checked.

const [manyKeys, hotKey, contended, neverWritten] = LARGE_HISTORIES;

it(`checks ${manyKeys.name}`, () => {
  expect(checkHistory(manyKeys.ops())).toEqual({ linearizable: true, keys: 10 });
});

it(`checks ${hotKey.name}`, () => {
  expect(checkHistory(hotKey.ops())).toEqual({ linearizable: true, keys: 1 });
});

it(`checks ${contended.name}`, () => {
  expect(checkHistory(contended.ops())).toEqual({ linearizable: true, keys: 1 });
});

it(`gives a verdict and an explanation for ${neverWritten.name}`, () => {
  const ops = neverWritten.ops();
  const victim = ops.find((o) => o.output?.value === 'never-written');
  const result = checkHistory(ops);
  expect(result.linearizable).toBe(false);
  expect(result.timedOut).toBeUndefined();
  expect(result.failure?.longestPrefix.length).toBeGreaterThan(0);
  expect(result.failure?.longestPrefix).not.toContain(victim);
});

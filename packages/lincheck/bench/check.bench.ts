import { bench, describe } from 'vitest';
import { checkHistory } from '../src/index.js';
import { LARGE_HISTORIES } from '../test/large-histories.js';

// How long checkHistory takes on large histories (the tests check only the verdicts).
// Run: npm run bench -w @flynn-edge/lincheck

describe('checkHistory', () => {
  for (const h of LARGE_HISTORIES) {
    const ops = h.ops();
    bench(h.name, () => void checkHistory(ops), { iterations: 5, time: 0 });
  }
});

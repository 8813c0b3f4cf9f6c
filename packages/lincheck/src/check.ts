import { partitionByKey, prepareKey } from './history.js';
import { searchKey } from './search.js';
import type { CheckOptions, CheckResult, Operation } from './types.js';

/**
 * Decide whether a recorded history of a key-value store is linearizable.
 *
 * Keys are independent registers, so the history is split per key and each key is checked
 * on its own (P-compositionality); the check stops at the first failing key. Throws
 * TypeError/RangeError on malformed ops (e.g. a completed read without output.value).
 *
 * On timeout the verdict is unknown and reported as `{ linearizable: false, timedOut: true }`.
 */
export function checkHistory(ops: Operation[], opts: CheckOptions = {}): CheckResult {
  const { timeoutMs } = opts;
  if (timeoutMs !== undefined && Number.isNaN(timeoutMs)) throw new RangeError('timeoutMs must be a number');
  const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;

  const byKey = partitionByKey(ops);
  let keys = 0;
  for (const [key, keyOps] of byKey) {
    keys++;
    if (performance.now() >= deadline) return { linearizable: false, keys, timedOut: true };
    const outcome = searchKey(prepareKey(key, keyOps), deadline);
    if (outcome.kind === 'timeout') return { linearizable: false, keys, timedOut: true };
    if (outcome.kind === 'fail')
      return {
        linearizable: false,
        keys,
        failure: { key, ops: keyOps, longestPrefix: outcome.longestPrefix },
      };
  }
  return { linearizable: true, keys };
}

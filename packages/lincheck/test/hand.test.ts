import { describe, expect, it } from 'vitest';
import { checkHistory, type Operation } from '../src/index.js';
import { cas, read, write } from './helpers.js';

const ok = (ops: Operation[]) => expect(checkHistory(ops).linearizable).toBe(true);
const bad = (ops: Operation[]) => expect(checkHistory(ops).linearizable).toBe(false);

describe('completed ops only', () => {
  it('accepts the empty history', () => {
    expect(checkHistory([])).toEqual({ linearizable: true, keys: 0 });
  });

  it('reads null before any write', () => ok([read(0, null, 0, 1)]));

  it('rejects reading a value nobody wrote', () => bad([read(0, 'a', 0, 1)]));

  it('accepts sequential write then read', () => ok([write(0, 'a', 0, 1), read(1, 'a', 2, 3)]));

  it('rejects a stale read after a completed write', () =>
    bad([write(0, 'a', 0, 1), write(0, 'b', 2, 3), read(1, 'a', 4, 5)]));

  it('rejects a lost write (read of the initial value after the write returned)', () =>
    bad([write(0, 'a', 0, 1), read(1, null, 2, 3)]));

  it('rejects a read that observes a value before its write was called', () =>
    bad([read(1, 'a', 0, 1), write(0, 'a', 2, 3)]));

  it('accepts reads of either value while a write is in flight', () =>
    ok([write(0, 'a', 0, 10), read(1, null, 1, 2), read(1, 'a', 3, 4), read(2, 'a', 11, 12)]));

  it('rejects a value going back after a read observed the in-flight write', () =>
    bad([write(0, 'a', 0, 10), read(1, 'a', 1, 2), read(1, null, 3, 4)]));

  it('accepts concurrent writes seen in either order, but not flip-flopping', () => {
    const writes = [write(0, 'a', 0, 10), write(1, 'b', 0, 10)];
    ok([...writes, read(2, 'b', 11, 12), read(2, 'b', 13, 14)]);
    ok([...writes, read(2, 'a', 1, 2), read(2, 'b', 3, 4)]);
    bad([...writes, read(2, 'a', 1, 2), read(2, 'b', 3, 4), read(2, 'a', 5, 6)]);
  });

  it('treats touching intervals (ret == call) as concurrent', () =>
    ok([write(0, 'a', 0, 5), read(1, null, 5, 6)]));

  it('rejects two cas succeeding from the same expected value', () =>
    bad([write(0, 'x0', 0, 1), cas(1, 'x0', 'a', true, 2, 5), cas(2, 'x0', 'b', true, 3, 6)]));

  it('accepts two concurrent cas where exactly one wins', () =>
    ok([
      write(0, 'x0', 0, 1),
      cas(1, 'x0', 'a', true, 2, 5),
      cas(2, 'x0', 'b', false, 3, 6),
      read(0, 'a', 7, 8),
    ]));

  it('accepts cas from absent (expected null)', () =>
    ok([cas(0, null, 'a', true, 0, 1), cas(1, null, 'b', false, 2, 3), read(0, 'a', 4, 5)]));

  it('rejects a failed cas whose expected value was certainly current', () =>
    bad([write(0, 'x0', 0, 1), cas(1, 'x0', 'y', false, 2, 3)]));

  it('accepts a failed cas explained by a concurrent write', () =>
    ok([write(0, 'x0', 0, 1), write(2, 'z', 1.5, 4), cas(1, 'x0', 'y', false, 2, 3)]));

  it('rejects a successful cas whose expected value was not current', () =>
    bad([write(0, 'x0', 0, 1), cas(1, 'other', 'y', true, 2, 3)]));

  it('accepts many concurrent ops that need backtracking', () =>
    ok([
      write(0, 'a', 0, 10),
      write(1, 'b', 0, 10),
      write(2, 'c', 0, 10),
      read(3, 'c', 1, 2),
      read(3, 'a', 3, 4),
      read(3, 'b', 5, 6),
      read(4, 'b', 11, 12),
    ]));
});

describe('ops without a reply', () => {
  it('accepts a pending write observed later', () => ok([write(0, 'a', 0), read(1, 'a', 5, 6)]));

  it('accepts a pending write that never took effect', () =>
    ok([write(0, 'a', 0), read(1, null, 5, 6), read(1, null, 100, 101)]));

  it('rejects a pending write observed and then un-observed', () =>
    bad([write(0, 'a', 0), read(1, 'a', 1, 2), read(1, null, 3, 4)]));

  it('rejects a pending write observed before it was called', () =>
    bad([read(1, 'a', 0, 1), write(0, 'a', 2)]));

  it('rejects a pending write whose effect would be needed twice', () =>
    bad([write(0, 'a', 0), read(1, 'a', 1, 2), write(1, 'b', 3, 4), read(1, 'a', 5, 6)]));

  it('accepts two pending writes of the same value each used once', () =>
    ok([write(0, 'a', 0), write(2, 'a', 0), read(1, 'a', 1, 2), write(1, 'b', 3, 4), read(1, 'a', 5, 6)]));

  it('lets a pending write land long after later completed ops', () =>
    ok([write(0, 'a', 0), write(1, 'b', 5, 6), read(1, 'b', 7, 8), read(1, 'a', 50, 51)]));

  it('drops reads without reply', () => ok([read(0, 'zzz', 0), write(1, 'a', 1, 2), read(1, 'a', 3, 4)]));

  it('accepts a pending cas that took effect', () =>
    ok([write(0, 'x0', 0, 1), cas(1, 'x0', 'y', undefined, 2), read(2, 'y', 3, 4)]));

  it('rejects a pending cas whose expected value never held', () =>
    bad([write(0, 'x0', 0, 1), cas(1, 'nope', 'y', undefined, 2), read(2, 'y', 3, 4)]));

  it('accepts a chain of pending ops: write then cas', () =>
    ok([write(0, 'e', 0), cas(1, 'e', 'v', undefined, 1), read(2, 'v', 2, 3)]));

  it('accepts a chain of pending cas ops from the current state', () =>
    ok([cas(0, null, 'p', undefined, 0), cas(1, 'p', 'q', undefined, 1), read(2, 'q', 2, 3)]));

  it('uses a pending write to explain a failed cas', () =>
    ok([write(0, 'x0', 0, 1), write(2, 'z', 1.5), cas(1, 'x0', 'y', false, 2, 3), read(1, 'z', 4, 5)]));

  it('rejects a failed cas when the only pending op would not change the state', () =>
    bad([write(0, 'x0', 0, 1), write(2, 'x0', 1.5), cas(1, 'x0', 'y', false, 2, 3)]));

  it('accepts a history where everything is pending', () =>
    ok([write(0, 'a', 0), cas(1, 'a', 'b', undefined, 1)]));
});

describe('result shape', () => {
  it('reports the failing key, its ops and a longest linearizable prefix', () => {
    const good = [write(0, 'a', 0, 1, 'k1'), read(1, 'a', 2, 3, 'k1')];
    const failing = [write(0, 'a', 0, 1, 'k2'), write(0, 'b', 2, 3, 'k2'), read(1, 'a', 4, 5, 'k2')];
    const result = checkHistory([...good, ...failing]);
    expect(result.linearizable).toBe(false);
    expect(result.keys).toBe(2);
    expect(result.timedOut).toBeUndefined();
    expect(result.failure?.key).toBe('k2');
    expect(result.failure?.ops).toEqual(failing);
    expect(result.failure?.longestPrefix).toEqual([failing[0], failing[1]]);
  });

  it('includes the pending ops spent in the longest prefix', () => {
    const ops = [write(0, 'a', 0), read(1, 'a', 1, 2), read(1, null, 3, 4)];
    expect(checkHistory(ops).failure?.longestPrefix).toEqual([ops[0], ops[1]]);
  });

  it('counts keys', () => {
    expect(checkHistory([read(0, null, 0, 1, 'a'), read(0, null, 2, 3, 'b')])).toEqual({
      linearizable: true,
      keys: 2,
    });
  });

  it('rejects malformed ops', () => {
    expect(() => checkHistory([{ clientId: 0, key: 'x', kind: 'read', input: {}, call: 0, ret: 1 }])).toThrow(
      TypeError,
    );
    expect(() => checkHistory([write(0, 'a', 5, 1)])).toThrow(RangeError);
    expect(() =>
      checkHistory([
        { clientId: 0, key: 'x', kind: 'cas', input: { value: 'v' }, output: { ok: true }, call: 0, ret: 1 },
      ]),
    ).toThrow(TypeError);
  });

  it('reports a timeout as not linearizable, never as a pass', () => {
    const result = checkHistory([write(0, 'a', 0, 1)], { timeoutMs: 0 });
    expect(result).toEqual({ linearizable: false, keys: 1, timedOut: true });
  });
});

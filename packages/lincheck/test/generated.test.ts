import { describe, expect, it } from 'vitest';
import { checkHistory, type Operation, registerStep } from '../src/index.js';
import { simulateHistory } from './generate.js';
import { bruteForceLinearizable } from './reference.js';
import { createRng } from './rng.js';

const clone = (ops: Operation[]): Operation[] =>
  ops.map((op) => ({ ...op, output: op.output && { ...op.output } }));

/** Values any op of `key` could possibly have written. */
function writtenValues(ops: Operation[], key: string): Set<string> {
  return new Set(ops.filter((o) => o.key === key && o.kind !== 'read').map((o) => o.input.value as string));
}

/**
 * Find a completed read R, a completed write X (of key R.key) that returned before R was
 * called, and a completed op W that wrote v and returned before X was called. Values are
 * unique per op, so every linearization has W < X < R and nothing can write v again after X:
 * R returning v is impossible.
 */
function staleReadMutation(ops: Operation[]): { index: number; value: string } | undefined {
  for (let ri = ops.length - 1; ri >= 0; ri--) {
    const r = ops[ri];
    if (r.kind !== 'read' || r.ret === undefined) continue;
    const same = ops.filter((o) => o.key === r.key && o.ret !== undefined);
    for (const x of same) {
      if (x.kind !== 'write' || (x.ret as number) >= r.call) continue;
      const w = same.find(
        (o) => o.kind !== 'read' && (o.ret as number) < x.call && o.input.value !== r.output?.value,
      );
      // A cas W may have failed; then v was never written at all, which is just as illegal.
      if (w) return { index: ri, value: w.input.value as string };
    }
  }
  return undefined;
}

describe('createRng', () => {
  it('is deterministic per seed and in range', () => {
    const a = createRng(42);
    const b = createRng(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.next()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const c = createRng(7);
    const ints = Array.from({ length: 1000 }, () => c.int(6));
    expect(new Set(ints)).toEqual(new Set([0, 1, 2, 3, 4, 5]));
    expect(createRng(1).next()).not.toBe(createRng(2).next());
  });
});

describe('simulateHistory', () => {
  it('produces the requested shape', () => {
    const ops = simulateHistory({ seed: 1, clients: 4, keys: 3, ops: 500, noReplyRate: 0.1 });
    expect(ops).toHaveLength(500);
    expect(new Set(ops.map((o) => o.key))).toEqual(new Set(['k0', 'k1', 'k2']));
    const noReply = ops.filter((o) => o.ret === undefined).length;
    expect(noReply).toBeGreaterThan(20);
    expect(noReply).toBeLessThan(90);
    expect(ops.filter((o) => o.kind === 'cas' && o.output?.ok === true).length).toBeGreaterThan(10);
    expect(ops.filter((o) => o.kind === 'cas' && o.output?.ok === false).length).toBeGreaterThan(10);
    // each client is sequential
    for (let c = 0; c < 4; c++) {
      const mine = ops.filter((o) => o.clientId === c);
      for (let i = 1; i < mine.length; i++)
        expect(mine[i].call).toBeGreaterThanOrEqual(mine[i - 1].ret ?? mine[i - 1].call);
    }
  });

  it('is deterministic per seed', () => {
    const opts = { seed: 9, clients: 3, keys: 2, ops: 100, noReplyRate: 0.05 };
    expect(simulateHistory(opts)).toEqual(simulateHistory(opts));
  });
});

describe('generated histories', () => {
  const shapes = [
    { clients: 3, keys: 1, ops: 200, noReplyRate: 0 },
    { clients: 5, keys: 2, ops: 1000, noReplyRate: 0.05 },
    { clients: 10, keys: 1, ops: 2000, noReplyRate: 0.05 },
    { clients: 8, keys: 4, ops: 2000, noReplyRate: 0.2 },
  ];
  for (const shape of shapes)
    for (const seed of [1, 2, 3, 4, 5]) {
      it(`seed ${seed} ${JSON.stringify(shape)}: linearizable, and mutations are caught`, () => {
        const ops = simulateHistory({ seed, ...shape });
        expect(checkHistory(ops)).toEqual({ linearizable: true, keys: shape.keys });

        // A read returning a value never written by anyone.
        const reads = ops
          .map((o, i) => [o, i] as const)
          .filter(([o]) => o.kind === 'read' && o.ret !== undefined);
        const [victim, vi] = reads[createRng(seed).int(reads.length)];
        const never = clone(ops);
        never[vi].output = { value: 'never-written' };
        const r1 = checkHistory(never);
        expect(r1.linearizable).toBe(false);
        expect(r1.timedOut).toBeUndefined();
        expect(r1.failure?.key).toBe(victim.key);
        expect(writtenValues(ops, victim.key).has('never-written')).toBe(false);

        // A stale read: a value provably overwritten before the read was called.
        const m = staleReadMutation(ops);
        expect(m).toBeDefined();
        if (!m) return;
        const stale = clone(ops);
        stale[m.index].output = { value: m.value };
        const r2 = checkHistory(stale);
        expect(r2.linearizable).toBe(false);
        expect(r2.failure?.key).toBe(ops[m.index].key);
        expect(r2.failure?.longestPrefix.length).toBeGreaterThan(0);
      });
    }
});

describe('agreement with a brute-force checker on small histories', () => {
  /** Random (mostly non-linearizable) histories over a tiny value alphabet, dense in time. */
  function randomHistory(seed: number): Operation[] {
    const rng = createRng(seed);
    const vals = ['a', 'b', 'c', 'd'].slice(0, 1 + rng.int(4));
    const pick = () => vals[rng.int(vals.length)];
    const n = 2 + rng.int(13);
    const noReply = rng.next() * 0.5;
    const ops: Operation[] = [];
    for (let i = 0; i < n; i++) {
      const call = rng.int(25);
      const ret = rng.next() < noReply ? undefined : call + rng.int(10);
      const kind = (['read', 'write', 'cas'] as const)[rng.int(3)];
      const op: Operation = { clientId: i, key: rng.next() < 0.9 ? 'x' : 'y', kind, input: {}, call, ret };
      if (kind === 'write') op.input = { value: pick() };
      if (kind === 'cas') op.input = { expected: rng.next() < 0.2 ? null : pick(), value: pick() };
      if (ret !== undefined)
        op.output =
          kind === 'read'
            ? { value: rng.next() < 0.2 ? null : pick() }
            : kind === 'cas'
              ? { ok: rng.next() < 0.5 }
              : {};
      ops.push(op);
    }
    return ops;
  }

  /** Generated (linearizable) histories with a few outputs mutated, sometimes with repeated values. */
  function mutatedHistory(seed: number): Operation[] {
    const rng = createRng(seed);
    const ops = clone(
      simulateHistory({
        seed,
        clients: 2 + rng.int(8),
        keys: 1,
        ops: 6 + rng.int(10),
        noReplyRate: rng.next() * 0.4,
      }),
    );
    const values = [null, ...ops.filter((o) => o.kind !== 'read').map((o) => o.input.value as string)];
    for (let k = rng.int(3); k > 0; k--) {
      const op = ops[rng.int(ops.length)];
      if (op.output === undefined) continue;
      if (op.kind === 'read') op.output.value = values[rng.int(values.length)];
      if (op.kind === 'cas') op.output.ok = !op.output.ok;
      if (op.kind === 'write') {
        op.ret = undefined;
        op.output = undefined;
      }
    }
    if (rng.next() < 0.3)
      for (const o of ops) if (o.kind === 'write' && rng.next() < 0.5) o.input = { value: 'dup' };
    return ops;
  }

  /** The reported prefix must itself be a legal start of a linearization. */
  function expectLegalPrefix(ops: Operation[], prefix: Operation[]): void {
    let value: string | null = null;
    prefix.forEach((op, i) => {
      expect(ops).toContain(op);
      for (const other of ops)
        if (other.ret !== undefined && other.ret < op.call) expect(prefix.slice(0, i)).toContain(other);
      const step = registerStep(value, op.kind, op.input);
      if (op.ret === undefined) expect(op.kind === 'cas' ? step.output.ok : true).toBe(true);
      else if (op.kind === 'read') expect(step.output.value).toBe(op.output?.value);
      else if (op.kind === 'cas') expect(step.output.ok).toBe(op.output?.ok);
      value = step.next;
    });
  }

  for (const [name, make, count] of [
    ['random', randomHistory, 4000],
    ['mutated generated', mutatedHistory, 1500],
  ] as const) {
    it(`agrees on ${count} ${name} histories`, () => {
      let linearizable = 0;
      for (let seed = 0; seed < count; seed++) {
        const ops = make(seed);
        const expected = bruteForceLinearizable(ops);
        const result = checkHistory(ops);
        if (result.linearizable !== expected)
          throw new Error(`seed ${seed}: expected ${expected}\n${JSON.stringify(ops)}`);
        if (expected) linearizable++;
        else if (result.failure) expectLegalPrefix(result.failure.ops, result.failure.longestPrefix);
      }
      // both verdicts are well represented
      expect(linearizable).toBeGreaterThan(count / 10);
      expect(linearizable).toBeLessThan(count - count / 10);
    });
  }
});

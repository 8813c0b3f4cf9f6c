import { registerStep, type Value } from '../src/model.js';
import type { Operation, OpKind } from '../src/types.js';
import { createRng } from './rng.js';

export interface SimulateOptions {
  seed: number;
  /** concurrent clients, each issuing one op at a time */
  clients: number;
  /** keys are named k0..k{keys-1} */
  keys: number;
  /** total number of operations */
  ops: number;
  /** probability that a call gets no reply (half of those still took effect) */
  noReplyRate: number;
}

interface Planned {
  index: number;
  clientId: number;
  key: string;
  kind: OpKind;
  input: Operation['input'];
  call: number;
  ret: number;
  /** the instant the op takes effect, strictly inside (call, ret) */
  lp: number;
  replied: boolean;
  takesEffect: boolean;
  output?: Operation['output'];
}

const TIMEOUT = 30; // how long a client waits for a reply that never comes

/**
 * Generate a history that is linearizable by construction: each op gets a random interval
 * and a linearization point inside it; ops are applied to a sequential register per key in
 * linearization-point order to compute their outputs. Clients overlap freely in time.
 * Ops without a reply lose their output and return time; half of them never took effect.
 * Written values are unique strings, so tests can tell exactly which write a read observed.
 */
export function simulateHistory(opts: SimulateOptions): Operation[] {
  const { seed, clients, keys, ops, noReplyRate } = opts;
  if (!Number.isInteger(clients) || clients < 1) throw new RangeError('clients must be a positive integer');
  if (!Number.isInteger(keys) || keys < 1) throw new RangeError('keys must be a positive integer');
  if (!Number.isInteger(ops) || ops < 0) throw new RangeError('ops must be a non-negative integer');
  if (!(noReplyRate >= 0 && noReplyRate <= 1)) throw new RangeError('noReplyRate must be in [0, 1]');
  const rng = createRng(seed);

  const freeAt = Array.from({ length: clients }, () => rng.int(10));
  // Recently written values per key (in generation order) so that cas has a fair chance to succeed.
  const recent: Value[][] = Array.from({ length: keys }, () => [null]);
  const planned: Planned[] = [];

  for (let index = 0; index < ops; index++) {
    // The client that becomes free first issues the next op (ties: lowest id).
    let clientId = 0;
    for (let c = 1; c < clients; c++) if (freeAt[c] < freeAt[clientId]) clientId = c;
    const k = rng.int(keys);
    const call = freeAt[clientId] + rng.int(4);
    const ret = call + 1 + rng.int(20);
    const lp = call + (0.001 + 0.998 * rng.next()) * (ret - call);
    const value = `c${clientId}-${index}`;
    const r = rng.next();
    let kind: OpKind;
    let input: Operation['input'];
    if (r < 0.45) {
      kind = 'read';
      input = {};
    } else if (r < 0.8) {
      kind = 'write';
      input = { value };
    } else {
      kind = 'cas';
      const hist = recent[k];
      const expected = rng.next() < 0.7 ? hist[hist.length - 1] : hist[rng.int(hist.length)];
      input = { expected, value };
    }
    if (kind !== 'read') {
      recent[k].push(value);
      if (recent[k].length > 8) recent[k].shift();
    }
    const replied = rng.next() >= noReplyRate;
    const takesEffect = replied || rng.next() < 0.5;
    freeAt[clientId] = replied ? ret : call + TIMEOUT;
    planned.push({ index, clientId, key: `k${k}`, kind, input, call, ret, lp, replied, takesEffect });
  }

  const byLp = planned.filter((p) => p.takesEffect).sort((x, y) => x.lp - y.lp || x.index - y.index);
  const register = new Map<string, Value>();
  for (const p of byLp) {
    const step = registerStep(register.get(p.key) ?? null, p.kind, p.input);
    register.set(p.key, step.next);
    p.output = step.output;
  }

  return planned
    .sort((x, y) => x.call - y.call || x.index - y.index)
    .map((p) => {
      const op: Operation = { clientId: p.clientId, key: p.key, kind: p.kind, input: p.input, call: p.call };
      if (p.replied) {
        op.output = p.output;
        op.ret = p.ret;
      }
      return op;
    });
}

import { CAS_FAIL, CAS_OK, P_CAS, P_WRITE, READ, type Value, ValueTable, WRITE } from './model.js';
import type { Operation } from './types.js';

/**
 * One key's sub-history, encoded for the search.
 *
 * Completed ops get ids 0..n-1 in call order and two list entries each: call = 2*id+1,
 * return = 2*id+2 (0 and 2n+1 are the list's head and tail sentinels).
 *
 * Pending ops (no reply) are kept apart, as optional resources: they have no return, so
 * they never block anything and need not take effect at all. A pending op becomes usable
 * once every completed op that returned before its call has been linearized.
 */
export interface KeyHistory {
  readonly key: string;
  /** every op of this key, as given */
  readonly ops: Operation[];
  /** id of the initial state (null, absent) */
  readonly initial: number;
  /** value ids are 0..valueCount-1 */
  readonly valueCount: number;

  readonly n: number;
  readonly code: Uint8Array;
  readonly a: Int32Array;
  readonly b: Int32Array;
  /** ops with the same class have identical semantics (code and operands) */
  readonly cls: Int32Array;
  readonly classCount: number;
  /** position of the op's return event in the key's time-ordered event sequence */
  readonly retSeq: Int32Array;
  readonly source: Operation[];
  /** list entries in time order (calls before returns at equal times: ties count as concurrent) */
  readonly entryOrder: Int32Array;
  /** number of completed ops called before the op's return (calls are ids in order, so these are ids 0..k-1) */
  readonly callsBeforeRet: Int32Array;

  readonly pendingCount: number;
  /** pending ops in call order */
  readonly pCode: Uint8Array;
  readonly pA: Int32Array;
  readonly pB: Int32Array;
  readonly pCallSeq: Int32Array;
  readonly pSource: Operation[];
  /** value id → pending ops (writes and cas) that would set it, in call order */
  readonly pendingByValue: Map<number, number[]>;
}

export function isPending(op: Operation): boolean {
  return op.ret === undefined || op.ret === Number.POSITIVE_INFINITY;
}

/** Reject malformed ops up front: a silent misreading would turn into a wrong verdict. */
export function validateOp(op: Operation, index: number): void {
  const where = `op #${index} (client ${op.clientId}, key ${JSON.stringify(op.key)})`;
  if (typeof op.key !== 'string') throw new TypeError(`${where}: key must be a string`);
  if (!Number.isFinite(op.call)) throw new RangeError(`${where}: call must be a finite number`);
  if (!isPending(op) && !((op.ret as number) >= op.call))
    throw new RangeError(`${where}: ret must be >= call (or undefined for no reply)`);
  const input = op.input ?? {};
  switch (op.kind) {
    case 'read':
      if (!isPending(op) && (op.output === undefined || op.output.value === undefined))
        throw new TypeError(`${where}: a completed read needs output.value (null for absent)`);
      break;
    case 'write':
      if (typeof input.value !== 'string') throw new TypeError(`${where}: write needs input.value`);
      break;
    case 'cas':
      if (typeof input.value !== 'string') throw new TypeError(`${where}: cas needs input.value`);
      if (input.expected === undefined)
        throw new TypeError(`${where}: cas needs input.expected (null for absent)`);
      if (!isPending(op) && typeof op.output?.ok !== 'boolean')
        throw new TypeError(`${where}: a completed cas needs output.ok`);
      break;
    default:
      throw new TypeError(`${where}: unknown kind ${JSON.stringify(op.kind)}`);
  }
}

/** P-compositionality: a register history is linearizable iff each key's sub-history is. */
export function partitionByKey(ops: readonly Operation[]): Map<string, Operation[]> {
  const byKey = new Map<string, Operation[]>();
  ops.forEach((op, i) => {
    validateOp(op, i);
    let list = byKey.get(op.key);
    if (list === undefined) {
      list = [];
      byKey.set(op.key, list);
    }
    list.push(op);
  });
  return byKey;
}

export function prepareKey(key: string, ops: Operation[]): KeyHistory {
  const completed: Operation[] = [];
  const pending: Operation[] = [];
  for (const op of ops) {
    if (!isPending(op)) completed.push(op);
    // A read without a reply constrains nothing; a pending write/cas may still have taken effect.
    else if (op.kind !== 'read') pending.push(op);
  }
  // Stable sorts: equal call times keep input order, which keeps results deterministic.
  completed.sort((x, y) => x.call - y.call);
  pending.sort((x, y) => x.call - y.call);

  const observed = new Set<Value>();
  for (const op of completed) {
    if (op.kind === 'read') observed.add(op.output?.value ?? null);
    if (op.kind === 'cas') observed.add(op.input.expected ?? null);
  }
  for (const op of pending) if (op.kind === 'cas') observed.add(op.input.expected ?? null);
  const values = new ValueTable(observed);

  const n = completed.length;
  const code = new Uint8Array(n);
  const a = new Int32Array(n);
  const b = new Int32Array(n);
  completed.forEach((op, i) => {
    if (op.kind === 'read') {
      code[i] = READ;
      a[i] = values.id(op.output?.value ?? null);
    } else if (op.kind === 'write') {
      code[i] = WRITE;
      b[i] = values.id(op.input.value ?? null);
    } else {
      code[i] = op.output?.ok ? CAS_OK : CAS_FAIL;
      a[i] = values.id(op.input.expected ?? null);
      b[i] = values.id(op.input.value ?? null);
    }
  });

  // Class = what the op does to the model; a failed cas's new value is irrelevant.
  const classes = new Map<string, number>();
  const cls = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = `${code[i]}:${a[i]}:${code[i] === CAS_FAIL ? 0 : b[i]}`;
    let c = classes.get(k);
    if (c === undefined) {
      c = classes.size;
      classes.set(k, c);
    }
    cls[i] = c;
  }

  const m = pending.length;
  const pCode = new Uint8Array(m);
  const pA = new Int32Array(m);
  const pB = new Int32Array(m);
  const pendingByValue = new Map<number, number[]>();
  pending.forEach((op, p) => {
    pCode[p] = op.kind === 'cas' ? P_CAS : P_WRITE;
    pA[p] = op.kind === 'cas' ? values.id(op.input.expected ?? null) : 0;
    pB[p] = values.id(op.input.value ?? null);
    const list = pendingByValue.get(pB[p]);
    if (list === undefined) pendingByValue.set(pB[p], [p]);
    else list.push(p);
  });

  // Events: [time, kind (0 call, 1 return), tiebreak, ref]. Calls sort before returns at the
  // same instant, so touching intervals are treated as concurrent (the lenient reading).
  // ref >= 0 is a list entry of a completed op; ref < 0 is pending op -(ref+1).
  const events: [number, number, number, number][] = [];
  for (let i = 0; i < n; i++) {
    events.push([completed[i].call, 0, i, 2 * i + 1]);
    events.push([completed[i].ret as number, 1, i, 2 * i + 2]);
  }
  for (let p = 0; p < m; p++) events.push([pending[p].call, 0, n + p, -(p + 1)]);
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2]);

  const entryOrder = new Int32Array(2 * n);
  const retSeq = new Int32Array(n);
  const pCallSeq = new Int32Array(m);
  const callsBeforeRet = new Int32Array(n);
  let k = 0;
  let calls = 0;
  events.forEach(([, kind, , ref], seq) => {
    if (ref < 0) {
      pCallSeq[-(ref + 1)] = seq;
      return;
    }
    entryOrder[k++] = ref;
    const id = (ref - 1) >> 1;
    if (kind === 0) calls++;
    else {
      retSeq[id] = seq;
      callsBeforeRet[id] = calls;
    }
  });

  const initial = values.id(null);
  return {
    key,
    ops,
    initial,
    valueCount: values.count,
    n,
    code,
    a,
    b,
    cls,
    classCount: classes.size,
    retSeq,
    source: completed,
    entryOrder,
    callsBeforeRet,
    pendingCount: m,
    pCode,
    pA,
    pB,
    pCallSeq,
    pSource: pending,
    pendingByValue,
  };
}

import type { Operation, OpKind } from './types.js';

/**
 * The per-key register model. Two views of the same semantics:
 *  - `registerStep` works on real values (used by the generator and as the reference);
 *  - the encoded form below works on interned value ids (used by the search, where
 *    comparing small integers instead of strings keeps the hot loop cheap).
 */

export type Value = string | null;

/** Apply one op to a register holding `current`; returns the new value and the op's output. */
export function registerStep(
  current: Value,
  kind: OpKind,
  input: Operation['input'],
): { next: Value; output: NonNullable<Operation['output']> } {
  switch (kind) {
    case 'read':
      return { next: current, output: { value: current } };
    case 'write':
      return { next: input.value ?? null, output: {} };
    case 'cas': {
      const ok = current === (input.expected ?? null);
      return { next: ok ? (input.value ?? null) : current, output: { ok } };
    }
  }
}

/** Completed-op codes; an op's output is folded into its code so a step is just a predicate plus an effect. */
export const READ = 0; // a = value returned
export const WRITE = 1; // b = value written
export const CAS_OK = 2; // a = expected, b = value
export const CAS_FAIL = 3; // a = expected

/** Pending (no reply) op codes. Pending reads are dropped; pending ops may take effect or not. */
export const P_WRITE = 0; // b = value
export const P_CAS = 1; // a = expected, b = value; only takes effect from state a

/**
 * Interns values as small ids. A value that no op can ever observe (no completed read
 * returns it, no cas expects it) behaves exactly like any other such value: every read and
 * successful cas rejects it, every failed cas accepts it. All of them share id 0, which merges
 * equivalent search states and makes pending writes of unobserved values interchangeable.
 */
export class ValueTable {
  static readonly UNOBSERVED = 0;
  private readonly ids = new Map<Value, number>();

  constructor(private readonly observed: ReadonlySet<Value>) {}

  /** ids handed out so far are 0..count-1 */
  get count(): number {
    return this.ids.size + 1;
  }

  id(v: Value): number {
    if (!this.observed.has(v)) return ValueTable.UNOBSERVED;
    let id = this.ids.get(v);
    if (id === undefined) {
      id = this.ids.size + 1;
      this.ids.set(v, id);
    }
    return id;
  }
}

/** Can a completed op with this code/operand happen in `state`? */
export function accepts(code: number, a: number, state: number): boolean {
  switch (code) {
    case READ:
    case CAS_OK:
      return state === a;
    case CAS_FAIL:
      return state !== a;
    default:
      return true;
  }
}

/** State after a completed op that `accepts` the state. */
export function after(code: number, b: number, state: number): number {
  return code === WRITE || code === CAS_OK ? b : state;
}

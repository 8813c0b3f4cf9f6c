/** Kinds of operation on a single key of the key-value model. */
export type OpKind = 'read' | 'write' | 'cas';

/** One client call as recorded by a test harness. */
export interface Operation {
  clientId: number;
  key: string;
  kind: OpKind;
  /** `write`: `{ value }`; `cas`: `{ expected, value }` (expected null = key absent); `read`: `{}`. */
  input: { value?: string; expected?: string | null };
  /** undefined when the call never got a reply (timeout/crash): it may or may not have taken effect. */
  output?: { value?: string | null; ok?: boolean };
  /** invocation time (any monotonic number) */
  call: number;
  /** response time; undefined (or +Infinity) when there was no reply */
  ret?: number;
}

export interface CheckResult {
  /**
   * true only when every key was proven linearizable. false when a key was proven
   * non-linearizable, and also when the search ran out of time (see `timedOut`).
   */
  linearizable: boolean;
  /** keys examined: all of them on success; on failure/timeout, up to and including the key that stopped the check */
  keys: number;
  /** first key that failed: all ops of that key, and the longest linearizable prefix the search found */
  failure?: { key: string; ops: Operation[]; longestPrefix: Operation[] };
  /**
   * Set when `timeoutMs` elapsed before a verdict. The answer is then *unknown*; it is
   * reported as `linearizable: false` so that a caller checking only `linearizable`
   * never mistakes an unfinished check for a pass.
   */
  timedOut?: boolean;
}

export interface CheckOptions {
  /** wall-clock budget for the whole check; default unlimited */
  timeoutMs?: number;
}

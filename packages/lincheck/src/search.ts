import { VisitedSet, zobristTable } from './cache.js';
import type { KeyHistory } from './history.js';
import { accepts, after, CAS_FAIL, CAS_OK, P_CAS, P_WRITE, READ, WRITE } from './model.js';
import type { Operation } from './types.js';

export type SearchOutcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'fail'; readonly longestPrefix: Operation[] }
  | { readonly kind: 'timeout' };

/**
 * A way to linearize one completed op: first apply these pending ops (in order), which
 * leave the register in state `pre` (-1: no pending ops, keep the current state).
 */
interface Chain {
  readonly ops: readonly number[];
  readonly pre: number;
}

interface Frame {
  /** call entry of the completed op linearized at this depth */
  readonly entry: number;
  readonly chain: Chain;
  /** the alternatives for this entry and the next one to try when we come back */
  readonly opts: readonly Chain[];
  readonly optIdx: number;
  readonly prevState: number;
  /** first return entry in the list when this frame was pushed */
  readonly firstRet: number;
  /** scan phase of the node: 0 = moves without pending ops, 1 = moves spending pending ops */
  readonly phase: number;
  /** taken without considering alternatives (see pureAccepted) */
  readonly forced: boolean;
}

const KEEP: readonly Chain[] = [{ ops: [], pre: -1 }];
const NONE: readonly Chain[] = [];
const TIME_CHECK_MASK = 1023;
/** Search steps spent looking for a good failure explanation once failure is already certain. */
const DOOMED_BUDGET = 200_000;

/**
 * Wing–Gong–Lowe depth-first search over linearization points for one key.
 *
 * The completed ops' call/return entries form a doubly linked list in time order. An op can
 * be linearized next iff its call entry precedes the first remaining return entry; doing
 * so "lifts" both entries out of the list, and backtracking "unlifts" them (O(1) each, in
 * LIFO order). Reaching a return entry means that op should already be linearized: backtrack.
 *
 * Pending ops are not list entries. Any valid linearization can be rearranged so that every
 * pending op that takes effect sits just before a completed op that needs it (read of its
 * value, successful cas expecting it, failed cas needing some other value): moving a
 * pending op later is always allowed since it has no return, and an unneeded one can simply
 * not take effect. So they are only spent in minimal chains in front of a completed op
 * whose precondition fails. The search succeeds once every completed op is linearized.
 */
export function searchKey(h: KeyHistory, deadline: number): SearchOutcome {
  const n = h.n;
  if (n === 0) return { kind: 'ok' };
  const { code, a, b, cls, retSeq, callsBeforeRet, pCode, pA, pB, pCallSeq, pendingByValue } = h;
  const m = h.pendingCount;

  const HEAD = 0;
  const TAIL = 2 * n + 1;
  const next = new Int32Array(2 * n + 2);
  const prev = new Int32Array(2 * n + 2);
  let last = HEAD;
  for (const e of h.entryOrder) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  next[last] = TAIL;
  prev[TAIL] = last;

  const bits = new Uint32Array((n + 31) >>> 5);
  const consumed = m > 0 ? new Uint32Array((m + 31) >>> 5) : null;
  let consumedSnapshot: Uint32Array | null = null; // copy of `consumed`, dropped when it changes
  const zOp = zobristTable(n, 0x5eed);
  const visited = new VisitedSet();

  const isConsumed = (p: number): boolean => consumed !== null && (consumed[p >>> 5] & (1 << (p & 31))) !== 0;

  const lift = (e: number): void => {
    const r = e + 1;
    next[prev[e]] = next[e];
    prev[next[e]] = prev[e];
    next[prev[r]] = next[r];
    prev[next[r]] = prev[r];
  };
  const unlift = (e: number): void => {
    const r = e + 1;
    next[prev[r]] = r;
    prev[next[r]] = r;
    next[prev[e]] = e;
    prev[next[e]] = e;
  };
  const firstReturn = (): number => {
    let e = next[HEAD];
    while ((e & 1) === 1) e = next[e];
    return e;
  };

  /** Chains of available, unconsumed pending ops taking state `s` to `x` (simple paths only). */
  const reach = (s: number, x: number, limit: number, path: number[]): number[][] => {
    const out: number[][] = [];
    const producers = pendingByValue.get(x);
    if (producers === undefined) return out;
    let haveWrite = false;
    const froms: number[] = [];
    for (const p of producers) {
      if (pCallSeq[p] >= limit) break;
      if (isConsumed(p)) continue;
      if (pCode[p] === P_WRITE) {
        // All available writes of x are interchangeable from now on: try just the earliest.
        if (!haveWrite) out.push([p]);
        haveWrite = true;
        continue;
      }
      const y = pA[p];
      if (y === x || froms.includes(y) || path.includes(y)) continue;
      froms.push(y);
      if (y === s) {
        out.push([p]);
        continue;
      }
      path.push(y);
      for (const sub of reach(s, y, limit, path)) out.push([...sub, p]);
      path.pop();
    }
    return out;
  };

  /** How the completed op `op` can be linearized now, from `state`. */
  const options = (op: number, state: number, limit: number): readonly Chain[] => {
    const c = code[op];
    if (c === WRITE || accepts(c, a[op], state)) return KEEP; // spending pending ops first would be dominated
    if (m === 0) return NONE;
    if (c === CAS_FAIL) {
      // state === expected: one pending op moving the state elsewhere is enough. Per resulting
      // value, prefer spending a cas over a write (the write stays usable in more situations).
      const out: Chain[] = [];
      const results: number[] = [];
      for (const wanted of [P_CAS, P_WRITE]) {
        for (let p = 0; p < m && pCallSeq[p] < limit; p++) {
          if (pCode[p] !== wanted || isConsumed(p)) continue;
          const v = pB[p];
          if (v === state || (wanted === P_CAS && pA[p] !== state) || results.includes(v)) continue;
          results.push(v);
          out.push({ ops: [p], pre: v });
        }
      }
      return out;
    }
    const target = a[op];
    return reach(state, target, limit, [target]).map((ops) => ({ ops, pre: target }));
  };

  const frames: Frame[] = [];
  // Longest prefix, kept incrementally: best[0..bestValid) still equals frames[0..bestValid).
  const best: Frame[] = [];
  let bestValid = 0;

  let state = h.initial;
  let hash = 0;
  let remaining = n;
  let firstRet = firstReturn();
  let cur = next[HEAD];
  let opts: readonly Chain[] | null = null;
  let optIdx = 0;
  let phase = 0;
  let nodeFirstRet = firstRet; // first return entry after the last successful move

  /**
   * Lookahead: for each value, how many unlinearized completed ops need the register to hold
   * it (reads of it, successful cas expecting it) and how many ops could still set it
   * (unlinearized completed writes/successful cas, unconsumed pending writes/cas). A value
   * that is needed but no longer current and can never be set again makes the configuration
   * a dead end, found right away instead of when the needing op's return is reached.
   */
  const need = new Int32Array(h.valueCount);
  const canSet = new Int32Array(h.valueCount);
  for (let i = 0; i < n; i++) {
    if (code[i] === READ || code[i] === CAS_OK) need[a[i]]++;
    if (code[i] === WRITE || code[i] === CAS_OK) canSet[b[i]]++;
  }
  for (let p = 0; p < m; p++) canSet[pB[p]]++;
  const stranded = (v: number): boolean => v !== state && need[v] > 0 && canSet[v] === 0;

  /** Linearize f's chain of pending ops, then its completed op, ending in `newState`. */
  const apply = (f: Frame, newState: number): void => {
    const op = (f.entry - 1) >> 1;
    const c = code[op];
    if (c === READ || c === CAS_OK) need[a[op]]--;
    if (c === WRITE || c === CAS_OK) canSet[b[op]]--;
    for (const p of f.chain.ops) canSet[pB[p]]--;
    lift(f.entry);
    bits[op >>> 5] |= 1 << (op & 31);
    hash ^= zOp[op];
    for (const p of f.chain.ops) {
      (consumed as Uint32Array)[p >>> 5] |= 1 << (p & 31);
      consumedSnapshot = null;
    }
    remaining--;
    state = newState;
  };
  /** Reverse `apply` (LIFO, which unlift requires). */
  const undo = (f: Frame): void => {
    const op = (f.entry - 1) >> 1;
    const c = code[op];
    if (c === READ || c === CAS_OK) need[a[op]]++;
    if (c === WRITE || c === CAS_OK) canSet[b[op]]++;
    for (const p of f.chain.ops) canSet[pB[p]]++;
    for (const p of f.chain.ops) {
      (consumed as Uint32Array)[p >>> 5] &= ~(1 << (p & 31));
      consumedSnapshot = null;
    }
    hash ^= zOp[op];
    bits[op >>> 5] &= ~(1 << (op & 31));
    unlift(f.entry);
    remaining++;
    state = f.prevState;
  };

  /** Remember frames (+ extra) as the longest linearizable prefix, if it is. */
  const recordBest = (extra?: Frame): void => {
    const depth = frames.length + (extra === undefined ? 0 : 1);
    if (depth <= best.length) return;
    for (let i = bestValid; i < frames.length; i++) best[i] = frames[i];
    bestValid = frames.length;
    if (extra !== undefined) best[frames.length] = extra; // not counted in bestValid: the frame is not kept
  };

  const DONE = 0;
  const PUSHED = 1;
  const REJECTED = 2;
  /** Make a move; keep it if it completes the search or reaches a live configuration not seen before. */
  const move = (f: Frame, newState: number): number => {
    apply(f, newState);
    if (remaining === 0) return DONE;
    // Only values that just stopped being current can have become stranded.
    let dead = stranded(f.prevState) || (f.chain.pre >= 0 && stranded(f.chain.pre));
    for (const p of f.chain.ops) dead ||= stranded(pB[p]);
    if (dead) {
      recordBest(f); // still a legal prefix, just doomed: it counts for the failure explanation
      undo(f);
      return REJECTED;
    }
    const lowest = (next[HEAD] - 1) >> 1;
    nodeFirstRet = firstReturn();
    const wordHi = (callsBeforeRet[(nodeFirstRet - 1) >> 1] - 1) >>> 5;
    if (consumed !== null && consumedSnapshot === null) consumedSnapshot = consumed.slice();
    if (!visited.add(hash, state, lowest, bits, lowest >>> 5, wordHi, consumedSnapshot)) {
      undo(f);
      return REJECTED;
    }
    frames.push(f);
    recordBest();
    return PUSHED;
  };

  /** Pop frames until one still has alternatives to try; false when the search space is exhausted. */
  const backtrack = (): boolean => {
    for (;;) {
      const f = frames.pop();
      if (f === undefined) return false;
      if (bestValid > frames.length) bestValid = frames.length;
      undo(f);
      if (f.forced) continue; // a forced move was the only one worth trying at its node
      cur = f.entry;
      opts = f.opts;
      optIdx = f.optIdx;
      firstRet = f.firstRet;
      phase = f.phase;
      rankFrontier();
      return true;
    }
  };

  /**
   * A read or failed cas that the current state already satisfies changes nothing, so if any
   * continuation succeeds, one that linearizes it right now does too (it can move to the
   * front: its real-time predecessors are all linearized). Take it without branching.
   */
  const pureAccepted = (): number => {
    for (let e = next[HEAD]; e !== firstRet; e = next[e]) {
      const op = (e - 1) >> 1;
      const c = code[op];
      if ((c === READ && a[op] === state) || (c === CAS_FAIL && a[op] !== state)) return e;
    }
    return -1;
  };

  /**
   * Symmetry breaking: completed ops of the same class in the frontier are interchangeable
   * except for their deadlines (return times), so only the one that returns first is a
   * candidate. (Exchange argument: swapping two same-class ops in a valid linearization so
   * that the earlier-returning one comes first keeps it valid.) This matters for the many
   * writes of unobserved values, which all share one class.
   */
  const classBest = new Int32Array(h.classCount);
  const classStamp = new Int32Array(h.classCount);
  let stamp = 0;
  const rankFrontier = (): void => {
    stamp++;
    for (let e = next[HEAD]; e !== firstRet; e = next[e]) {
      const op = (e - 1) >> 1;
      const c = cls[op];
      if (classStamp[c] !== stamp || retSeq[op] < retSeq[classBest[c]]) {
        classStamp[c] = stamp;
        classBest[c] = op;
      }
    }
  };

  // A value some op must read but nothing can ever write: the verdict is already known, and
  // the search only runs (on a budget) to find a long prefix for the explanation.
  let doomed = false;
  for (let v = 0; v < h.valueCount; v++) doomed ||= stranded(v);
  const fail = (): SearchOutcome => ({ kind: 'fail', longestPrefix: prefixOps(best, h) });

  let atNewNode = true;
  let iter = 0;
  for (;;) {
    if ((++iter & TIME_CHECK_MASK) === 0) {
      if (doomed && iter >= DOOMED_BUDGET) return fail();
      if (performance.now() > deadline) return doomed ? fail() : { kind: 'timeout' };
    }

    if (atNewNode) {
      atNewNode = false;
      firstRet = nodeFirstRet;
      const e = pureAccepted();
      if (e < 0) {
        cur = next[HEAD];
        opts = null;
        phase = 0;
        rankFrontier();
        continue;
      }
      const f = {
        entry: e,
        chain: KEEP[0],
        opts: KEEP,
        optIdx: 1,
        prevState: state,
        firstRet,
        phase,
        forced: true,
      };
      const r = move(f, state);
      if (r === DONE) return { kind: 'ok' };
      if (r === PUSHED) atNewNode = true;
      else if (!backtrack()) break;
      continue;
    }

    if (cur !== firstRet) {
      const op = (cur - 1) >> 1;
      if (opts === null) {
        // Phase 0 tries the moves that spend no pending op, phase 1 the others. Exploring the
        // cheap moves first means a config reached by needlessly spending a pending op is
        // usually pruned as dominated by one already explored.
        const needsChain = !accepts(code[op], a[op], state);
        if (classBest[cls[op]] !== op || needsChain !== (phase === 1)) opts = NONE;
        else opts = phase === 0 ? KEEP : options(op, state, retSeq[(firstRet - 1) >> 1]);
        optIdx = 0;
      }
      if (optIdx >= opts.length) {
        cur = next[cur];
        opts = null;
        continue;
      }
      const chain = opts[optIdx++];
      const newState = after(code[op], b[op], chain.pre < 0 ? state : chain.pre);
      const f = { entry: cur, chain, opts, optIdx, prevState: state, firstRet, phase, forced: false };
      const r = move(f, newState);
      if (r === DONE) return { kind: 'ok' };
      if (r === PUSHED) atNewNode = true;
      continue;
    }

    if (phase === 0 && m > 0) {
      phase = 1;
      cur = next[HEAD];
      opts = null;
      continue;
    }

    // Reached a return entry: that op had to be linearized by now.
    if (!backtrack()) break;
  }
  return fail();
}

function prefixOps(frames: readonly Frame[], h: KeyHistory): Operation[] {
  const out: Operation[] = [];
  for (const f of frames) {
    for (const p of f.chain.ops) out.push(h.pSource[p]);
    out.push(h.source[(f.entry - 1) >> 1]);
  }
  return out;
}

/**
 * Search configurations already explored and failed: (linearized completed ops, model state,
 * pending ops consumed). Reaching a known configuration again by another path cannot succeed
 * where the first visit failed, so the search prunes it (this is what keeps Wing–Gong–Lowe
 * polynomial in practice). Moreover, a configuration that has consumed a superset of the
 * pending ops of an explored one, with the same linearized set and state, has no more
 * options: it is pruned too.
 *
 * Configurations are hashed incrementally (Zobrist: XOR of a random word per set bit) and
 * stored compactly: every op called before the first unlinearized one (`lowest`) is
 * linearized, and none called after the first pending return, so only the bitset words of
 * that sliding window are stored. Its width is bounded by concurrency, not history length.
 */
interface Entry {
  readonly state: number;
  readonly lowest: number;
  readonly words: Uint32Array;
  readonly consumed: Uint32Array | null;
  readonly next: Entry | undefined;
}

/**
 * Entries kept before the set is emptied (~100-200 bytes each). Forgetting entries is always
 * sound (they only prune); it bounds memory on pathological histories, at the price of time,
 * which `timeoutMs` bounds. Ordinary histories stay far below this.
 */
const MAX_ENTRIES = 2_000_000;

export class VisitedSet {
  private readonly table = new Map<number, Entry>();
  private size = 0;

  /**
   * Adds the configuration; returns false if it (or one dominating it) was already present.
   * `consumed` is kept by reference: callers pass an immutable snapshot, shared while it does
   * not change (it changes rarely, so this saves a copy per entry).
   */
  add(
    hash: number,
    state: number,
    lowest: number,
    bits: Uint32Array,
    wordLo: number,
    wordHi: number,
    consumed: Uint32Array | null,
  ): boolean {
    const h = (hash ^ Math.imul(state + 1, 0x9e3779b1)) | 0;
    const head = this.table.get(h);
    const width = wordHi - wordLo + 1;
    for (let e = head; e !== undefined; e = e.next) {
      if (
        e.state === state &&
        e.lowest === lowest &&
        e.words.length === width &&
        sameWords(e.words, bits, wordLo) &&
        isSubset(e.consumed, consumed)
      )
        return false;
    }
    if (this.size >= MAX_ENTRIES) {
      this.table.clear();
      this.size = 0;
    }
    this.table.set(h, {
      state,
      lowest,
      words: bits.slice(wordLo, wordHi + 1),
      consumed,
      next: this.size === 0 ? undefined : head,
    });
    this.size++;
    return true;
  }
}

function sameWords(stored: Uint32Array, bits: Uint32Array, offset: number): boolean {
  for (let i = 0; i < stored.length; i++) if (stored[i] !== bits[offset + i]) return false;
  return true;
}

/** a ⊆ b (null: there are no pending ops at all) */
function isSubset(a: Uint32Array | null, b: Uint32Array | null): boolean {
  if (a === b || a === null || b === null) return true;
  for (let i = 0; i < a.length; i++) if ((a[i] & ~b[i]) !== 0) return false;
  return true;
}

/** Deterministic random words for Zobrist hashing (a murmur3 finalizer over seed + index). */
export function zobristTable(length: number, seed: number): Int32Array {
  const t = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    let h = (seed + Math.imul(i + 1, 0x9e3779b9)) | 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    t[i] = h ^ (h >>> 16);
  }
  return t;
}

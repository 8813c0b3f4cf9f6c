// The simulator's seeded randomness: every fault, delay and client choice comes from one seed, so
// a run replays exactly. Exported (`@flynn-edge/raft/rng`) for tests that want the same.

export interface Rng {
  /** uniform float in [0, 1) */
  next(): number;
  /** uniform integer in [0, n) */
  int(n: number): number;
}

/** mulberry32: 32 bits of state, fast, good enough for simulation (not cryptographic). */
export function createRng(seed: number): Rng {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => {
    if (!Number.isInteger(n) || n <= 0)
      throw new RangeError(`rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(next() * n);
  };
  return { next, int };
}

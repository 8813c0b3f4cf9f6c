// Results are cached for about a second and concurrent requests share one round, so a storm of
// health checks turns into at most one round of probes per second (per scope), never one per
// request. An answer is never older than the TTL: a request that finds the result expired waits
// for the round in flight (or starts one). To keep requests under steady load from ever waiting,
// a request that sees the result in its last quarter (past `refreshAt`) starts the next round in
// the background while it is still served the fresh one: a round has a quarter of the TTL to
// finish before anyone waits for it, and steady traffic causes about 1.3 rounds per TTL.

export interface CacheOptions {
  /** How long a result is served (default 1000 ms). */
  ttlMs?: number;
  /** From this age on, a request starts the next round in the background (default 0.75 × TTL). */
  refreshAtMs?: number;
  /** The clock (ms); tests pass a fake one. */
  now?: () => number;
}

export class CoalescingCache<T> {
  private value: { v: T; at: number } | undefined;
  private inflight: Promise<T> | undefined;
  private readonly ttlMs: number;
  private readonly refreshAtMs: number;
  private readonly now: () => number;
  /** Rounds started so far. */
  rounds = 0;

  constructor(
    private readonly produce: () => Promise<T>,
    opts: CacheOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 1000;
    this.refreshAtMs = Math.min(opts.refreshAtMs ?? this.ttlMs * 0.75, this.ttlMs);
    this.now = opts.now ?? Date.now;
  }

  /** The last result and its age in ms, fresh or not. */
  peek(): { value: T; ageMs: number } | undefined {
    return this.value && { value: this.value.v, ageMs: this.now() - this.value.at };
  }

  get inFlight(): boolean {
    return this.inflight !== undefined;
  }

  get(): Promise<T> {
    const cached = this.value;
    const age = cached ? this.now() - cached.at : Number.POSITIVE_INFINITY;
    if (cached && age < this.ttlMs) {
      if (age >= this.refreshAtMs) void this.round().catch(() => {});
      return Promise.resolve(cached.v);
    }
    return this.round();
  }

  /** The round in flight, or a new one. */
  private round(): Promise<T> {
    if (this.inflight) return this.inflight;
    this.rounds++;
    let started: Promise<T>;
    try {
      started = Promise.resolve(this.produce());
    } catch (err) {
      started = Promise.reject(err);
    }
    const p = started
      .then((v) => {
        this.value = { v, at: this.now() };
        return v;
      })
      .finally(() => {
        if (this.inflight === p) this.inflight = undefined;
      });
    this.inflight = p;
    return p;
  }
}

/** One CoalescingCache per key (scope and host), at most `maxKeys` of them (oldest dropped). */
export class KeyedCache<T> {
  private readonly caches = new Map<string, CoalescingCache<T>>();

  constructor(
    private readonly produce: (key: string) => Promise<T>,
    private readonly opts: CacheOptions & { maxKeys?: number } = {},
  ) {}

  get(key: string): Promise<T> {
    return this.cache(key).get();
  }

  peek(key: string): { value: T; ageMs: number } | undefined {
    return this.caches.get(key)?.peek();
  }

  cache(key: string): CoalescingCache<T> {
    let c = this.caches.get(key);
    if (!c) {
      const max = this.opts.maxKeys ?? 64;
      while (this.caches.size >= max) {
        const oldest = this.caches.keys().next().value as string;
        this.caches.delete(oldest);
      }
      c = new CoalescingCache(() => this.produce(key), this.opts);
      this.caches.set(key, c);
    }
    return c;
  }

  get size(): number {
    return this.caches.size;
  }
}

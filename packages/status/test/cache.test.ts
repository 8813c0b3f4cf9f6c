import { describe, expect, it } from 'vitest';
import { CoalescingCache, KeyedCache } from '../src/cache.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('CoalescingCache (fake clock)', () => {
  it('coalesces concurrent requests into one round, then serves the result for the TTL', async () => {
    let t = 0;
    const rounds: ReturnType<typeof deferred<number>>[] = [];
    const cache = new CoalescingCache(
      () => {
        const d = deferred<number>();
        rounds.push(d);
        return d.promise;
      },
      { ttlMs: 1000, now: () => t },
    );
    const waiting = Array.from({ length: 100 }, () => cache.get());
    expect(rounds).toHaveLength(1);
    expect(cache.inFlight).toBe(true);
    rounds[0]!.resolve(1);
    expect(await Promise.all(waiting)).toEqual(Array(100).fill(1));
    t = 400;
    expect(await cache.get()).toBe(1);
    expect(rounds).toHaveLength(1);
    // Past the TTL a request waits for a new round: never an answer older than the TTL.
    t = 1000;
    const next = cache.get();
    expect(rounds).toHaveLength(2);
    rounds[1]!.resolve(2);
    expect(await next).toBe(2);
    expect(cache.rounds).toBe(2);
  });

  it('defaults the background refresh to 0.75 × TTL', async () => {
    let t = 0;
    let n = 0;
    const cache = new CoalescingCache(async () => ++n, { ttlMs: 1000, now: () => t });
    await cache.get();
    t = 749;
    await cache.get();
    expect(n).toBe(1);
    t = 750;
    expect(await cache.get()).toBe(1);
    expect(cache.rounds).toBe(2);
  });

  it('starts the next round in the background near the end of the TTL, still serving the fresh result', async () => {
    let t = 0;
    const rounds: ReturnType<typeof deferred<number>>[] = [];
    const cache = new CoalescingCache(
      () => {
        const d = deferred<number>();
        rounds.push(d);
        return d.promise;
      },
      { ttlMs: 1000, refreshAtMs: 750, now: () => t },
    );
    const first = cache.get();
    rounds[0]!.resolve(1);
    await first;
    t = 800;
    expect(await cache.get()).toBe(1); // served at once
    expect(rounds).toHaveLength(2); // …and a refresh started
    expect(await cache.get()).toBe(1); // no second refresh while one is in flight
    expect(rounds).toHaveLength(2);
    rounds[1]!.resolve(2);
    await rounds[1]!.promise;
    await Promise.resolve();
    t = 900;
    expect(await cache.get()).toBe(2);
  });

  it('a failed round reaches every waiter and the next request tries again', async () => {
    let n = 0;
    const cache = new CoalescingCache(async () => {
      n++;
      if (n === 1) throw new Error('boom');
      return n;
    });
    const [a, b] = await Promise.allSettled([cache.get(), cache.get()]);
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('rejected');
    expect(await cache.get()).toBe(2);
  });

  it('KeyedCache keeps one cache per key and drops the oldest past maxKeys', async () => {
    const seen: string[] = [];
    const keyed = new KeyedCache(
      async (k) => {
        seen.push(k);
        return k.toUpperCase();
      },
      { maxKeys: 2 },
    );
    expect(await keyed.get('a')).toBe('A');
    expect(await keyed.get('a')).toBe('A');
    await keyed.get('b');
    await keyed.get('c');
    expect(keyed.size).toBe(2);
    expect(keyed.peek('a')).toBeUndefined();
    expect(seen).toEqual(['a', 'b', 'c']);
  });
});

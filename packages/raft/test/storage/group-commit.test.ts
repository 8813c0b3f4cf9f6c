import { describe, expect, it } from 'vitest';
import { FileStorage } from '../../src/storage/index.js';
import { entry, ids, range, tempDir } from './helpers.js';

describe('group commit', () => {
  it('coalesces 100 concurrent saves into a few syncs and resolves them in order', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    const before = storage.stats();
    const resolved: number[] = [];
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 100; i++) {
      saves.push(
        storage.save({ term: 1, vote: 'a', commit: i - 1 }, [entry(i)]).then(() => void resolved.push(i)),
      );
    }
    await Promise.all(saves);
    const after = storage.stats();
    expect(after.syncs - before.syncs).toBeLessThanOrEqual(2);
    expect(after.records - before.records).toBe(200);
    expect(resolved).toEqual(range(1, 100).map((e) => e.index));
    await storage.close();

    const { storage: s2, state } = await FileStorage.open(dir);
    expect(ids(state.entries)).toEqual(ids(range(1, 100)));
    expect(state.hardState.commit).toBe(99);
    await s2.close();
  });

  it('queues saves that arrive during a sync into the next single write', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    const before = storage.stats().syncs;
    const first = storage.save(null, [entry(1)]);
    await new Promise((r) => setImmediate(r)); // the first batch is now in flight
    const rest: Promise<void>[] = [];
    for (let i = 2; i <= 60; i++) rest.push(storage.save(null, [entry(i)]));
    await Promise.all([first, ...rest]);
    expect(storage.stats().syncs - before).toBeLessThanOrEqual(3);
    await storage.close();
    expect(ids((await FileStorage.open(dir)).state.entries)).toEqual(ids(range(1, 60)));
  });

  it('applies overwrites inside one coalesced batch in call order', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    await Promise.all([
      storage.save({ term: 1, vote: 'a', commit: 0 }, range(1, 10, 1)),
      storage.save({ term: 2, vote: 'b', commit: 0 }, range(4, 6, 2)),
      storage.save(null, range(7, 7, 2)),
      storage.save({ term: 3, vote: null, commit: 2 }, range(3, 3, 3)),
      storage.save(null, []),
    ]);
    await storage.close();
    const { storage: s2, state } = await FileStorage.open(dir);
    expect(ids(state.entries)).toEqual([...ids(range(1, 2, 1)), [3, 3]]);
    expect(state.hardState).toEqual({ term: 3, vote: null, commit: 2 });
    await s2.close();
  });

  it('keeps coalescing across segment rollovers', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir, { segmentBytes: 512 });
    for (let round = 0; round < 5; round++) {
      const before = storage.stats().syncs;
      const saves: Promise<void>[] = [];
      for (let i = 1; i <= 40; i++) saves.push(storage.save(null, [entry(round * 40 + i)]));
      await Promise.all(saves);
      // A rollover costs one more sync (the directory), never one per save.
      expect(storage.stats().syncs - before).toBeLessThanOrEqual(2);
    }
    expect(storage.stats().segments).toBe(5);
    await storage.close();
    const { storage: s2, state } = await FileStorage.open(dir, { segmentBytes: 512 });
    expect(ids(state.entries)).toEqual(ids(range(1, 200)));
    await s2.close();
  });
});

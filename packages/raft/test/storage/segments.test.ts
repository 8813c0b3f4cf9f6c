import { describe, expect, it } from 'vitest';
import { FileStorage } from '../../src/storage/index.js';
import { ids, range, segmentFiles, snapshot, snapshotFiles, tempDir } from './helpers.js';

// Each 8-byte entry takes 34 bytes on disk; a 1 KiB segment holds about 28 of them.
const small = { segmentBytes: 1024 };

describe('segments and snapshots', () => {
  it('rolls to new segments past segmentBytes, with names that sort in order', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir, small);
    for (let i = 1; i <= 200; i += 10) await storage.save({ term: 1, vote: 'a', commit: i }, range(i, i + 9));
    expect(storage.stats().segments).toBeGreaterThan(5);
    await storage.close();

    const names = await segmentFiles(dir);
    expect(names.length).toBe(storage.stats().segments);
    const firstIndexes = names.map((n) => Number.parseInt(n.split('-')[2], 16));
    expect(firstIndexes).toEqual([...firstIndexes].sort((a, b) => a - b));
    const { storage: s2, state } = await FileStorage.open(dir, small);
    expect(ids(state.entries)).toEqual(ids(range(1, 200)));
    expect(state.hardState).toEqual({ term: 1, vote: 'a', commit: 191 });
    await s2.close();
  });

  it('compacts old segments on saveSnapshot and keeps the entries after it', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir, small);
    await storage.save({ term: 2, vote: 'b', commit: 0 }, []);
    for (let i = 1; i <= 300; i += 10) await storage.save(null, range(i, i + 9, 2));
    await storage.save({ term: 2, vote: 'b', commit: 250 }, []);
    const before = storage.stats().segments;
    await storage.saveSnapshot(snapshot(250, 2));
    const after = storage.stats().segments;
    expect(after).toBeLessThan(before);
    expect(after).toBeLessThanOrEqual(3);
    await storage.save(null, range(301, 305, 2));
    await storage.close();

    const { storage: s2, state } = await FileStorage.open(dir, small);
    expect(state.snapshot).toEqual(snapshot(250, 2));
    expect(ids(state.entries)).toEqual(ids(range(251, 305, 2)));
    // The HardState survived although the segment that first held it is gone.
    expect(state.hardState).toEqual({ term: 2, vote: 'b', commit: 250 });
    await s2.close();
  });

  it('snapshots the whole log, then appends after it', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    await storage.save({ term: 1, vote: null, commit: 20 }, range(1, 20));
    await storage.saveSnapshot(snapshot(20, 1));
    expect(storage.stats().segments).toBe(1);
    await storage.save(null, range(21, 22));
    await storage.close();
    const { storage: s2, state } = await FileStorage.open(dir);
    expect(state.snapshot?.meta.index).toBe(20);
    expect(ids(state.entries)).toEqual(ids(range(21, 22)));
    await s2.close();
  });

  it('resets the log when a snapshot beyond the last index is installed', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir, small);
    await storage.save({ term: 1, vote: 'a', commit: 5 }, range(1, 100, 1));
    await storage.saveSnapshot(snapshot(500, 4));
    expect(storage.stats().segments).toBe(1);
    await expect(storage.save(null, range(101, 101))).rejects.toThrow(RangeError);
    await expect(storage.save(null, range(500, 500))).rejects.toThrow(RangeError);
    await storage.save({ term: 4, vote: null, commit: 500 }, range(501, 502, 4));
    await storage.close();

    const { storage: s2, state } = await FileStorage.open(dir, small);
    expect(state.snapshot).toEqual(snapshot(500, 4));
    expect(ids(state.entries)).toEqual(ids(range(501, 502, 4)));
    expect(state.hardState).toEqual({ term: 4, vote: null, commit: 500 });
    await s2.close();
  });

  it('resets the log when the snapshot conflicts with the entry at its index', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    await storage.save(null, range(1, 10, 1));
    await storage.saveSnapshot(snapshot(6, 2)); // the log has index 6 at term 1: a different history
    await storage.save(null, range(7, 7, 2));
    await storage.close();
    const { storage: s2, state } = await FileStorage.open(dir);
    expect(state.snapshot?.meta).toMatchObject({ index: 6, term: 2 });
    expect(ids(state.entries)).toEqual([[7, 2]]);
    await s2.close();
  });

  it('keeps only keepSnapshots snapshot files', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir, { keepSnapshots: 2 });
    await storage.save(null, range(1, 40));
    for (const i of [10, 20, 30, 40]) await storage.saveSnapshot(snapshot(i, 1));
    expect((await snapshotFiles(dir)).length).toBe(2);
    await storage.close();
    const { storage: s2, state } = await FileStorage.open(dir);
    expect(state.snapshot?.meta.index).toBe(40);
    expect(state.entries).toEqual([]);
    await expect(s2.saveSnapshot(snapshot(30, 1))).rejects.toThrow(/older/);
    await s2.close();
  });

  it('orders snapshots with the saves queued around them', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir, small);
    const all = [
      storage.save(null, range(1, 50)),
      storage.saveSnapshot(snapshot(30, 1)),
      storage.save(null, range(51, 60)),
      storage.saveSnapshot(snapshot(70, 3)),
      storage.save(null, range(71, 72, 3)),
    ];
    await Promise.all(all);
    await storage.close();
    const { storage: s2, state } = await FileStorage.open(dir, small);
    expect(state.snapshot?.meta.index).toBe(70);
    expect(ids(state.entries)).toEqual(ids(range(71, 72, 3)));
    await s2.close();
  });
});

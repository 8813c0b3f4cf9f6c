import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EntryType } from '../../src/core/types.js';
import { FileStorage } from '../../src/storage/index.js';
import { entry, ids, range, segmentFiles, tempDir } from './helpers.js';

describe('FileStorage round trip', () => {
  it('starts empty in a new directory', async () => {
    const dir = await tempDir();
    const { storage, state } = await FileStorage.open(dir);
    expect(state).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
    await storage.close();
  });

  it.each([
    ['on the event loop', {}],
    ['through the threadpool', { alwaysAsync: true }],
  ])(
    'recovers hard states and entries saved in several batches (appends %s)',
    async (_how, durableWrites) => {
      const dir = await tempDir();
      const { storage } = await FileStorage.open(dir, { durableWrites });
      await storage.save({ term: 1, vote: 'a', commit: 0 }, range(1, 3));
      await storage.save(null, range(4, 6));
      await storage.save({ term: 2, vote: 'nødé-β', commit: 4 }, []);
      const big = { index: 7, term: 2, type: EntryType.ConfChange, data: new Uint8Array(100_000).fill(7) };
      await storage.save({ term: 2, vote: null, commit: 6 }, [big]);
      await storage.close();

      const { storage: s2, state } = await FileStorage.open(dir);
      expect(state.hardState).toEqual({ term: 2, vote: null, commit: 6 });
      expect(state.snapshot).toBeNull();
      expect(state.entries.slice(0, 6)).toEqual(range(1, 6));
      // Compared as bytes: a deep equality over 100k array elements is slow.
      const last = state.entries[6];
      expect({ ...last, data: null }).toEqual({ ...big, data: null });
      expect(Buffer.from(last.data).equals(big.data)).toBe(true);
      await s2.close();
    },
  );

  it('replaces the log suffix when entries overwrite it, and keeps that across reopens', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    await storage.save({ term: 1, vote: 'a', commit: 2 }, range(1, 10, 1));
    await storage.save({ term: 3, vote: 'b', commit: 2 }, range(5, 7, 3));
    await storage.close();

    const reopened = await FileStorage.open(dir);
    expect(ids(reopened.state.entries)).toEqual([...ids(range(1, 4, 1)), ...ids(range(5, 7, 3))]);
    expect(reopened.state.entries[5]).toEqual(entry(6, 3));
    // Overwrite again across the session boundary (the old records live in the previous segment).
    await reopened.storage.save(null, range(3, 4, 4));
    await reopened.storage.close();

    const again = await FileStorage.open(dir);
    expect(ids(again.state.entries)).toEqual([...ids(range(1, 2, 1)), ...ids(range(3, 4, 4))]);
    expect(again.state.hardState).toEqual({ term: 3, vote: 'b', commit: 2 });
    await again.storage.close();
  });

  it('rejects gaps, non-contiguous batches and bad numbers without failing the store', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    await storage.save(null, range(1, 3));
    await expect(storage.save(null, range(5, 6))).rejects.toThrow(RangeError);
    await expect(storage.save(null, [entry(4), entry(6)])).rejects.toThrow(/contiguous/);
    await expect(storage.save(null, [entry(0)])).rejects.toThrow(RangeError);
    await expect(storage.save({ term: 1.5, vote: null, commit: 0 }, [])).rejects.toThrow(RangeError);
    await expect(storage.save(null, [entry(2 ** 53)])).rejects.toThrow(RangeError);
    expect(storage.failed).toBe(false);
    await storage.save(null, range(4, 4));
    await storage.close();
    expect(ids((await FileStorage.open(dir)).state.entries)).toEqual(ids(range(1, 4)));
  });

  it('encodes indexes and terms up to 2^53 - 1', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    const max = Number.MAX_SAFE_INTEGER;
    await storage.save({ term: max, vote: 'x', commit: max - 1 }, [entry(1, max), entry(2, 2 ** 32 + 5)]);
    await storage.close();
    const { storage: s2, state } = await FileStorage.open(dir);
    expect(state.hardState).toEqual({ term: max, vote: 'x', commit: max - 1 });
    expect(ids(state.entries)).toEqual([
      [1, max],
      [2, 2 ** 32 + 5],
    ]);
    await s2.close();
  });

  it('creates private files and directories', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    await storage.save(null, range(1, 2));
    await storage.close();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const name of await segmentFiles(dir))
      expect((await stat(join(dir, name))).mode & 0o777).toBe(0o600);
  });

  it('rejects calls after close', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    const pending = storage.save(null, range(1, 2));
    await storage.close();
    await pending;
    await expect(storage.save(null, range(3, 3))).rejects.toThrow(/closed/);
  });
});

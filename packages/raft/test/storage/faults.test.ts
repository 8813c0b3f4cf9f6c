import { describe, expect, it } from 'vitest';
import { FileStorage, type StorageFaults } from '../../src/storage/index.js';
import { entry, ids, range, snapshot, tempDir } from './helpers.js';

/** Faults that can be switched on after open. */
function switchable(): {
  faults: StorageFaults;
  failSync: (e: Error) => void;
  failWrite: (e: Error) => void;
} {
  let syncError: Error | null = null;
  let writeError: Error | null = null;
  return {
    faults: {
      beforeSync() {
        if (syncError) throw syncError;
      },
      beforeWrite() {
        if (writeError) throw writeError;
      },
    },
    failSync: (e) => {
      syncError = e;
    },
    failWrite: (e) => {
      writeError = e;
    },
  };
}

describe('I/O faults', () => {
  it('a failed fdatasync rejects the batch, sets failed, and rejects everything after', async () => {
    const dir = await tempDir();
    const f = switchable();
    const { storage } = await FileStorage.open(dir, { faults: f.faults });
    await storage.save(null, range(1, 3));
    const eio = Object.assign(new Error('EIO: fdatasync failed'), { code: 'EIO' });
    f.failSync(eio);

    await expect(storage.save(null, [entry(4)])).rejects.toBe(eio);
    expect(storage.failed).toBe(true);
    f.failSync(null as unknown as Error); // the disk "recovers": the store must still refuse
    await expect(storage.save(null, [entry(5)])).rejects.toBe(eio);
    await expect(storage.saveSnapshot(snapshot(3, 1))).rejects.toBe(eio);
    await expect(storage.close()).rejects.toBe(eio);

    // Only what was acknowledged is promised after a restart (entry 4 may or may not be there).
    const { storage: s2, state } = await FileStorage.open(dir);
    expect(ids(state.entries.slice(0, 3))).toEqual(ids(range(1, 3)));
    await s2.close();
  });

  it('rejects every save coalesced with, or queued behind, a failed batch', async () => {
    const dir = await tempDir();
    const f = switchable();
    const { storage } = await FileStorage.open(dir, { faults: f.faults });
    const eio = new Error('EIO');
    f.failWrite(eio);
    const results = await Promise.allSettled([
      storage.save(null, [entry(1)]),
      storage.save(null, [entry(2)]),
      storage.saveSnapshot(snapshot(2, 1)),
      storage.save(null, [entry(3)]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    for (const r of results) expect((r as PromiseRejectedResult).reason).toBe(eio);
    expect(storage.failed).toBe(true);
  });

  it('a failed snapshot write fails the store', async () => {
    const dir = await tempDir();
    const f = switchable();
    const { storage } = await FileStorage.open(dir, { faults: f.faults });
    await storage.save(null, range(1, 5));
    const eio = new Error('EIO on snapshot');
    f.failSync(eio);
    await expect(storage.saveSnapshot(snapshot(5, 1))).rejects.toBe(eio);
    expect(storage.failed).toBe(true);
    await expect(storage.save(null, [entry(6)])).rejects.toBe(eio);
    await storage.close().catch(() => {});
    const { storage: s2, state } = await FileStorage.open(dir);
    expect(state.snapshot).toBeNull();
    expect(ids(state.entries)).toEqual(ids(range(1, 5)));
    await s2.close();
  });
});

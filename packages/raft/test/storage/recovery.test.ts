import { appendFile, readdir, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileStorage, StorageCorruptionError } from '../../src/storage/index.js';
import { ids, range, segmentFiles, snapshot, snapshotFiles, tempDir } from './helpers.js';

const RECORD = 9 + 17 + 8; // framing + entry fields + 8 data bytes (helpers' default entry)

async function flipByte(path: string, offsetFromEnd: number): Promise<void> {
  const buf = await readFile(path);
  buf[buf.length - offsetFromEnd] ^= 0x40;
  await writeFile(path, buf);
}

/** Writes entries 1..n in batches of 10 and returns the path of the last segment. */
async function fill(dir: string, n: number, opts = {}): Promise<string> {
  const { storage } = await FileStorage.open(dir, opts);
  for (let i = 1; i <= n; i += 10) await storage.save({ term: 1, vote: 'a', commit: i }, range(i, i + 9));
  await storage.close();
  const names = await segmentFiles(dir);
  return join(dir, names[names.length - 1]);
}

describe('recovery', () => {
  it('truncates a torn tail (short record plus garbage) in the last segment', async () => {
    const dir = await tempDir();
    const last = await fill(dir, 30);
    const size = (await stat(last)).size;
    await truncate(last, size - 5);
    await appendFile(last, Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]));

    const { storage, state } = await FileStorage.open(dir);
    expect(ids(state.entries)).toEqual(ids(range(1, 29)));
    expect((await stat(last)).size).toBe(size - RECORD);
    // New writes continue after the recovered prefix and survive another reopen.
    await storage.save(null, range(30, 31));
    await storage.close();
    const again = await FileStorage.open(dir);
    expect(ids(again.state.entries)).toEqual(ids(range(1, 31)));
    await again.storage.close();
  });

  it('truncates at a flipped byte in the last record', async () => {
    const dir = await tempDir();
    const last = await fill(dir, 20);
    const size = (await stat(last)).size;
    await flipByte(last, 3);
    const { storage, state } = await FileStorage.open(dir);
    expect(ids(state.entries)).toEqual(ids(range(1, 19)));
    expect(state.hardState.commit).toBe(11);
    expect((await stat(last)).size).toBe(size - RECORD);
    await storage.close();
  });

  it('treats a garbage length field as a torn tail', async () => {
    const dir = await tempDir();
    const last = await fill(dir, 10);
    const size = (await stat(last)).size;
    await appendFile(last, Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1, 0, 0]));
    const { storage, state } = await FileStorage.open(dir);
    expect(ids(state.entries)).toEqual(ids(range(1, 10)));
    expect((await stat(last)).size).toBe(size);
    await storage.close();
  });

  it('refuses to open when an earlier segment is corrupt', async () => {
    const dir = await tempDir();
    await fill(dir, 200, { segmentBytes: 1024 });
    const first = join(dir, (await segmentFiles(dir))[0]);
    await flipByte(first, 40);
    await expect(FileStorage.open(dir)).rejects.toThrow(StorageCorruptionError);
    await expect(FileStorage.open(dir)).rejects.toThrow(/not the last segment/);
  });

  it('refuses to open when a segment in the middle is missing', async () => {
    const dir = await tempDir();
    await fill(dir, 200, { segmentBytes: 1024 });
    const names = await segmentFiles(dir);
    await writeFile(join(dir, names[2]), Buffer.alloc(0)); // emptied: still parses, entries vanish
    await expect(FileStorage.open(dir)).rejects.toThrow(/gap/);
  });

  it('refuses to open when a segment file in the middle was deleted', async () => {
    const dir = await tempDir();
    await fill(dir, 200, { segmentBytes: 1024 });
    await unlink(join(dir, (await segmentFiles(dir))[3]));
    await expect(FileStorage.open(dir)).rejects.toThrow(/missing/);
  });

  it('removes a leftover snapshot temp file', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    await storage.save(null, range(1, 5));
    await storage.saveSnapshot(snapshot(5, 1));
    await storage.close();
    const tmp = join(dir, 'snap-0000000000000009-0000000000000001.snap.tmp');
    await writeFile(tmp, 'half a snapshot');

    const { storage: s2, state } = await FileStorage.open(dir);
    expect(state.snapshot?.meta.index).toBe(5);
    expect((await readdir(dir)).some((n) => n.endsWith('.tmp'))).toBe(false);
    await s2.close();
  });

  it('falls back to the previous snapshot when the newest is corrupt', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir);
    await storage.save({ term: 1, vote: 'a', commit: 30 }, range(1, 40));
    await storage.saveSnapshot(snapshot(10, 1));
    await storage.saveSnapshot(snapshot(30, 1));
    await storage.close();
    const [older, newest] = await snapshotFiles(dir);
    await flipByte(join(dir, newest), 2);

    const { storage: s2, state } = await FileStorage.open(dir);
    expect(state.snapshot).toEqual(snapshot(10, 1));
    expect(ids(state.entries)).toEqual(ids(range(11, 40)));
    expect(await snapshotFiles(dir)).toEqual([older]);
    expect((await readdir(dir)).filter((n) => n.endsWith('.corrupt'))).toEqual([`${newest}.corrupt`]);
    await s2.close();
  });

  it('refuses to open when the fallback snapshot no longer meets the compacted WAL', async () => {
    const dir = await tempDir();
    const { storage } = await FileStorage.open(dir, { segmentBytes: 1024 });
    for (let i = 1; i <= 200; i += 10) await storage.save(null, range(i, i + 9));
    await storage.saveSnapshot(snapshot(20, 1));
    await storage.saveSnapshot(snapshot(180, 1)); // drops the segments holding 21..180
    await storage.close();
    const [, newest] = await snapshotFiles(dir);
    await flipByte(join(dir, newest), 1);
    await expect(FileStorage.open(dir)).rejects.toThrow(
      /follows 20 on top of snapshot 20; entries are missing/,
    );
  });

  it('drops a conflicting log left by a crash between the snapshot file and its WAL marker', async () => {
    const dir = await tempDir();
    let writes = 0;
    let armed = false;
    const faults = {
      beforeWrite() {
        // Let the snapshot file's two writes through, then fail the WAL write that would reset the log.
        if (armed && ++writes > 2) throw new Error('crash');
      },
    };
    const { storage } = await FileStorage.open(dir, { faults });
    await storage.save(null, range(1, 10, 1));
    armed = true;
    await expect(storage.saveSnapshot(snapshot(8, 2))).rejects.toThrow('crash');
    await storage.close().catch(() => {});
    expect(await snapshotFiles(dir)).toHaveLength(1);

    const { storage: s2, state } = await FileStorage.open(dir);
    expect(state.snapshot?.meta).toMatchObject({ index: 8, term: 2 });
    expect(state.entries).toEqual([]);
    await s2.save(null, range(9, 10, 2));
    await s2.close();
    // The conflicting records are still in an old segment: replay must not resurrect them.
    const { storage: s3, state: again } = await FileStorage.open(dir);
    expect(ids(again.entries)).toEqual(ids(range(9, 10, 2)));
    await s3.close();
  });
});

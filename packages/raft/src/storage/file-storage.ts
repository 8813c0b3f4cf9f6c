// A durable WAL + snapshot store for one Raft node. The core hands over HardState, entries and
// snapshots; a save resolves only once its bytes are fdatasync'ed, so the host may then send the
// messages that depend on them.
import { type FileHandle, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entry, HardState, Snapshot } from '../core/types.js';
import { checkU53, encodeBatch, encodeMarker, encodeSegmentHeader, type SnapshotMarker } from './codec.js';
import { lockDir } from './dir-lock.js';
import { DurableWritePolicy, type DurableWritePolicyOptions } from './durable-write-policy.js';
import { StorageClosedError, StorageCorruptionError } from './errors.js';
import { CREATE_DURABLE, DIR_MODE, FILE_MODE, Io, type StorageFaults } from './io.js';
import { LogRebuilder } from './replay.js';
import { listSegments, readSegment, type SegmentInfo, segmentName } from './segment.js';
import { loadNewestSnapshot, writeSnapshotFile } from './snapshot-file.js';

export interface DiskState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Contiguous, all with index > snapshot.meta.index. */
  entries: Entry[];
}

export interface FileStorageOptions {
  /** Roll to a new segment once the current one would pass this size. Default 64 MiB. */
  segmentBytes?: number;
  faults?: StorageFaults;
  /** Snapshot files to keep. Default 2. */
  keepSnapshots?: number;
  /** Where WAL appends wait for the disk (see DurableWritePolicy). Default: on the event loop while fast. */
  durableWrites?: DurableWritePolicyOptions;
}

export interface StorageStats {
  /** fdatasync/fsync calls (files and directories) since open, including those open made. */
  syncs: number;
  /** WAL records written since open. */
  records: number;
  /** WAL bytes written since open. */
  bytes: number;
  /** WAL segment files currently on disk. */
  segments: number;
}

interface SaveOp {
  kind: 'save';
  buf: Buffer;
  records: number;
  hs: HardState | null;
  /** 0 when the batch has no entries. */
  firstIndex: number;
  lastIndex: number;
  resolve(): void;
  reject(err: unknown): void;
}

interface SnapshotOp {
  kind: 'snapshot';
  snap: Snapshot;
  reset: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

type Op = SaveOp | SnapshotOp;

interface ActiveSegment {
  fh: FileHandle;
  info: SegmentInfo;
  size: number;
  /** Bytes of the segment header: a segment holding only its header is never rolled away from. */
  headerEnd: number;
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

export class FileStorage {
  // Logical log, updated when a call is accepted, so later calls are validated against earlier
  // ones still queued: base = snapshot index/term, terms[i] = term of entry base+1+i.
  private logBase: number;
  private logBaseTerm: number;
  private logLast: number;
  private logTerms: number[];

  // What is on disk (or being written by the op in flight).
  private hardState: HardState;
  private base: { index: number; term: number };
  private diskLast: number;
  private active!: ActiveSegment;
  private readonly segments: SegmentInfo[];
  private readonly snapshots: string[];

  private readonly queue: Op[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];
  private failure: Error | null = null;
  private closed = false;
  private records = 0;
  private unlock: () => Promise<void> = async () => {};
  private bytes = 0;

  private constructor(
    private readonly dir: string,
    private readonly io: Io,
    private readonly segmentBytes: number,
    private readonly keepSnapshots: number,
    recovered: DiskState,
    segments: SegmentInfo[],
    snapshots: string[],
  ) {
    const meta = recovered.snapshot?.meta;
    this.logBase = meta?.index ?? 0;
    this.logBaseTerm = meta?.term ?? 0;
    this.logTerms = recovered.entries.map((e) => e.term);
    this.logLast = this.logBase + this.logTerms.length;
    this.hardState = { ...recovered.hardState }; // the caller owns the returned state
    this.base = { index: this.logBase, term: this.logBaseTerm };
    this.diskLast = this.logLast;
    this.segments = segments;
    this.snapshots = snapshots;
  }

  /** Recovers the directory (creating it if needed) and starts a fresh segment for new writes. */
  static async open(
    dir: string,
    opts: FileStorageOptions = {},
  ): Promise<{ storage: FileStorage; state: DiskState }> {
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    const keepSnapshots = opts.keepSnapshots ?? 2;
    if (!(segmentBytes > 0)) throw new RangeError('segmentBytes must be positive');
    if (!Number.isInteger(keepSnapshots) || keepSnapshots < 1)
      throw new RangeError('keepSnapshots must be >= 1');
    const io = new Io(opts.faults ?? {}, new DurableWritePolicy(opts.durableWrites));

    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    const unlock = await lockDir(dir);
    try {
      return await FileStorage.recover(dir, io, segmentBytes, keepSnapshots, unlock);
    } catch (err) {
      await unlock();
      throw err;
    }
  }

  private static async recover(
    dir: string,
    io: Io,
    segmentBytes: number,
    keepSnapshots: number,
    unlock: () => Promise<void>,
  ): Promise<{ storage: FileStorage; state: DiskState }> {
    const names = (await readdir(dir)).sort();
    // A temp file is a snapshot write that never reached its rename: it was never acknowledged.
    for (const n of names) if (n.endsWith('.tmp')) await unlink(join(dir, n));

    // A corrupt newest snapshot falls back to an older one (or none); replay then proves whether the
    // WAL still reaches back that far, and fails loudly if it does not.
    const { snapshot, kept: snapNames, corrupt } = await loadNewestSnapshot(dir, names);
    const segs = listSegments(names);

    const baseIndex = snapshot?.meta.index ?? 0;
    const baseTerm = snapshot?.meta.term ?? 0;
    const rebuilder = new LogRebuilder(baseIndex, baseTerm);
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i];
      const r = await readSegment(dir, seg.name, rebuilder);
      seg.maxIndex = r.maxIndex;
      if (r.damage === null) continue;
      if (i < segs.length - 1) {
        throw new StorageCorruptionError(
          `${seg.name}: ${r.damage}; it is not the last segment, so acknowledged records would be lost`,
        );
      }
      // A damaged tail of the last segment is a torn write: cut it so new records follow good ones.
      const fh = await open(join(dir, seg.name), 'r+');
      try {
        await io.truncate(fh, r.validEnd);
        await io.datasync(fh);
      } finally {
        await fh.close();
      }
    }
    const { hardState, entries, consistent } = rebuilder.finish();

    const state: DiskState = { hardState, snapshot, entries };
    const storage = new FileStorage(dir, io, segmentBytes, keepSnapshots, state, segs, snapNames);
    storage.unlock = unlock;
    // If replay had to discard the log (it disagreed with the snapshot), say so durably, or entries
    // appended from now on would be judged against that stale log at the next replay.
    const marker = { index: baseIndex, term: baseTerm, reset: !consistent };
    await storage.startSegment((segs.at(-1)?.seq ?? 0) + 1, storage.logLast + 1, marker);
    // Only now, with recovery known to be good, move damaged snapshots out of the way.
    for (const name of corrupt) await rename(join(dir, name), join(dir, `${name}.corrupt`));
    return { storage, state };
  }

  /** True after any write or sync error: every later call rejects with that error. */
  get failed(): boolean {
    return this.failure !== null;
  }

  stats(): StorageStats {
    return { syncs: this.io.syncs, records: this.records, bytes: this.bytes, segments: this.segments.length };
  }

  /**
   * Persists an optional HardState, then entries. If entries[0].index <= the last index, the log from
   * that index on is replaced. Resolves once fdatasync'ed; concurrent calls share one write + sync.
   */
  save(hardState: HardState | null, entries: Entry[]): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    let buf: Buffer;
    try {
      this.checkAppend(entries);
      buf = encodeBatch(hardState, entries);
    } catch (err) {
      return Promise.reject(err);
    }
    const n = entries.length;
    if (n > 0) {
      this.logTerms.length = entries[0].index - this.logBase - 1;
      for (const e of entries) this.logTerms.push(e.term);
      this.logLast = entries[n - 1].index;
    }
    return new Promise((resolve, reject) => {
      this.enqueue({
        kind: 'save',
        buf,
        records: n + (hardState ? 1 : 0),
        hs: hardState ? { ...hardState } : null,
        firstIndex: n > 0 ? entries[0].index : 0,
        lastIndex: n > 0 ? entries[n - 1].index : 0,
        resolve,
        reject,
      });
    });
  }

  /**
   * Writes a snapshot atomically, then compacts: WAL segments holding only entries <= its index and
   * snapshot files beyond keepSnapshots are deleted. If the log holds the snapshot's last entry
   * (same index and term) the entries after it are kept; otherwise the log is reset and the next
   * save must start at index + 1. `snap.data` must not be mutated until this resolves.
   */
  saveSnapshot(snap: Snapshot): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const { index, term } = snap.meta;
    try {
      checkU53(index, 'snapshot index');
      checkU53(term, 'snapshot term');
      if (index < this.logBase)
        throw new RangeError(`snapshot ${index} is older than snapshot ${this.logBase}`);
    } catch (err) {
      return Promise.reject(err);
    }
    const termAt = index === this.logBase ? this.logBaseTerm : this.logTerms[index - this.logBase - 1];
    const reset = index > this.logLast || termAt !== term;
    if (reset) {
      this.logTerms = [];
      this.logLast = index;
    } else {
      this.logTerms.splice(0, index - this.logBase);
    }
    this.logBase = index;
    this.logBaseTerm = term;
    return new Promise((resolve, reject) => this.enqueue({ kind: 'snapshot', snap, reset, resolve, reject }));
  }

  /** Waits for queued writes, then releases the files. Rejects with the failure if the disk failed. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      try {
        await this.idle();
      } finally {
        await this.active.fh.close().catch(() => {});
        await this.unlock();
      }
    }
    if (this.failure) throw this.failure;
  }

  private refusal(): Error | null {
    if (this.failure) return this.failure;
    if (this.closed) return new StorageClosedError();
    return null;
  }

  private checkAppend(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    if (first <= this.logBase || first > this.logLast + 1) {
      throw new RangeError(
        `entries must start in [${this.logBase + 1}, ${this.logLast + 1}] (after the snapshot, without a gap), got ${first}`,
      );
    }
    for (let i = 1; i < entries.length; i++) {
      if (entries[i].index !== first + i)
        throw new RangeError(`entries are not contiguous at ${entries[i].index}`);
    }
  }

  private enqueue(op: Op): void {
    this.queue.push(op);
    if (this.running) return;
    this.running = true;
    void this.run();
  }

  private idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The single writer: saves queued behind the op in flight are coalesced into one write + one sync. */
  private async run(): Promise<void> {
    // Let the rest of the current tick enqueue too, so a burst of saves becomes one batch.
    await Promise.resolve();
    try {
      while (this.queue.length > 0) {
        if (this.failure) {
          for (const op of this.queue.splice(0)) op.reject(this.failure);
          break;
        }
        let ops: Op[];
        if (this.queue[0].kind === 'snapshot') {
          ops = this.queue.splice(0, 1);
        } else {
          let n = 1;
          while (n < this.queue.length && this.queue[n].kind === 'save') n++;
          ops = this.queue.splice(0, n);
        }
        try {
          if (ops[0].kind === 'snapshot') await this.applySnapshot(ops[0]);
          else await this.writeBatch(ops as SaveOp[]);
        } catch (err) {
          // Never retry: after a failed fsync the page cache cannot be trusted (Linux drops dirty pages).
          this.failure ??= err instanceof Error ? err : new Error(String(err));
          for (const op of ops) op.reject(this.failure);
          continue;
        }
        for (const op of ops) op.resolve();
      }
    } finally {
      this.running = false;
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async writeBatch(batch: SaveOp[]): Promise<void> {
    const buf = batch.length === 1 ? batch[0].buf : Buffer.concat(batch.map((op) => op.buf));
    if (buf.length === 0) return; // only empty saves: they just wait for the batches before them
    let records = 0;
    let firstIndex = 0;
    let lastIndex = 0;
    let maxIndex = 0;
    let hs: HardState | null = null;
    for (const op of batch) {
      records += op.records;
      if (op.hs) hs = op.hs;
      if (op.lastIndex > 0) {
        if (firstIndex === 0) firstIndex = op.firstIndex;
        lastIndex = op.lastIndex;
        // Not simply the last op's: a later op may have overwritten a suffix below an earlier one.
        maxIndex = Math.max(maxIndex, op.lastIndex);
      }
    }
    const a = this.active;
    if (a.size > a.headerEnd && a.size + buf.length > this.segmentBytes) {
      // The header written by roll() carries the HardState from before this batch; the batch follows it.
      await this.roll(buf, firstIndex || this.diskLast + 1, { ...this.base, reset: false });
    } else {
      await this.io.writeDurable(a.fh, buf, a.size);
      a.size += buf.length;
    }
    this.records += records;
    this.bytes += buf.length;
    if (hs) this.hardState = hs;
    if (lastIndex > 0) {
      this.diskLast = lastIndex;
      this.active.info.maxIndex = Math.max(this.active.info.maxIndex, maxIndex);
    }
  }

  private async applySnapshot(op: SnapshotOp): Promise<void> {
    const { index, term } = op.snap.meta;
    const name = await writeSnapshotFile(this.dir, op.snap, this.io);
    const marker: SnapshotMarker = { index, term, reset: op.reset };
    const a = this.active;
    if (op.reset || a.info.maxIndex <= index) {
      // A fresh segment lets every older one go: after a reset none of them matters any more.
      await this.roll(null, op.reset ? index + 1 : this.diskLast + 1, marker);
    } else {
      const buf = encodeMarker(marker);
      await this.io.writeDurable(a.fh, buf, a.size);
      a.size += buf.length;
      this.records++;
      this.bytes += buf.length;
    }
    this.base = { index, term };
    if (op.reset) this.diskLast = index;

    // Delete oldest first, syncing the directory after each, so that a crash part-way always leaves
    // a contiguous run of segments (open treats a hole in the sequence as lost data).
    let drop = 0;
    const candidates = this.segments.length - 1; // never the active segment
    if (op.reset) drop = candidates;
    else while (drop < candidates && this.segments[drop].maxIndex <= index) drop++;
    while (drop-- > 0) {
      await removeFile(join(this.dir, this.segments[0].name));
      await this.io.syncDir(this.dir);
      this.segments.shift();
    }

    if (!this.snapshots.includes(name)) this.snapshots.push(name);
    this.snapshots.sort();
    while (this.snapshots.length > this.keepSnapshots) {
      await removeFile(join(this.dir, this.snapshots.shift()!));
    }
  }

  private async roll(body: Buffer | null, firstIndex: number, marker: SnapshotMarker): Promise<void> {
    const old = this.active;
    await this.startSegment(old.info.seq + 1, firstIndex, marker, body);
    await old.fh.close();
  }

  /** Creates a segment opening with the current HardState and snapshot marker, then `body`. */
  private async startSegment(
    seq: number,
    firstIndex: number,
    marker: SnapshotMarker,
    body: Buffer | null = null,
  ): Promise<void> {
    const info: SegmentInfo = { seq, firstIndex, name: segmentName(seq, firstIndex), maxIndex: 0 };
    const header = encodeSegmentHeader(this.hardState, marker);
    const buf = body ? Buffer.concat([header, body]) : header;
    // O_DSYNC: every write to a segment is durable when it returns (one threadpool round trip
    // per batch instead of a write and an fdatasync).
    const fh = await open(join(this.dir, info.name), CREATE_DURABLE, FILE_MODE);
    try {
      await this.io.writeDurable(fh, buf, 0);
      await this.io.syncDir(this.dir);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    this.segments.push(info);
    this.active = { fh, info, size: buf.length, headerEnd: header.length };
    this.records += 2;
    this.bytes += header.length;
  }
}

async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

import { index as indexField, object, ShapeError, str } from './shape.js';
import type {
  HhError,
  KvCompare,
  KvEntry,
  KvEvent,
  KvListResult,
  KvOp,
  KvOpResult,
  KvTxnResult,
} from './types.js';
import { compareKeys } from './util.js';
import { validateKvKey, validateKvTxn } from './validate.js';

// The cluster store: an etcd-style key-value map replicated through the same log as the
// service registry. It holds routes, certificates and app records.
//
// PRIVATE MATERIAL: values may hold TLS private keys (router certificates). This module does
// not (and cannot) protect them; the server must require the cluster key for every /kv/ read
// and write when one is set, and must not log values.
//
// Revisions are Raft log indexes: the store revision is the index of the last entry that
// changed the store, and each key carries create_revision, mod_revision and version.

export const DEFAULT_WATCH_HISTORY = 10_000;

/**
 * The last N KV events, kept in memory on each node (never in the snapshot) so that a watcher
 * can resume from the revision it last saw. `start` is the revision from which the history is
 * complete: every event with revision > start is retained.
 */
export class WatchHistory {
  private readonly buf: KvEvent[] = [];
  private head = 0;
  private count = 0;
  private start: number;

  constructor(
    readonly capacity: number = DEFAULT_WATCH_HISTORY,
    start = 0,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) {
      throw new RangeError('watch history capacity must be a non-negative integer');
    }
    this.start = start;
  }

  get length(): number {
    return this.count;
  }

  /** Every event with a revision above this one is retained; older ones answer 'compacted'. */
  get compactedRevision(): number {
    return this.start;
  }

  private at(i: number): KvEvent {
    return this.buf[(this.head + i) % this.capacity]!;
  }

  push(e: KvEvent): void {
    if (this.capacity === 0) {
      this.start = Math.max(this.start, e.revision);
      return;
    }
    if (this.count < this.capacity) {
      this.buf[(this.head + this.count) % this.capacity] = e;
      this.count++;
      return;
    }
    // Full: the oldest event goes. Events of one revision may straddle the cut, so the
    // history is only complete above the evicted event's revision.
    const evicted = this.buf[this.head]!;
    this.start = Math.max(this.start, evicted.revision);
    this.buf[this.head] = e;
    this.head = (this.head + 1) % this.capacity;
  }

  /** Forgets everything; the history is complete from `start` on. */
  reset(start: number): void {
    this.buf.length = 0;
    this.head = 0;
    this.count = 0;
    this.start = start;
  }

  /**
   * Events with revision > `after` whose key starts with `prefix`, oldest first, or 'compacted'
   * when some of them may have been dropped (the watcher must re-list).
   */
  since(after: number, prefix = ''): KvEvent[] | 'compacted' {
    if (after < this.start) return 'compacted';
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).revision > after) hi = mid;
      else lo = mid + 1;
    }
    const out: KvEvent[] = [];
    for (let i = lo; i < this.count; i++) {
      const e = this.at(i);
      if (e.key.startsWith(prefix)) out.push(e);
    }
    return out;
  }
}

export interface KvListOptions {
  /** At most this many entries; 0 or absent means no limit. */
  limit?: number;
  /** Only keys sorting strictly after this one (pagination: pass the last key of the page). */
  startAfter?: string;
}

export type KvTxnOutcome =
  | { ok: true; result: KvTxnResult; events: KvEvent[] }
  | { ok: false; error: HhError };

const encoder = new TextEncoder();

/** One key of the snapshot's `"keys"` object. */
function keyJson(key: string, e: KvEntry): string {
  const body = JSON.stringify({
    value: e.value,
    create_revision: e.create_revision,
    mod_revision: e.mod_revision,
    version: e.version,
  });
  return `${JSON.stringify(key)}:${body}`;
}

export class KvStore {
  private readonly entries = new Map<string, KvEntry>();
  /** All keys in code-point order, for prefix ranges. */
  private readonly order: string[] = [];
  private rev = 0;
  private readonly history: WatchHistory;

  constructor(historyCapacity = DEFAULT_WATCH_HISTORY, historyStart = 0) {
    this.history = new WatchHistory(historyCapacity, historyStart);
  }

  /** Store revision: the log index of the last write (0 before any). */
  revision(): number {
    return this.rev;
  }

  size(): number {
    return this.entries.size;
  }

  get(key: string): KvEntry | undefined {
    return this.entries.get(key);
  }

  /** First position in `order` whose key is >= `key`. */
  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.order[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Entries whose key starts with `prefix`, sorted by key (code-point order). */
  list(prefix = '', opts: KvListOptions = {}): KvListResult {
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Number.POSITIVE_INFINITY;
    let i = this.lowerBound(prefix);
    if (opts.startAfter !== undefined && compareKeys(opts.startAfter, prefix) >= 0) {
      i = this.lowerBound(opts.startAfter);
      if (this.order[i] === opts.startAfter) i++;
    }
    const entries: KvEntry[] = [];
    let more = false;
    for (; i < this.order.length; i++) {
      const key = this.order[i]!;
      if (!key.startsWith(prefix)) break;
      if (entries.length >= limit) {
        more = true;
        break;
      }
      entries.push(this.entries.get(key)!);
    }
    return { entries, more, revision: this.rev };
  }

  private holds(c: KvCompare): boolean {
    const e = this.entries.get(c.Key);
    const mod = e ? e.mod_revision : 0;
    switch (c.Op) {
      case '=':
        return mod === c.ModRevision;
      case '<':
        return mod < c.ModRevision;
      case '>':
        return mod > c.ModRevision;
      case 'absent':
        return e === undefined;
      case 'present':
        return e !== undefined;
      case 'value':
        return e !== undefined && e.value === c.Value;
    }
  }

  private put(index: number, key: string, value: string, events: KvEvent[]): KvOpResult {
    const prev = this.entries.get(key);
    const entry: KvEntry = Object.freeze({
      key,
      value,
      create_revision: prev ? prev.create_revision : index,
      mod_revision: index,
      version: prev ? prev.version + 1 : 1,
    });
    this.entries.set(key, entry);
    if (!prev) this.order.splice(this.lowerBound(key), 0, key);
    events.push(
      prev
        ? { type: 'put', key, value, revision: index, prevRevision: prev.mod_revision }
        : { type: 'put', key, value, revision: index },
    );
    return prev ? { op: 'put', key, prev } : { op: 'put', key };
  }

  private remove(index: number, key: string, events: KvEvent[]): KvOpResult {
    const prev = this.entries.get(key);
    if (!prev) return { op: 'delete', key };
    this.entries.delete(key);
    this.order.splice(this.lowerBound(key), 1);
    events.push({ type: 'delete', key, revision: index, prevRevision: prev.mod_revision });
    return { op: 'delete', key, prev };
  }

  private removePrefix(index: number, prefix: string, events: KvEvent[]): KvOpResult {
    const lo = this.lowerBound(prefix);
    let hi = lo;
    while (hi < this.order.length && this.order[hi]!.startsWith(prefix)) hi++;
    const keys = this.order.splice(lo, hi - lo);
    const deleted: KvEntry[] = [];
    for (const key of keys) {
      const prev = this.entries.get(key)!;
      this.entries.delete(key);
      deleted.push(prev);
      events.push({ type: 'delete', key, revision: index, prevRevision: prev.mod_revision });
    }
    return { op: 'deletePrefix', prefix, deleted };
  }

  /**
   * Applies a transaction at log index `index`: all compares are evaluated against the state
   * before the transaction; then the Success ops (all compares held) or the Failure ops run in
   * order. Every write of the transaction gets revision `index`; a transaction that writes
   * nothing leaves the store revision alone. Invalid keys reject the whole transaction
   * (validation_error) before anything changes.
   */
  txn(
    index: number,
    txn: { Compare: readonly KvCompare[]; Success: readonly KvOp[]; Failure: readonly KvOp[] },
  ): KvTxnOutcome {
    const bad = validateKvTxn(txn);
    if (bad) return { ok: false, error: bad };
    const succeeded = txn.Compare.every((c) => this.holds(c));
    const events: KvEvent[] = [];
    const results: KvOpResult[] = [];
    for (const op of succeeded ? txn.Success : txn.Failure) {
      switch (op.Op) {
        case 'put':
          results.push(this.put(index, op.Key, op.Value, events));
          break;
        case 'delete':
          results.push(this.remove(index, op.Key, events));
          break;
        case 'deletePrefix':
          results.push(this.removePrefix(index, op.Prefix, events));
          break;
      }
    }
    if (events.length > 0) {
      this.rev = index;
      for (const e of events) this.history.push(Object.freeze(e));
    }
    return { ok: true, result: { succeeded, revision: this.rev, results }, events };
  }

  /** See WatchHistory.since. */
  eventsSince(after: number, prefix = ''): KvEvent[] | 'compacted' {
    return this.history.since(after, prefix);
  }

  /** Watches resuming from a revision below this one must re-list. */
  compactedRevision(): number {
    return this.history.compactedRevision;
  }

  /** `"kv":{"revision":n,"keys":{...}}`, or undefined for a store that never saw a write. */
  snapshotMember(): string | undefined {
    if (this.rev === 0 && this.entries.size === 0) return undefined;
    const keys = this.order.map((key) => keyJson(key, this.entries.get(key)!));
    return `"kv":{"revision":${this.rev},"keys":{${keys.join(',')}}}`;
  }

  /**
   * snapshotMember's bytes as the store is now, serialised `slice` keys at a time with
   * `betweenSlices` awaited in between: 10,000 routes with certificates took ~200 ms in one piece,
   * a stall every request on the node waited out. Entries are frozen and replaced on change, so
   * the references taken here stay as they were.
   */
  async snapshotMemberParts(
    betweenSlices: () => Promise<void>,
    slice = 256,
  ): Promise<Uint8Array[] | undefined> {
    if (this.rev === 0 && this.entries.size === 0) return undefined;
    const keys = this.order.slice();
    const entries = keys.map((key) => this.entries.get(key)!);
    const parts = [encoder.encode(`"kv":{"revision":${this.rev},"keys":{`)];
    for (let i = 0; i < keys.length; i += slice) {
      if (i > 0) await betweenSlices();
      const out: string[] = [];
      for (let j = i; j < Math.min(i + slice, keys.length); j++) out.push(keyJson(keys[j]!, entries[j]!));
      parts.push(encoder.encode(`${i > 0 ? ',' : ''}${out.join(',')}`));
    }
    parts.push(encoder.encode('}}'));
    return parts;
  }

  /**
   * Rebuilds a store from the snapshot's `"kv"` member (undefined: empty store). The watch
   * history starts empty and complete from the restored revision. Throws ShapeError.
   */
  static fromSnapshot(v: unknown, historyCapacity = DEFAULT_WATCH_HISTORY): KvStore {
    if (v === undefined || v === null) return new KvStore(historyCapacity, 0);
    const o = object(v, 'kv');
    const rev = indexField(o, 'revision', 'kv');
    const store = new KvStore(historyCapacity, rev);
    store.rev = rev;
    const keys = o.keys === undefined || o.keys === null ? {} : object(o.keys, 'kv.keys');
    for (const [key, raw] of Object.entries(keys)) {
      const where = `kv.keys[${JSON.stringify(key)}]`;
      const bad = validateKvKey(key);
      if (bad) throw new ShapeError(`${where}: ${bad.message}`);
      const e = object(raw, where);
      store.entries.set(
        key,
        Object.freeze({
          key,
          value: str(e, 'value', where),
          create_revision: indexField(e, 'create_revision', where),
          mod_revision: indexField(e, 'mod_revision', where),
          version: indexField(e, 'version', where),
        }),
      );
      store.order.push(key);
    }
    store.order.sort(compareKeys);
    return store;
  }
}

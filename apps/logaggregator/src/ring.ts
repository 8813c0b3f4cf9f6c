// One app's buffer (spec §4.4): at most `capacity` messages kept in timestamp order. A late message
// is inserted in order (after any with the same time); a message whose (hostname, timestamp, seq)
// is already buffered is a duplicate; when full the oldest message is evicted.
//
// Storage is a circular array, so the common case (a message newer than everything buffered)
// is an O(1) append and an eviction is O(1); a late message shifts only the newer entries.

import type { LogMessage } from '@flynn-edge/syslog';

/** A buffered message with its sort key (µs since the epoch) and its NDJSON line, built on demand. */
export interface Entry {
  readonly m: LogMessage;
  readonly key: number;
  /** The API's NDJSON line (with '\n', UTF-8), cached once built. */
  line?: Buffer;
}

export type InsertResult = 'stored' | 'duplicate' | 'too_old';

const TS_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))$/;

/** Microseconds since the epoch of an RFC 3339 timestamp (sub-µs digits dropped); NaN if unparseable. */
export function timeKey(ts: string): number {
  const m = TS_RE.exec(ts);
  if (!m) return Number.NaN;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  let offsetMin = 0;
  if (m[8] !== 'Z') offsetMin = (m[9] === '-' ? -1 : 1) * (+m[10]! * 60 + +m[11]!);
  const micros = m[7] ? Number(m[7].padEnd(6, '0').slice(0, 6)) : 0;
  return (ms - offsetMin * 60_000) * 1000 + micros;
}

export function dedupeKey(m: LogMessage): string {
  return `${m.hostname}\n${m.timestamp}\n${m.seq}`;
}

export class Ring {
  private readonly buf: Array<Entry | undefined>;
  private head = 0;
  private len = 0;
  /** Duplicate detection: hostname → seq → the buffered entries with that seq (usually one). */
  private readonly bySeq = new Map<string, Map<number, Entry | Entry[]>>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`ring capacity must be ≥ 1, got ${capacity}`);
    this.buf = new Array(capacity);
  }

  get size(): number {
    return this.len;
  }

  /** The i-th oldest entry (0 = oldest). */
  at(i: number): Entry {
    return this.buf[(this.head + i) % this.capacity]!;
  }

  /**
   * Inserts in timestamp order. Returns whether it was stored and, when that evicted the oldest
   * entry, which one.
   */
  insert(entry: Entry): { result: InsertResult; evicted?: Entry } {
    if (this.has(entry.m)) return { result: 'duplicate' };
    const cap = this.capacity;
    // Position: after every entry with key <= entry.key (binary search; newest-first fast path).
    let pos: number;
    if (this.len === 0 || this.at(this.len - 1).key <= entry.key) pos = this.len;
    else {
      let lo = 0;
      let hi = this.len;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.at(mid).key <= entry.key) lo = mid + 1;
        else hi = mid;
      }
      pos = lo;
    }
    let evicted: Entry | undefined;
    if (this.len === cap) {
      // Full: the new entry would be the oldest, so it is evicted at once.
      if (pos === 0) return { result: 'too_old' };
      evicted = this.buf[this.head];
      this.buf[this.head] = undefined;
      this.head = (this.head + 1) % cap;
      this.len--;
      pos--;
      this.forget(evicted!);
    }
    // Shift [pos, len) one slot towards the tail, then place the entry.
    for (let i = this.len; i > pos; i--) {
      this.buf[(this.head + i) % cap] = this.buf[(this.head + i - 1) % cap];
    }
    this.buf[(this.head + pos) % cap] = entry;
    this.len++;
    this.remember(entry);
    return evicted ? { result: 'stored', evicted } : { result: 'stored' };
  }

  /** Whether a message with the same (hostname, timestamp, seq) is buffered. */
  has(m: LogMessage): boolean {
    const got = this.bySeq.get(m.hostname)?.get(m.seq);
    if (got === undefined) return false;
    if (!Array.isArray(got)) return got.m.timestamp === m.timestamp;
    return got.some((e) => e.m.timestamp === m.timestamp);
  }

  private remember(e: Entry): void {
    let seqs = this.bySeq.get(e.m.hostname);
    if (!seqs) {
      seqs = new Map();
      this.bySeq.set(e.m.hostname, seqs);
    }
    const got = seqs.get(e.m.seq);
    if (got === undefined) seqs.set(e.m.seq, e);
    else if (Array.isArray(got)) got.push(e);
    else seqs.set(e.m.seq, [got, e]);
  }

  private forget(e: Entry): void {
    const seqs = this.bySeq.get(e.m.hostname);
    const got = seqs?.get(e.m.seq);
    if (!seqs || got === undefined) return;
    if (got === e) seqs.delete(e.m.seq);
    else if (Array.isArray(got)) {
      const rest = got.filter((x) => x !== e);
      if (rest.length === 1) seqs.set(e.m.seq, rest[0]!);
      else if (rest.length === 0) seqs.delete(e.m.seq);
      else seqs.set(e.m.seq, rest);
    }
    if (seqs.size === 0) this.bySeq.delete(e.m.hostname);
  }

  /** The newest `n` entries accepted by `match` (all matching when n <= 0), oldest first. */
  lastMatching(n: number, match: (e: Entry) => boolean): Entry[] {
    const out: Entry[] = [];
    const limit = n > 0 ? n : Number.POSITIVE_INFINITY;
    for (let i = this.len - 1; i >= 0 && out.length < limit; i--) {
      const e = this.at(i);
      if (match(e)) out.push(e);
    }
    return out.reverse();
  }

  /** Every entry, oldest first. */
  toArray(): Entry[] {
    const out = new Array<Entry>(this.len);
    for (let i = 0; i < this.len; i++) out[i] = this.at(i);
    return out;
  }
}

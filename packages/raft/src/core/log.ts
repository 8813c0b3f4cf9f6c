import type { Entry } from './types.js';

// The replicated log as the core sees it: everything after the latest snapshot, held in memory,
// with markers for what is durable (stable), committed and handed to the application (applied).
// Durability itself is the host's job; the core only learns of it through stableTo().

export class RaftLog {
  /** Index and term of the last entry covered by the snapshot (0/0 when none). */
  snapshotIndex: number;
  snapshotTerm: number;
  /** entries[i] has index snapshotIndex + 1 + i. */
  private entries: Entry[];
  committed: number;
  applied: number;
  /** Last index known to be on disk. */
  stable: number;

  constructor(snapshotIndex: number, snapshotTerm: number, entries: Entry[], committed: number) {
    this.snapshotIndex = snapshotIndex;
    this.snapshotTerm = snapshotTerm;
    this.entries = entries;
    if (entries.length > 0 && entries[0].index !== snapshotIndex + 1) {
      throw new Error(`log starts at ${entries[0].index}, snapshot covers up to ${snapshotIndex}`);
    }
    this.committed = Math.max(committed, snapshotIndex);
    if (this.committed > this.lastIndex()) {
      throw new Error(`commit index ${committed} is past the last log index ${this.lastIndex()}`);
    }
    this.applied = snapshotIndex;
    this.stable = this.lastIndex();
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1].term : this.snapshotTerm;
  }

  /** Term at index, or undefined when the index is compacted away or beyond the log. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshotIndex - 1].term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapshotIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshotIndex - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Entries [lo, hi) capped at maxBytes (at least one entry); undefined if lo is compacted. */
  slice(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] | undefined {
    if (lo <= this.snapshotIndex) return undefined;
    const end = Math.min(hi, this.lastIndex() + 1);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < end; i++) {
      const e = this.entries[i - this.snapshotIndex - 1];
      bytes += e.data.byteLength + 24;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Appends entries, replacing any suffix they overlap. Returns the new last index. */
  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const first = entries[0].index;
    if (first <= this.committed) {
      throw new Error(`refusing to overwrite committed entry ${first} (commit ${this.committed})`);
    }
    if (first > this.lastIndex() + 1) {
      throw new Error(`gap in log: appending ${first} after ${this.lastIndex()}`);
    }
    this.entries.length = first - this.snapshotIndex - 1;
    for (const e of entries) this.entries.push(e);
    if (this.stable >= first) this.stable = first - 1;
    return this.lastIndex();
  }

  /** First entry whose term differs from ours (0 when all match or extend the log). */
  findConflict(entries: Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Follower side of AppendEntries. Returns the last index the leader's message proves we share
   * with it, or null when the log does not contain (prevIndex, prevTerm).
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, entries: Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) this.append(entries.slice(conflict - prevIndex - 1));
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /**
   * The highest index <= index whose term is <= term: where a rejected leader should probe next,
   * skipping a whole term of divergent entries at once.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snapshotIndex) {
      const t = this.term(i);
      if (t === undefined || t <= term) break;
      i--;
    }
    return i;
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    if (index > this.lastIndex()) throw new Error(`commit ${index} past last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  /** Committed entries not yet handed to the application (up to maxEntries). */
  nextCommitted(maxEntries: number): Entry[] {
    const hi = Math.min(this.committed, this.applied + maxEntries);
    if (hi <= this.applied) return [];
    return this.slice(this.applied + 1, hi + 1) ?? [];
  }

  hasNextCommitted(): boolean {
    return this.committed > this.applied;
  }

  appliedTo(index: number): void {
    if (index > this.committed) throw new Error(`applied ${index} past commit ${this.committed}`);
    this.applied = Math.max(this.applied, index);
  }

  hasUnstable(): boolean {
    return this.stable < this.lastIndex();
  }

  unstableEntries(): Entry[] {
    if (this.stable >= this.lastIndex()) return [];
    return this.entries.slice(this.stable - this.snapshotIndex);
  }

  /** The host made entries up to (index, term) durable; ignored if the log changed since. */
  stableTo(index: number, term: number): void {
    if (this.term(index) === term && index > this.stable) this.stable = index;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Drops entries up to index (already captured by a snapshot). */
  compact(index: number): void {
    if (index <= this.snapshotIndex) return;
    if (index > this.applied) throw new Error(`cannot compact ${index}: applied only to ${this.applied}`);
    const term = this.term(index);
    if (term === undefined) throw new Error(`cannot compact ${index}: not in the log`);
    this.entries = this.entries.slice(index - this.snapshotIndex);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(index: number, term: number): void {
    this.entries = [];
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    this.committed = index;
    this.applied = index;
    this.stable = index;
  }
}

// Rebuilds the log from WAL records on top of the snapshot loaded at open.
//
// Replay starts from the snapshot (base index K, term T) and applies records in WAL order with the
// same rules the writer used: an entry at index i replaces everything from i on; a reset marker
// discards the log. Entries at or below K are not kept (the snapshot covers them) but still move
// the virtual end of the log, so overwrites are tracked exactly. Segments deleted by compaction only
// ever held entries <= K, so in a healthy directory the first kept entry is at most K+1. A gap, or
// a marker newer than the loaded snapshot that the log cannot vouch for, means durable data is gone
// (e.g. the newest snapshot was corrupt and the WAL was already compacted past the previous one).
import type { Entry, HardState } from '../core/types.js';
import type { SnapshotMarker } from './codec.js';
import { StorageCorruptionError } from './errors.js';
import type { SegmentVisitor } from './segment.js';

export class LogRebuilder implements SegmentVisitor {
  private hs: HardState = { term: 0, vote: null, commit: 0 };
  /** Entries baseIndex+1 .. lastIndex (empty while lastIndex <= baseIndex). */
  private readonly log: Entry[] = [];
  private lastIndex: number;
  /** Term of the log's entry at baseIndex, if the log reaches it; compared with the snapshot at the end. */
  private termAtBase: number | undefined;

  constructor(
    private readonly baseIndex: number,
    private readonly baseTerm: number,
  ) {
    this.lastIndex = baseIndex;
    this.termAtBase = baseTerm;
  }

  hardState(hs: HardState): void {
    this.hs = hs;
  }

  entry(e: Entry): void {
    const k = this.baseIndex;
    if (e.index <= k) {
      this.log.length = 0;
      this.lastIndex = e.index;
      this.termAtBase = e.index === k ? e.term : undefined;
      return;
    }
    if (e.index > this.lastIndex + 1) {
      throw new StorageCorruptionError(
        `WAL gap: entry ${e.index} follows ${this.lastIndex} on top of snapshot ${k}; entries are missing`,
      );
    }
    this.log.length = e.index - k - 1;
    this.log.push(e);
    this.lastIndex = e.index;
  }

  marker(m: SnapshotMarker): void {
    const k = this.baseIndex;
    if (m.reset) {
      if (m.index > k) {
        throw new StorageCorruptionError(
          `WAL was reset to snapshot ${m.index} but the newest readable snapshot is ${k}`,
        );
      }
      this.log.length = 0;
      this.lastIndex = m.index;
      this.termAtBase = m.index === k ? m.term : undefined;
      return;
    }
    // A compaction note newer than our snapshot is harmless only if we still hold that entry.
    if (m.index > k && (this.lastIndex < m.index || this.log[m.index - k - 1].term !== m.term)) {
      throw new StorageCorruptionError(
        `WAL was compacted to ${m.index} but the newest readable snapshot is ${k}; entries are missing`,
      );
    }
  }

  /**
   * `consistent` is false when the WAL's log does not continue the snapshot: it is shorter, or its
   * entry at the snapshot index has another term. That is a log an install was about to discard
   * (crash between the snapshot file and its reset marker), so it is dropped likewise.
   */
  finish(): { hardState: HardState; entries: Entry[]; consistent: boolean } {
    const consistent = this.lastIndex >= this.baseIndex && this.termAtBase === this.baseTerm;
    return { hardState: this.hs, entries: consistent ? this.log : [], consistent };
  }
}

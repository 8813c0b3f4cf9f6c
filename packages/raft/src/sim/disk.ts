import type { Ready } from '../core/raft.js';
import type { Entry, HardState, Snapshot } from '../core/types.js';

// A node's disk in the simulator. A batch is either synced whole, or lost in a crash; a crash may
// still leave a prefix of the unsynced batch behind (records reach the platter in order without
// an fsync), which is exactly what a torn WAL tail recovers to. The hard state comes before the
// entries in a batch, as in the real WAL.

export interface DurableState {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

export class SimDisk {
  state: DurableState;

  constructor(initial?: DurableState) {
    this.state = initial ?? { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
  }

  /** Writes the first `records` records of the batch (all when undefined). */
  write(rd: Ready, records?: number): void {
    let budget = records ?? Number.POSITIVE_INFINITY;
    if (rd.snapshot) {
      if (budget <= 0) return;
      budget--;
      this.installSnapshot(rd.snapshot, true);
    }
    if (rd.hardState) {
      if (budget <= 0) return;
      budget--;
      this.state.hardState = { ...rd.hardState };
    }
    for (const e of rd.entries) {
      if (budget <= 0) return;
      budget--;
      this.appendEntry(e);
    }
  }

  recordCount(rd: Ready): number {
    return (rd.snapshot ? 1 : 0) + rd.entries.length + (rd.hardState ? 1 : 0);
  }

  /**
   * A snapshot the node took itself is written atomically at once and the log before it dropped;
   * one received from the leader (`replacesLog`) also discards the whole log, as the core does.
   */
  installSnapshot(snap: Snapshot, replacesLog = false): void {
    const entries = replacesLog ? [] : this.state.entries.filter((e) => e.index > snap.meta.index);
    const contiguous = entries.length > 0 && entries[0].index === snap.meta.index + 1;
    this.state.snapshot = snap;
    this.state.entries = contiguous ? entries : [];
    if (this.state.hardState.commit < snap.meta.index) {
      this.state.hardState = { ...this.state.hardState, commit: snap.meta.index };
    }
  }

  clone(): DurableState {
    return {
      hardState: { ...this.state.hardState },
      snapshot: this.state.snapshot,
      entries: [...this.state.entries],
    };
  }

  private appendEntry(e: Entry): void {
    const entries = this.state.entries;
    const base = this.state.snapshot?.meta.index ?? 0;
    const pos = e.index - base - 1;
    if (pos < 0) return;
    if (pos > entries.length)
      throw new Error(`disk: gap writing entry ${e.index} after ${base + entries.length}`);
    entries.length = pos;
    entries.push(e);
  }
}

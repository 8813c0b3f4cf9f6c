import { majority } from './quorum.js';
import type { NodeId } from './types.js';

// ReadIndex bookkeeping. Each read records the commit index at the time it arrived and waits for a
// heartbeat round, started after it, that a majority answers: only then is it certain that no other
// leader has committed anything newer. One round confirms every read queued before it.

export interface ReadState {
  /** The id the core returned from readIndex(). */
  id: number;
  /** Serve the read once the application has applied at least this index. */
  index: number;
}

interface PendingRead {
  id: number;
  index: number;
  acks: Set<NodeId>;
}

export class ReadOnlyQueue {
  private pending: PendingRead[] = [];
  /** Highest read id not yet covered by a heartbeat round. */
  unsentRound = 0;

  add(id: number, index: number, self: NodeId): void {
    this.pending.push({ id, index, acks: new Set([self]) });
    this.unsentRound = id;
  }

  /** A voter answered the heartbeat round `round`: it acknowledges every read with id <= round. */
  ack(from: NodeId, round: number, voters: readonly NodeId[]): ReadState[] {
    if (!voters.includes(from)) return [];
    for (const r of this.pending) {
      if (r.id > round) break;
      r.acks.add(from);
    }
    const need = majority(voters.length);
    const released: ReadState[] = [];
    while (this.pending.length > 0) {
      const r = this.pending[0];
      let n = 0;
      for (const v of voters) if (r.acks.has(v)) n++;
      if (n < need) break;
      released.push({ id: r.id, index: r.index });
      this.pending.shift();
    }
    return released;
  }

  /** Pending reads that the leadership change makes impossible to confirm. */
  drain(): number[] {
    const ids = this.pending.map((r) => r.id);
    this.pending = [];
    this.unsentRound = 0;
    return ids;
  }

  get size(): number {
    return this.pending.length;
  }
}

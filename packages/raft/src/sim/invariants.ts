import { EntryType, type NodeId } from '../core/types.js';
import type { SimNode } from './sim-node.js';
import type { SimStats } from './stats.js';

// Raft's safety properties (Raft paper, figure 3), checked incrementally after every event:
// - election safety: at most one leader per term;
// - log matching: an (index, term) names one entry, and it always follows the same predecessor;
// - leader completeness: a new leader holds every entry committed before it;
// - state-machine safety: every node applies the same entry at an index, reaching the same state;
// - commit monotonicity: a node's commit index never goes back within one life.

interface EntryFact {
  digest: string;
  prevTerm: number;
}

function digest(data: Uint8Array, type: EntryType): string {
  let h = 0x811c9dc5 ^ type;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 0x01000193) >>> 0;
  return `${data.length}:${h.toString(16)}`;
}

export class InvariantChecker {
  readonly violations: string[] = [];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly entries = new Map<string, EntryFact>();
  /** index -> the committed entry there, and the term in which it was first seen committed. */
  readonly committed = new Map<number, { term: number; digest: string; commitTerm: number }>();
  /** index -> state fingerprint after applying it. */
  private readonly stateAt = new Map<number, string>();
  private readonly lastCommit = new Map<NodeId, { life: number; commit: number }>();
  private readonly checkedUpTo = new Map<NodeId, number>();

  constructor(private readonly stats: SimStats) {}

  private fail(msg: string): void {
    if (this.violations.length < 20) this.violations.push(msg);
  }

  /** Called whenever a node may have changed. */
  observe(node: SimNode, life: number): void {
    const raft = node.raft;
    const term = raft.currentTerm;
    if (raft.currentRole === 'leader') {
      const known = this.leaderOfTerm.get(term);
      if (known === undefined) {
        this.leaderOfTerm.set(term, node.id);
        this.stats.elections++;
        this.checkLeaderCompleteness(node);
      } else if (known !== node.id) {
        this.fail(`election safety: ${known} and ${node.id} both leaders in term ${term}`);
      }
    }
    this.checkLogMatching(node);
    this.checkCommit(node, life);
  }

  private checkLeaderCompleteness(node: SimNode): void {
    const raft = node.raft;
    // Only entries committed in an earlier term bind this leader: a vote granted before a later
    // term started can still elect a leader of an older term after it (delayed messages).
    for (const [index, c] of this.committed) {
      if (index <= raft.snapshotIndex || c.commitTerm >= raft.currentTerm) continue;
      if (raft.termAt(index) !== c.term) {
        this.fail(
          `leader completeness: ${node.id} (term ${raft.currentTerm}) lacks committed entry ${index}@${c.term}`,
        );
        return;
      }
    }
  }

  private checkLogMatching(node: SimNode): void {
    const raft = node.raft;
    let from = this.checkedUpTo.get(node.id) ?? 0;
    // Our record of how far this log was checked may be stale after a truncation or snapshot.
    if (from > raft.lastIndex) from = raft.lastIndex;
    from = Math.max(from, raft.snapshotIndex);
    // Walk back over entries replaced since the last check.
    while (from > raft.snapshotIndex) {
      const e = raft.entryAt(from);
      const fact = e && this.entries.get(`${from}:${e.term}`);
      if (fact && fact.digest === digest(e.data, e.type)) break;
      from--;
    }
    for (let i = from + 1; i <= raft.lastIndex; i++) {
      const e = raft.entryAt(i);
      if (!e) break;
      const prevTerm = raft.termAt(i - 1) ?? -1;
      const key = `${i}:${e.term}`;
      const d = digest(e.data, e.type);
      const fact = this.entries.get(key);
      if (!fact) {
        this.entries.set(key, { digest: d, prevTerm });
      } else if (fact.digest !== d) {
        this.fail(`log matching: ${node.id} holds a different entry at ${key}`);
      } else if (prevTerm !== -1 && fact.prevTerm !== -1 && fact.prevTerm !== prevTerm) {
        this.fail(
          `log matching: ${node.id} entry ${key} follows term ${prevTerm}, elsewhere ${fact.prevTerm}`,
        );
      }
    }
    this.checkedUpTo.set(node.id, raft.lastIndex);
  }

  private checkCommit(node: SimNode, life: number): void {
    const raft = node.raft;
    const commit = raft.commitIndex;
    const prev = this.lastCommit.get(node.id);
    let from = raft.snapshotIndex;
    if (prev && prev.life === life) {
      if (commit < prev.commit) this.fail(`commit went back on ${node.id}: ${prev.commit} -> ${commit}`);
      from = Math.max(from, prev.commit);
    }
    for (let i = from + 1; i <= commit; i++) {
      const e = raft.entryAt(i);
      if (!e) continue;
      const d = digest(e.data, e.type);
      const c = this.committed.get(i);
      if (!c) {
        this.committed.set(i, { term: e.term, digest: d, commitTerm: raft.currentTerm });
        if (e.type === EntryType.ConfChange && i > 1) this.stats.membershipChanges++;
      } else if (c.term !== e.term || c.digest !== d) {
        this.fail(`state machine safety: ${node.id} commits ${i}@${e.term}, elsewhere ${i}@${c.term}`);
      }
    }
    this.lastCommit.set(node.id, { life, commit });
  }

  applied(node: SimNode, index: number, fingerprint: string): void {
    const known = this.stateAt.get(index);
    if (known === undefined) this.stateAt.set(index, fingerprint);
    else if (known !== fingerprint) {
      this.fail(
        `state machine safety: ${node.id} state after ${index} is ${fingerprint}, elsewhere ${known}`,
      );
    }
  }
}

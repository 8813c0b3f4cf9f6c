import type { RaftNode, Ready } from '../core/raft.js';
import { type Message, MessageType } from '../core/types.js';

// The loop that turns a pure RaftNode into a running member: take a Ready, persist it, send its
// messages, apply its committed entries, advance. One Ready is in flight at a time, so whatever
// arrives while the disk syncs is batched into the next Ready: that is the group commit.
// Callback style on purpose: the simulator completes a persist at a chosen fake time and needs
// every effect to happen synchronously at that point, while the real node wraps a Promise.

export interface HostIO {
  /**
   * Make snapshot, hard state and entries durable, in that order: a torn write then keeps a term
   * and vote without their entries (safe), never entries of a term the node has not recorded.
   */
  persist(rd: Ready, done: (err?: Error) => void): void;
  send(messages: Message[]): void;
  /** Restore from rd.snapshot if set, then apply rd.committedEntries, and serve rd.readStates. */
  apply(rd: Ready): void;
  /** The disk failed: the node must stop and never carry on with this state. */
  fatal(err: Error): void;
}

/** Host-loop variants that the simulator must catch. */
export type HostBug = 'ack-before-fsync';

export class RaftHost {
  private persisting = false;
  private stopped = false;
  /** Term and vote known to be on disk: messages may go out before the fsync only if they promise nothing newer. */
  private durableTerm: number;
  private durableVote: string | null;

  constructor(
    readonly node: RaftNode,
    private readonly io: HostIO,
    private readonly bugs: ReadonlySet<HostBug> = new Set(),
  ) {
    const s = node.status();
    this.durableTerm = s.term;
    this.durableVote = s.vote;
  }

  get busy(): boolean {
    return this.persisting;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Runs Readies until none is left or one is waiting on the disk. */
  process(): void {
    while (!this.stopped && !this.persisting && this.node.hasReady()) {
      const rd = this.node.ready();
      let sentEarly = false;
      if (this.bugs.has('ack-before-fsync') || this.maySendBeforePersist(rd)) {
        this.io.send(rd.messages);
        sentEarly = true;
      }
      this.persisting = true;
      let sync = true;
      this.io.persist(rd, (err) => {
        if (this.stopped) return;
        this.persisting = false;
        if (err) {
          this.stopped = true;
          this.io.fatal(err);
          return;
        }
        if (rd.hardState) {
          this.durableTerm = rd.hardState.term;
          this.durableVote = rd.hardState.vote;
        }
        if (!sentEarly) this.io.send(rd.messages);
        this.io.apply(rd);
        this.node.advance(rd);
        // A persist that completed synchronously continues the outer loop instead of recursing.
        if (!sync) this.process();
      });
      sync = false;
    }
  }

  /**
   * A leader may replicate to followers while it writes its own log (Raft thesis §10.2.1): its
   * messages promise nothing about its own disk, unless this very Ready also changes term or vote.
   */
  private maySendBeforePersist(rd: Ready): boolean {
    if (rd.softState.role !== 'leader') return false;
    if (rd.hardState && (rd.hardState.term !== this.durableTerm || rd.hardState.vote !== this.durableVote)) {
      return false;
    }
    return rd.messages.every((m) => m.type !== MessageType.VoteResp && m.type !== MessageType.PreVoteResp);
  }
}

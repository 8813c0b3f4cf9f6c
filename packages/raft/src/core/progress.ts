// What the leader knows of one follower, and the flow control that limits what it sends:
// probe (one append at a time until the follower's log position is found), replicate
// (optimistic pipelining bounded by an inflight window), snapshot (chunks of a snapshot in flight).

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** Ring of the last index of each append in flight, with their sizes, for the inflight window. */
export class Inflights {
  private readonly indexes: number[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;

  constructor(
    readonly maxCount: number,
    readonly maxBytes: number,
  ) {}

  add(lastIndex: number, size: number): void {
    this.indexes.push(lastIndex);
    this.sizes.push(size);
    this.bytes += size;
  }

  /** Frees every append whose last index is <= index. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.indexes.length && this.indexes[n] <= index) {
      this.bytes -= this.sizes[n];
      n++;
    }
    if (n > 0) {
      this.indexes.splice(0, n);
      this.sizes.splice(0, n);
    }
  }

  /** Frees the oldest append: a heartbeat answer while the window is full hints that appends were lost. */
  freeFirstOne(): void {
    if (this.indexes.length === 0) return;
    this.bytes -= this.sizes[0];
    this.indexes.shift();
    this.sizes.shift();
  }

  full(): boolean {
    return this.indexes.length >= this.maxCount || this.bytes >= this.maxBytes;
  }

  get count(): number {
    return this.indexes.length;
  }

  reset(): void {
    this.indexes.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append is outstanding; wait for its answer or the next heartbeat. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = true;
  /** Snapshot state: index of the snapshot being sent, and the byte offset acknowledged so far. */
  pendingSnapshot = 0;
  snapshotOffset = 0;
  /** Ticks since the last chunk acknowledgement; a stalled transfer is resent from the acknowledged offset. */
  snapshotIdleTicks = 0;
  /** Highest commit index sent to the follower (appends, heartbeats) that it may not have learned yet. */
  sentCommit = 0;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
    this.state = 'probe';
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.sentCommit = index;
    this.snapshotOffset = 0;
    this.snapshotIdleTicks = 0;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** Records an acknowledged index; false when the answer is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** After a send in replicate state the leader assumes success and moves on (pipelining). */
  optimisticUpdate(lastIndex: number): void {
    this.next = lastIndex + 1;
  }

  /**
   * Handles a rejected append for `rejected` with the follower's hint; false when stale.
   * `hint` is the highest index at which the follower's log may still match the leader's.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = Math.max(this.match + 1, Math.min(rejected, hint + 1));
      this.sentCommit = Math.min(this.sentCommit, this.next - 1);
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    if (hint < this.match) {
      // The follower's log is shorter than what it once acknowledged: it lost its disk (or was
      // replaced under the same id). Probing must go below the old match, or it never ends.
      this.match = hint;
    }
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
    this.probeSent = false;
    return true;
  }

  /**
   * Could sending `commit` move the follower's commit index? Only when it exceeds what was sent,
   * and what was sent did not already reach as far as the follower's log can hold (next - 1).
   */
  canBumpCommit(commit: number): boolean {
    return commit > this.sentCommit && this.sentCommit < this.next - 1;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}

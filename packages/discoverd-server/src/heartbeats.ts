// Leader-local instance liveness (spec §1.6). Heartbeats never enter the Raft log: the leader keeps
// the last time it heard from each instance and, once a second, expires those silent for a TTL.
//
// The dangerous case is a leader that cannot trust its own clock view: a new leader (it never saw
// the heartbeats sent to the old one) and a leader whose process stalled (GC, SIGSTOP, a slow disk
// on the event loop). Either would otherwise expire every instance at once (Flynn #4005, etcd
// #15247). Both start a grace period of 2 x TTL during which nothing expires.

export interface InstanceKey {
  service: string;
  id: string;
}

export interface HeartbeatOptions {
  ttlMs?: number;
  sweepIntervalMs?: number;
  now?: () => number;
}

export class HeartbeatTracker {
  readonly ttlMs: number;
  readonly sweepIntervalMs: number;
  private readonly now: () => number;
  private last = new Map<string, number>();
  /** Reported for expiry and not yet gone from the state: not reported again meanwhile. */
  private expiring = new Set<string>();
  private leader = false;
  /** Nothing expires before this time. */
  private graceUntil = 0;
  private lastSweep = 0;
  /** Why the current grace period started, for logs and metrics. */
  graceReason: 'leadership' | 'stall' | null = null;

  constructor(opts: HeartbeatOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 10_000;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** Every leadership change clears what we know: heartbeats went to someone else meanwhile. */
  setLeader(isLeader: boolean): void {
    this.last.clear();
    this.expiring.clear();
    this.leader = isLeader;
    if (isLeader) this.startGrace('leadership');
  }

  get isLeader(): boolean {
    return this.leader;
  }

  get inGrace(): boolean {
    return this.now() < this.graceUntil;
  }

  heartbeat(key: InstanceKey): void {
    const k = keyOf(key);
    this.last.set(k, this.now());
    this.expiring.delete(k);
  }

  forget(key: InstanceKey): void {
    const k = keyOf(key);
    this.last.delete(k);
    this.expiring.delete(k);
  }

  /** The expiry of these could not be applied (not leader any more, proposal timed out): report them again. */
  expiryFailed(keys: Iterable<InstanceKey>): void {
    for (const k of keys) this.expiring.delete(keyOf(k));
  }

  /**
   * Returns the instances to expire now, given every instance the state holds. Called on a timer
   * every sweepIntervalMs; a call that comes much later than that means the process stalled.
   */
  sweep(instances: Iterable<InstanceKey>): InstanceKey[] {
    const now = this.now();
    const gap = this.lastSweep === 0 ? 0 : now - this.lastSweep;
    this.lastSweep = now;
    if (!this.leader) return [];
    if (gap > 3 * this.sweepIntervalMs) {
      // We were not running: instances may have heartbeated to us in vain, or to a new leader.
      this.startGrace('stall');
      for (const k of this.last.keys()) this.last.set(k, now);
      return [];
    }
    if (now < this.graceUntil) return [];
    this.graceReason = null;
    const expired: InstanceKey[] = [];
    const present = new Set<string>();
    for (const inst of instances) {
      const k = keyOf(inst);
      present.add(k);
      if (this.expiring.has(k)) continue;
      const seen = this.last.get(k);
      if (seen === undefined || now - seen > this.ttlMs) {
        expired.push(inst);
        this.expiring.add(k);
      }
    }
    for (const k of this.expiring) if (!present.has(k)) this.expiring.delete(k);
    return expired;
  }

  private startGrace(reason: 'leadership' | 'stall'): void {
    this.graceUntil = this.now() + 2 * this.ttlMs;
    this.graceReason = reason;
  }
}

function keyOf(k: InstanceKey): string {
  return `${k.service}\u0000${k.id}`;
}

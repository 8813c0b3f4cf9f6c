import { checkHistory, type Operation } from '@flynn-edge/lincheck';
import type { RaftBug } from '../core/raft.js';
import { RaftNode } from '../core/raft.js';
import type { NodeId } from '../core/types.js';
import type { HostBug } from '../host/raft-host.js';
import { SimClient } from './clients.js';
import { SimDisk } from './disk.js';
import { EventQueue } from './event-queue.js';
import { InvariantChecker } from './invariants.js';
import { SimNetwork } from './network.js';
import { createRng, type Rng } from './rng.js';
import { SimNode } from './sim-node.js';
import { emptyStats, type SimStats } from './stats.js';

// The deterministic cluster simulator: N voters plus one spare node in one process, a fake clock,
// a faulty network, faulty disks, and clients whose history is checked for linearizability.

export type SimBug = RaftBug | HostBug;
export const SIM_BUGS: SimBug[] = [
  'double-vote',
  'commit-old-term',
  'stale-read',
  'keep-conflicting',
  'ack-before-fsync',
];

export interface SimOptions {
  seed: number;
  nodes: 3 | 5 | number;
  ops: number;
  faults: boolean;
  clients?: number;
  keys?: number;
  bug?: SimBug;
}

export interface SimSummary {
  seed: number;
  nodes: number;
  ops: number;
  bug: SimBug | null;
  virtualMs: number;
  events: number;
  acknowledged: number;
  unknown: number;
  injected: SimStats;
  violations: string[];
  converged: boolean;
  lostWrites: number;
  linearizable: boolean;
}

const TICK_MS = 10;
const MAX_EVENTS = 5_000_000;
const TIMEOUT_MS = 600;

type FaultKind =
  | 'partition'
  | 'isolateLeader'
  | 'isolateNextLeader'
  | 'crashOnCommit'
  | 'oneWay'
  | 'crash'
  | 'pause'
  | 'power'
  | 'disk'
  | 'membership'
  | 'transfer';
const FAULTS: FaultKind[] = [
  'partition',
  'isolateLeader',
  'isolateNextLeader',
  'crashOnCommit',
  'oneWay',
  'crash',
  'pause',
  'power',
  'disk',
  'membership',
  'transfer',
];

export function runSimulation(opts: SimOptions): SimSummary {
  return new Simulation(opts).run();
}

class Simulation {
  private readonly rng: Rng;
  private readonly queue = new EventQueue();
  private readonly stats = emptyStats();
  private readonly checker: InvariantChecker;
  private readonly net: SimNetwork;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly ids: NodeId[];
  private readonly history: Operation[] = [];
  private readonly clients: SimClient[] = [];
  private readonly acked: { index: number; term: number }[] = [];
  private issued = 0;
  private events = 0;
  private faultsOn: boolean;
  /** Pending heal actions of the faults now in force. */
  private activeFaults = 0;
  private isolateOnElection: { afterTerm: number; heal: () => void } | null = null;
  private crashOnCommit: { after: number; restartAfter: number } | null = null;

  constructor(private readonly opts: SimOptions) {
    this.rng = createRng(opts.seed);
    this.faultsOn = opts.faults;
    this.checker = new InvariantChecker(this.stats);
    this.net = new SimNetwork(this.rng, this.queue, this.stats, (m) => this.nodes.get(m.to)?.deliver(m));
    const voters = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    const spare = `n${opts.nodes + 1}`;
    this.ids = [...voters, spare];
    const coreBugs = new Set<RaftBug>();
    const hostBugs = new Set<HostBug>();
    if (opts.bug === 'ack-before-fsync') hostBugs.add(opts.bug);
    else if (opts.bug) coreBugs.add(opts.bug);
    const maxSizePerMsg = [1, 300, 4096][this.rng.int(3)];
    for (const id of this.ids) {
      const disk = id === spare ? new SimDisk() : new SimDisk(RaftNode.bootstrapState(voters));
      const node = new SimNode(
        {
          id,
          queue: this.queue,
          rng: this.rng,
          stats: this.stats,
          send: (m) => this.net.send(m),
          coreBugs,
          hostBugs,
          tickMs: TICK_MS,
          snapshotEvery: 40,
          snapshotChunkBytes: 64,
          maxSizePerMsg,
          observe: (n) => {
            this.checker.observe(n, n.life);
            if (this.crashOnCommit && n.isLeader() && n.raft.commitIndex > this.crashOnCommit.after) {
              // Dies the moment it advances its commit index, before followers learn of it.
              const { restartAfter } = this.crashOnCommit;
              this.crashOnCommit = null;
              n.crash();
              this.queue.after(restartAfter, () => {
                this.activeFaults--;
                if (!n.up) n.start();
              });
            }
            if (
              this.isolateOnElection &&
              n.isLeader() &&
              n.raft.currentTerm > this.isolateOnElection.afterTerm
            ) {
              // Cut the new leader off before its first appends arrive anywhere: its log now holds
              // entries of its term that nobody else has (the setting of the Raft paper's figure 8).
              const { heal } = this.isolateOnElection;
              this.isolateOnElection = null;
              this.net.isolate(n.id, this.ids);
              this.stats.partitions++;
              heal();
            }
          },
          onApply: (n, index, _term, _kind, fp) => this.checker.applied(n, index, fp),
          onAck: (index, term) => this.acked.push({ index, term }),
        },
        disk,
      );
      this.nodes.set(id, node);
    }
    if (this.faultsOn) {
      this.net.rates = { drop: 0.02, duplicate: 0.02, delaySpike: 0.05 };
    } else {
      this.net.rates = { drop: 0, duplicate: 0, delaySpike: 0 };
    }
  }

  run(): SimSummary {
    for (const n of this.nodes.values()) n.start();
    const nClients = this.opts.clients ?? 10;
    const keys = Array.from({ length: this.opts.keys ?? 5 }, (_, i) => `k${i}`);
    const clientOpts = {
      queue: this.queue,
      rng: this.rng,
      nodes: this.nodes,
      keys,
      timeoutMs: TIMEOUT_MS,
      history: this.history,
    };
    for (let i = 0; i < nClients; i++) this.clients.push(new SimClient(i + 1, clientOpts));
    for (const c of this.clients) this.queue.after(50 + this.rng.next() * 50, () => this.nextOp(c));
    if (this.faultsOn) this.queue.after(200, () => this.injectFault());

    // Phase 1: the workload under faults.
    this.runUntil(() => this.issued >= this.opts.ops && this.clients.every((c) => c.idle), 3_600_000);
    // Phase 2: heal everything and let the cluster converge.
    this.faultsOn = false;
    this.healAll();
    const converged = this.runUntil(() => this.isConverged(), this.queue.now + 60_000);
    // Phase 3: a final read of every key, so that a lost write shows up in the history.
    let finalReads = 0;
    const perClient = new Map<SimClient, string[]>();
    for (const [i, key] of keys.entries()) {
      const c = this.clients[i % this.clients.length];
      perClient.set(c, [...(perClient.get(c) ?? []), key]);
    }
    for (const [c, owned] of perClient) {
      // A client runs one operation at a time: chain its reads through the completion callback.
      const next = () => {
        const key = owned.shift();
        if (key === undefined) return;
        c.run(
          () => {
            finalReads++;
            next();
          },
          { kind: 'read', key },
        );
      };
      next();
    }
    this.runUntil(() => finalReads === keys.length, this.queue.now + 10_000);

    const lostWrites = this.countLostWrites();
    const lin = checkHistory(this.history, { timeoutMs: 30_000 });
    const violations = [...this.checker.violations];
    if (!converged) {
      violations.push('liveness: the healed cluster did not converge within 60 s of virtual time');
      if (process.env.SIM_DEBUG) {
        for (const n of this.nodes.values()) {
          const st = n.raft.status();
          process.stderr.write(
            `${JSON.stringify({ up: n.up, paused: n.paused, kvApplied: n.kv.appliedIndex, busy: n.host.busy, ...st })}\n`,
          );
        }
      }
    }
    if (lostWrites > 0) violations.push(`${lostWrites} acknowledged writes are missing from the final state`);
    if (!lin.linearizable)
      violations.push(
        `linearizability: key ${lin.failure?.key ?? '?'}${lin.timedOut ? ' (checker timed out)' : ''}`,
      );
    return {
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      ops: this.issued,
      bug: this.opts.bug ?? null,
      virtualMs: Math.round(this.queue.now),
      events: this.events,
      acknowledged: this.history.filter((o) => o.ret !== undefined).length,
      unknown: this.history.filter((o) => o.ret === undefined).length,
      injected: this.stats,
      violations,
      converged,
      lostWrites,
      linearizable: lin.linearizable,
    };
  }

  private runUntil(cond: () => boolean, deadline: number): boolean {
    while (!cond()) {
      if (this.queue.now > deadline) return cond();
      try {
        if (!this.queue.runNext()) return cond();
      } catch (err) {
        // An exception inside a node is a crash of that process: as bad as a broken invariant.
        this.checker.violations.push(`exception: ${(err as Error).message}`);
        return cond();
      }
      this.events++;
      if (this.events > MAX_EVENTS) {
        // A message storm or a busy loop: a real cluster would burn its CPUs here.
        this.checker.violations.push(`liveness: more than ${MAX_EVENTS} events (message storm?)`);
        return cond();
      }
      if (this.checker.violations.length > 0 && this.opts.bug) return cond();
    }
    return true;
  }

  private nextOp(c: SimClient): void {
    if (this.issued >= this.opts.ops) return;
    this.issued++;
    c.run(() => this.queue.after(this.rng.next() * 5, () => this.nextOp(c)));
  }

  // ---- faults -------------------------------------------------------------------------------

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.isLeader() && !n.paused && (!best || n.raft.currentTerm > best.raft.currentTerm)) best = n;
    }
    return best;
  }

  private injectFault(): void {
    if (!this.faultsOn) return;
    this.queue.after(150 + this.rng.next() * 350, () => this.injectFault());
    if (this.activeFaults >= 2) return;
    const kind = FAULTS[this.rng.int(FAULTS.length)];
    const heal = (after: number, fn: () => void) => {
      this.activeFaults++;
      this.queue.after(after, () => {
        this.activeFaults--;
        fn();
      });
    };
    const duration = 100 + this.rng.next() * 900;
    const ids = this.ids;
    const pick = () => this.nodes.get(ids[this.rng.int(ids.length)])!;
    switch (kind) {
      case 'partition': {
        const shuffled = [...ids].sort(() => this.rng.next() - 0.5);
        const half = new Set(shuffled.slice(0, Math.floor(ids.length / 2)));
        for (const a of ids) for (const b of ids) if (half.has(a) !== half.has(b)) this.net.cutLink(a, b);
        this.stats.partitions++;
        heal(duration, () => this.net.healAll());
        return;
      }
      case 'isolateLeader': {
        const l = this.leader();
        if (!l) return;
        this.net.isolate(l.id, ids);
        this.stats.partitions++;
        heal(duration, () => this.net.healAll());
        return;
      }
      case 'isolateNextLeader': {
        const l = this.leader();
        if (this.isolateOnElection) return;
        this.activeFaults++;
        this.isolateOnElection = {
          afterTerm: l?.raft.currentTerm ?? 0,
          heal: () =>
            this.queue.after(duration, () => {
              this.activeFaults--;
              this.net.healAll();
            }),
        };
        // Force an election soon, so the trigger fires.
        if (l) {
          l.crash();
          this.queue.after(duration, () => {
            if (!l.up && this.faultsOn) l.start();
          });
        }
        return;
      }
      case 'crashOnCommit': {
        const l = this.leader();
        if (!l || this.crashOnCommit) return;
        this.activeFaults++;
        this.crashOnCommit = { after: l.raft.commitIndex, restartAfter: duration };
        return;
      }
      case 'oneWay': {
        const a = pick();
        const l = this.leader() ?? pick();
        if (a.id === l.id) return;
        // The leader can still talk to it, but nothing comes back (or the other way round).
        if (this.rng.next() < 0.5) this.net.cutLink(a.id, l.id);
        else this.net.cutLink(l.id, a.id);
        this.stats.partitions++;
        heal(duration, () => this.net.healAll());
        return;
      }
      case 'crash': {
        const n = this.rng.next() < 0.5 ? (this.leader() ?? pick()) : pick();
        if (!n.up) return;
        n.crash();
        heal(duration, () => n.start());
        return;
      }
      case 'power': {
        // Every process dies at once: anything acknowledged but not yet synced anywhere is lost.
        for (const n of this.nodes.values()) n.crash();
        this.stats.powerFailures++;
        heal(20 + this.rng.next() * 200, () => {
          for (const n of this.nodes.values()) if (!n.up) n.start();
        });
        return;
      }
      case 'pause': {
        const n = this.rng.next() < 0.6 ? (this.leader() ?? pick()) : pick();
        if (!n.up || n.paused) return;
        n.pause();
        this.stats.pauses++;
        heal(duration, () => n.resume());
        return;
      }
      case 'disk': {
        const n = pick();
        if (!n.up) return;
        n.failNextDiskOp(this.rng.next() < 0.5 ? 'write' : 'sync');
        heal(duration, () => {
          if (!n.up) n.start();
        });
        return;
      }
      case 'membership':
        this.changeMembership();
        return;
      case 'transfer': {
        const l = this.leader();
        if (!l) return;
        const others = l.raft.membership.voters.filter((v) => v !== l.id);
        if (others.length === 0) return;
        if (l.transferLeadership(others[this.rng.int(others.length)])) this.stats.leaderTransfers++;
        return;
      }
    }
  }

  /** Cycles the spare through learner, voter, and back out, removing a random voter (even the leader). */
  private changeMembership(): void {
    const l = this.leader();
    if (!l) return;
    const { voters, learners } = l.raft.membership;
    const outsiders = this.ids.filter((id) => !voters.includes(id) && !learners.includes(id));
    if (voters.length > this.opts.nodes) {
      l.proposeConfChange({ type: 'removeNode', node: voters[this.rng.int(voters.length)] });
    } else if (learners.length > 0) {
      l.proposeConfChange({ type: 'addVoter', node: learners[0] });
    } else if (outsiders.length > 0) {
      l.proposeConfChange({ type: 'addLearner', node: outsiders[this.rng.int(outsiders.length)] });
    }
  }

  private healAll(): void {
    this.isolateOnElection = null;
    this.crashOnCommit = null;
    this.net.healAll();
    this.net.rates = { drop: 0, duplicate: 0, delaySpike: 0 };
    for (const n of this.nodes.values()) {
      n.disarm();
      if (!n.up) n.start();
      else if (n.paused) n.resume();
    }
  }

  private isConverged(): boolean {
    const l = this.leader();
    if (!l) return false;
    const { voters, learners } = l.raft.membership;
    const commit = l.raft.commitIndex;
    if (l.raft.termAt(commit) !== l.raft.currentTerm) return false;
    const fp = l.kv.fingerprint();
    for (const id of [...voters, ...learners]) {
      const n = this.nodes.get(id)!;
      if (!n.up || n.kv.appliedIndex !== commit || n.kv.fingerprint() !== fp) return false;
    }
    return true;
  }

  /** Every write a client saw acknowledged must still be in the committed log at its index. */
  private countLostWrites(): number {
    const l = this.leader();
    let lost = 0;
    for (const { index, term } of this.acked) {
      const committed = this.checker.committed.get(index);
      const inLog = l?.raft.termAt(index);
      if (committed?.term !== term || (inLog !== undefined && inLog !== term)) lost++;
    }
    return lost;
  }
}

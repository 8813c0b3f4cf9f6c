import type { RaftBug } from '../core/raft.js';
import { RaftNode } from '../core/raft.js';
import type { NodeId } from '../core/types.js';
import { SimDisk } from './disk.js';
import { EventQueue } from './event-queue.js';
import { InvariantChecker } from './invariants.js';
import { SimNetwork } from './network.js';
import { createRng } from './rng.js';
import { SimNode } from './sim-node.js';
import { emptyStats, type SimStats } from './stats.js';

// A scripted fault schedule for the situation of the Raft paper's figure 8, run on the same
// simulated nodes, network, disks and invariant checks as the random simulator. Random schedules
// almost never reach it here, because a new leader's no-op travels in the same append as the old
// entries; the script opens the one window that remains (an old entry acknowledged alone) on purpose:
//   1. leader L appends entry i while cut off;            2. X wins the next term, appends its own
//   entry i, and is cut off at once;                      3. L wins again with F's vote and sends F
//   entry i alone (one entry per append);                  4. L dies the moment it advances its commit;
//   5. X returns and wins with F's vote (its last term is newer), overwriting entry i.
// A correct leader does not count replicas of entry i (an older term), so its commit advances only
// once F also holds L's new-term entry, and X can no longer win.

export interface Figure8Result {
  violations: string[];
  /** The script reached its final step (a failure to get there is a scripting problem, not a safety one). */
  completed: boolean;
  steps: string[];
  injected: SimStats;
}

export function runFigure8(seed: number, bug?: RaftBug): Figure8Result {
  const queue = new EventQueue();
  const rng = createRng(seed);
  const stats = emptyStats();
  const checker = new InvariantChecker(stats);
  const ids: NodeId[] = ['n1', 'n2', 'n3'];
  const nodes = new Map<NodeId, SimNode>();
  const net = new SimNetwork(rng, queue, stats, (m) => nodes.get(m.to)?.deliver(m));
  net.rates = { drop: 0, duplicate: 0, delaySpike: 0 };
  const steps: string[] = [];
  let onObserve: ((n: SimNode) => void) | null = null;
  for (const id of ids) {
    nodes.set(
      id,
      new SimNode(
        {
          id,
          queue,
          rng,
          stats,
          send: (m) => net.send(m),
          coreBugs: new Set(bug ? [bug] : []),
          hostBugs: new Set(),
          tickMs: 10,
          snapshotEvery: 1_000_000,
          snapshotChunkBytes: 64,
          maxSizePerMsg: 1,
          observe: (n) => {
            checker.observe(n, n.life);
            onObserve?.(n);
          },
          onApply: (n, index, _t, _k, fp) => checker.applied(n, index, fp),
          onAck: () => {},
        },
        new SimDisk(RaftNode.bootstrapState(ids)),
      ),
    );
  }
  const node = (id: NodeId) => nodes.get(id)!;
  const leader = () => [...nodes.values()].find((n) => n.isLeader());
  const runUntil = (cond: () => boolean, ms: number) => {
    const deadline = queue.now + ms;
    while (!cond() && queue.now < deadline && checker.violations.length === 0) {
      if (!queue.runNext()) break;
    }
    return cond();
  };
  const fail = (why: string): Figure8Result => ({
    violations: checker.violations,
    completed: false,
    steps: [...steps, why],
    injected: stats,
  });

  for (const n of nodes.values()) n.start();
  if (!runUntil(() => leader() !== undefined, 5000)) return fail('no first leader');
  const L = leader()!;
  const first = L.raft.lastIndex;
  if (!runUntil(() => ids.every((id) => node(id).raft.commitIndex >= first), 5000))
    return fail('no-op not replicated');

  // 1. L appends entry i that nobody else receives.
  net.isolate(L.id, ids);
  L.request({ kind: 'write', key: 'k', value: 'from-L' }, () => {});
  const i = L.raft.lastIndex;
  steps.push(`${L.id} leads term ${L.raft.currentTerm}, appends ${i} alone`);

  // 2. The other two elect X, which appends its no-op at i and is cut off the moment it leads.
  let winner: SimNode | undefined;
  onObserve = (n) => {
    if (n !== L && n.isLeader()) {
      winner = n;
      net.isolate(n.id, ids);
      onObserve = null;
    }
  };
  if (!runUntil(() => winner !== undefined, 5000)) return fail('no leader for term 2');
  const X = winner!;
  if (X.raft.termAt(i) === undefined) return fail('X has no entry at i');
  const F = ids.find((id) => id !== L.id && id !== X.id);
  steps.push(`${X.id} leads term ${X.raft.currentTerm}, appends ${i}@${X.raft.termAt(i)} alone; ${F} is F`);

  // 3. L and F reconnect; L (longer log) wins with F's vote and replicates one entry per append.
  //    4. L dies, with its links, the moment its commit index passes i - 1.
  net.healAll();
  net.isolate(X.id, ids);
  const commitBefore = L.raft.commitIndex;
  let crashedAt = -1;
  onObserve = (n) => {
    if (n === L && n.isLeader() && n.raft.commitIndex > commitBefore) {
      crashedAt = n.raft.commitIndex;
      net.isolate(L.id, ids);
      n.crash();
      onObserve = null;
    }
  };
  if (!runUntil(() => crashedAt >= 0, 10_000)) return fail('L never advanced its commit');
  steps.push(`${L.id} committed up to ${crashedAt} in term ${L.raft.currentTerm} and crashed`);

  // 5. X returns; F's last entry decides whether X can win.
  net.healAll();
  net.isolate(L.id, ids);
  runUntil(() => leader() !== undefined && leader()!.raft.currentTerm > L.raft.currentTerm, 10_000);
  const final = leader();
  steps.push(final ? `${final.id} leads term ${final.raft.currentTerm}` : 'no final leader');
  return { violations: [...checker.violations], completed: final !== undefined, steps, injected: stats };
}

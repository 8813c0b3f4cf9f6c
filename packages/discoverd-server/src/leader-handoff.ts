import type { NodeId, RaftServer } from '@flynn-edge/raft';
import type { Logger } from '@flynn-edge/service-kit';

// A leader that is stopped gracefully hands its leadership to a caught-up voter first, so the
// others never sit an election timeout without a leader (a host-by-host update stops every
// voter once). Writes wait while it runs (see DiscoverdContext.write) and then go to the new
// leader; the Raft core refuses proposals during the transfer itself.

export interface HandoffOptions {
  /** Give up and close anyway after this long (default 3 s). */
  deadlineMs?: number;
  /** How long to wait for a voter holding the whole log before picking the best one (default 1 s). */
  catchUpMs?: number;
  /**
   * Give up once no leader has been known for this long (default 1 s): the voters are gone, as
   * when a whole cluster is shut down at once, and waiting out the deadline would change nothing.
   * Keep it above an election timeout.
   */
  leaderlessMs?: number;
}

export interface HandoffResult {
  to: NodeId;
  ms: number;
}

const POLL_MS = 5;

/**
 * Transfers leadership away from `raft` if it leads a cluster with other voters. Resolves with the
 * new leader once this node follows it, or null when there was nothing to do or the deadline
 * passed (the caller closes anyway).
 */
export async function handOffLeadership<R>(
  raft: RaftServer<R>,
  log: Logger,
  opts: HandoffOptions = {},
): Promise<HandoffResult | null> {
  if (!raft.isLeader || otherVoters(raft).length === 0) return null;
  const started = performance.now();
  const deadline = started + (opts.deadlineMs ?? 3000);
  const catchUpUntil = started + (opts.catchUpMs ?? 1000);
  // Proposals already in flight commit and are answered here before the transfer stops new ones.
  const inFlight = raft.status().lastIndex;
  await until(() => raft.appliedIndex >= inFlight || !raft.isLeader, deadline);

  let target: NodeId | null = null;
  let leaderlessSince: number | null = null;
  let why = 'deadline passed';
  while (performance.now() < deadline) {
    const leader = raft.leaderId;
    // Between stepping down and hearing from the successor there is no leader for a round trip.
    if (leader) leaderlessSince = null;
    else if (leaderlessSince === null) leaderlessSince = performance.now();
    else if (performance.now() - leaderlessSince > (opts.leaderlessMs ?? 1000)) {
      why = 'no leader emerged';
      break;
    }
    if (!raft.isLeader && leader && leader !== raft.id) {
      const ms = Math.round(performance.now() - started);
      log.info({ to: leader, ms }, `leadership transferred to ${leader} in ${ms} ms`);
      return { to: leader, ms };
    }
    // Not transferring (yet, or any more: the core abandons a transfer after an election timeout).
    if (raft.isLeader && raft.status().leadTransferee === null) {
      target = successor(raft, performance.now() >= catchUpUntil);
      if (target) raft.transferLeadership(target);
    }
    await sleep(POLL_MS);
  }
  log.warn(
    { target, leader: raft.leaderId, ms: Math.round(performance.now() - started), why },
    'leadership handoff gave up; closing anyway',
  );
  return null;
}

function otherVoters<R>(raft: RaftServer<R>): NodeId[] {
  return raft.membership.voters.filter((v) => v !== raft.id);
}

/**
 * The voter with the highest match index. Before `anyMatch` only one holding the leader's whole
 * log qualifies: the transfer then needs no catch-up and proposals are refused for one round trip.
 */
function successor<R>(raft: RaftServer<R>, anyMatch: boolean): NodeId | null {
  const st = raft.status();
  let best: NodeId | null = null;
  let bestMatch = -1;
  for (const v of otherVoters(raft)) {
    const match = st.progress[v]?.match ?? 0;
    if (match > bestMatch) {
      best = v;
      bestMatch = match;
    }
  }
  return best && (anyMatch || bestMatch >= st.lastIndex) ? best : null;
}

async function until(done: () => boolean, deadline: number): Promise<void> {
  while (!done() && performance.now() < deadline) await sleep(POLL_MS);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

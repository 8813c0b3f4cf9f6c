import { answerError, MEMBERSHIP_TIMEOUT_MS, request } from '../discoverd-http.js';
import { note, println, promoteReminder } from '../output.js';
import { fetchLearners } from './raft.js';

// `flynn-host promote ADDR` (spec §1.9): the discoverd at ADDR, running as a proxy, asks the Raft
// leader to add it (as a learner), waits until its log has caught up, then serves as a peer.

export interface PromoteOptions {
  /** `host:port`, already defaulted. */
  addr: string;
  clusterKey?: string;
}

export async function promoteCommand(opts: PromoteOptions): Promise<void> {
  const { addr, clusterKey } = opts;
  note(`asking ${addr} to join the Raft cluster; it answers once it has caught up (up to 90 s)`);
  // Never follow a redirect here: promotion is about this one node, not whichever a 307 names.
  const answer = await request('POST', `http://${addr}/raft/promote`, {
    clusterKey,
    timeoutMs: MEMBERSHIP_TIMEOUT_MS,
    followRedirects: false,
  });
  if (answer.status !== 200) {
    const hint =
      answer.status === 404 ? ` (does the discoverd at ${addr} support promotion, and is it running?)` : '';
    throw answerError('POST', answer, hint);
  }
  println(`Promoted ${addr}: it is now a member of the Raft cluster${await roleSuffix(addr, clusterKey)}.`);
  println(promoteReminder(addr));
}

/** Best effort: a promoted node is a learner until the leader sees it caught up. */
async function roleSuffix(addr: string, clusterKey?: string): Promise<string> {
  try {
    const learners = await fetchLearners(`http://${addr}`, clusterKey);
    return learners.includes(addr) ? ' (a learner for now; the leader makes it a voter once caught up)' : '';
  } catch {
    return '';
  }
}

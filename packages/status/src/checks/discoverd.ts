import type { CheckOutcome } from '../envelope.js';
import { type Discovery, getJson } from '../probe.js';
import { type Check, errorReason } from '../runner.js';

// discoverd: every voter answers GET /raft/status (its own view), a leader is known, and each
// voter has applied the log up to within `maxLag` entries of the leader's commit index.

export const DEFAULT_RAFT_MAX_LAG = 1000;

export interface RaftStatus {
  id: string;
  role: string;
  term: number;
  leader: string;
  commit_index: number;
  applied_index: number;
  last_index: number;
  voters: string[];
  learners: string[];
}

export interface DiscoverdCheckOptions {
  discovery: Discovery;
  maxLag?: number;
  headers?: Record<string, string>;
}

export function discoverdCheck(opts: DiscoverdCheckOptions): Check {
  const maxLag = opts.maxLag ?? DEFAULT_RAFT_MAX_LAG;
  return {
    name: 'discoverd',
    async run(signal): Promise<CheckOutcome> {
      const voters = await opts.discovery.raftVoters(signal);
      if (voters.length === 0) return { healthy: false, reason: 'discoverd reports no voters' };
      const answers = await Promise.all(
        voters.map(async (v) => {
          try {
            return {
              voter: v,
              status: await getJson<RaftStatus>(`http://${v}/raft/status`, { signal, headers: opts.headers }),
            };
          } catch (err) {
            return { voter: v, error: errorReason(err) };
          }
        }),
      );
      const detail: Record<string, unknown> = { voters: voters.length };
      const failed = answers.find((a) => a.error !== undefined);
      // Two nodes may both say "leader" for a moment (an old one cut off): the higher term wins.
      const leaderAnswer = answers
        .filter((a) => a.status?.role === 'leader')
        .sort((a, b) => b.status!.term - a.status!.term)[0];
      const leader = leaderAnswer?.status?.id ?? answers.find((a) => a.status?.leader)?.status?.leader;
      if (leader) detail.leader = leader;
      if (failed)
        return { healthy: false, reason: `voter ${failed.voter} does not answer: ${failed.error}`, detail };
      if (!leader) return { healthy: false, reason: 'no Raft leader is known', detail };
      if (!leaderAnswer)
        return { healthy: false, reason: `the leader ${leader} is not a voter that answers`, detail };
      const commit = leaderAnswer.status!.commit_index;
      detail.commit_index = commit;
      let worst = { voter: '', lag: 0 };
      for (const a of answers) {
        const lag = commit - a.status!.applied_index;
        if (lag > worst.lag) worst = { voter: a.voter, lag };
      }
      detail.max_lag = worst.lag;
      if (worst.lag > maxLag) {
        return {
          healthy: false,
          reason: `voter ${worst.voter} is ${worst.lag} entries behind the leader's commit index (limit ${maxLag})`,
          detail,
        };
      }
      const disagree = answers.find((a) => a.status!.leader && a.status!.leader !== leader);
      if (disagree) {
        return {
          healthy: false,
          reason: `voter ${disagree.voter} follows ${disagree.status!.leader}, not ${leader}`,
          detail,
        };
      }
      return { healthy: true, detail };
    },
  };
}

/** Host scope: discoverd has a leader (asked of the voters the local servers name). */
export function discoverdLeaderCheck(opts: Pick<DiscoverdCheckOptions, 'discovery' | 'headers'>): Check {
  return {
    name: 'discoverd',
    async run(signal): Promise<CheckOutcome> {
      const voters = await opts.discovery.raftVoters(signal);
      const answers = await Promise.all(
        voters.map((v) =>
          getJson<RaftStatus>(`http://${v}/raft/status`, { signal, headers: opts.headers }).catch(
            () => undefined,
          ),
        ),
      );
      const leader = answers.find((a) => a?.role === 'leader');
      if (!leader)
        return { healthy: false, reason: 'no Raft leader answers', detail: { voters: voters.length } };
      return { healthy: true, detail: { leader: leader.id } };
    },
  };
}

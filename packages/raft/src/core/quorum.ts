import type { NodeId } from './types.js';

// Vote and commit arithmetic over a voter set, kept apart from the state machine as etcd's quorum/ is.

export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** Highest index that a majority of voters have matched. */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const matched = voters.map(matchOf).sort((a, b) => b - a);
  return matched[majority(voters.length) - 1];
}

export type VoteResult = 'won' | 'lost' | 'pending';

export function tallyVotes(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const vote = votes.get(v);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return 'won';
  if (voters.length - rejected < need) return 'lost';
  return 'pending';
}

import type { ClusterConfig, NodeId } from './types.js';

// Single-server membership changes. A change takes effect when its entry commits, and the leader
// allows one uncommitted change at a time, which keeps any two consecutive majorities overlapping.

export type ConfChange =
  | { type: 'bootstrap'; voters: NodeId[]; learners: NodeId[] }
  | { type: 'addVoter'; node: NodeId }
  | { type: 'addLearner'; node: NodeId }
  | { type: 'removeNode'; node: NodeId };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  return JSON.parse(decoder.decode(data)) as ConfChange;
}

export function emptyConfig(): ClusterConfig {
  return { voters: [], learners: [] };
}

export function cloneConfig(c: ClusterConfig): ClusterConfig {
  return { voters: [...c.voters], learners: [...c.learners] };
}

/** Validates a proposed change against the current config; returns an error message or null. */
export function validateConfChange(c: ClusterConfig, cc: ConfChange): string | null {
  if (cc.type === 'bootstrap') return 'bootstrap is only written at cluster creation';
  const isVoter = c.voters.includes(cc.node);
  const isLearner = c.learners.includes(cc.node);
  switch (cc.type) {
    case 'addVoter':
      return isVoter ? `${cc.node} is already a voter` : null;
    case 'addLearner':
      if (isLearner) return `${cc.node} is already a learner`;
      if (isVoter && c.voters.length === 1) return 'cannot demote the last voter';
      return null;
    case 'removeNode':
      if (!isVoter && !isLearner) return `${cc.node} is not a member`;
      if (isVoter && c.voters.length === 1) return 'cannot remove the last voter';
      return null;
  }
}

export function applyConfChange(c: ClusterConfig, cc: ConfChange): ClusterConfig {
  if (cc.type === 'bootstrap') return { voters: [...cc.voters], learners: [...cc.learners] };
  const voters = c.voters.filter((v) => v !== cc.node);
  const learners = c.learners.filter((v) => v !== cc.node);
  if (cc.type === 'addVoter') voters.push(cc.node);
  else if (cc.type === 'addLearner') learners.push(cc.node);
  return { voters: voters.sort(), learners: learners.sort() };
}

import type { NodeId } from '../core/types.js';

/** This node cannot take the request; `leader` is where to send it, when known. */
export class NotLeaderError extends Error {
  readonly code = 'not_leader';
  constructor(readonly leader: NodeId | null) {
    super(leader ? `not the leader; try ${leader}` : 'not the leader, and no leader is known');
  }
}

/** A proposal whose outcome is unknown: it may still commit. Clients must not assume either way. */
export class ProposalTimeoutError extends Error {
  readonly code = 'timeout';
  constructor(ms: number) {
    super(`proposal not applied within ${ms} ms; its outcome is unknown`);
  }
}

/** Leadership moved while the proposal was in flight: it may or may not commit under the next leader. */
export class LeadershipLostError extends Error {
  readonly code = 'leadership_lost';
  constructor() {
    super('leadership lost before the proposal committed; its outcome is unknown');
  }
}

/** Refused before it entered the log: retrying is safe. */
export class ProposalRejectedError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly leader: NodeId | null = null,
  ) {
    super(message);
  }
}

export class ServerStoppedError extends Error {
  readonly code = 'stopped';
  constructor() {
    super('raft server stopped');
  }
}

import type { ApplyResult, Command, DiscoverdState } from '@flynn-edge/discoverd-state';
import { encodeCommand } from '@flynn-edge/discoverd-state';
import { NotLeaderError, ProposalTimeoutError, type RaftServer } from '@flynn-edge/raft';
import { type ErrorCode, HttpError } from '@flynn-edge/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ProposalResult } from './discoverd-metrics.js';
import type { EventHub } from './event-hub.js';
import type { HeartbeatTracker } from './heartbeats.js';
import { sendRedirect } from './redirect.js';

// What the route plugins share: the state, the Raft server, the event hub, and the write path
// (redirect to the leader, propose, map the state machine's answer to Flynn's errors).

export const NO_LEADER = 'discoverd: no known leader';

export class Redirected extends Error {
  constructor() {
    super('redirected to the leader');
  }
}

export class DiscoverdContext {
  constructor(
    readonly state: DiscoverdState,
    readonly raft: RaftServer<ApplyResult>,
    readonly hub: EventHub,
    readonly heartbeats: HeartbeatTracker,
    readonly advertised: string,
    /** Told how every proposal made through propose() ended (the proposals metric). */
    private readonly onProposal: (result: ProposalResult) => void = () => {},
  ) {}

  /** raft.propose, with the outcome counted. */
  async propose(cmd: Command): Promise<ApplyResult> {
    try {
      const result = await this.raft.propose(encodeCommand(cmd));
      this.onProposal(result.ok ? 'applied' : 'refused');
      return result;
    } catch (err) {
      this.onProposal(proposalFailure(err));
      throw err;
    }
  }

  /** On a follower, answers 307 to the leader (or 503 without one) and returns false. */
  leaderOrRedirect(req: FastifyRequest, reply: FastifyReply): boolean {
    if (this.raft.isLeader) return true;
    const leader = this.raft.leaderId;
    if (!leader) throw noLeader();
    sendRedirect(reply, req, leader);
    return false;
  }

  /**
   * Proposes `cmd` and waits until it is applied here. Resolves with the state machine's value,
   * or throws the HttpError Flynn would answer with. If leadership moved while waiting, the
   * client is redirected (the write was not applied in our term) and Redirected is thrown.
   */
  async write(req: FastifyRequest, reply: FastifyReply, cmd: Command): Promise<unknown> {
    let result: ApplyResult;
    try {
      result = await this.propose(cmd);
    } catch (err) {
      if (isNotLeader(err)) {
        const leader = (err as NotLeaderError).leader ?? this.raft.leaderId;
        if (!leader || leader === this.advertised) throw noLeader();
        sendRedirect(reply, req, leader);
        throw new Redirected();
      }
      if (err instanceof ProposalTimeoutError) {
        throw new HttpError('service_unavailable', 'discoverd: timed out waiting for the write to commit', {
          retry: true,
        });
      }
      throw new HttpError('service_unavailable', `discoverd: ${(err as Error).message}`, { retry: true });
    }
    if (!result.ok) throw new HttpError(result.error.code as ErrorCode, result.error.message);
    return result.value;
  }
}

function isNotLeader(err: unknown): boolean {
  return err instanceof NotLeaderError || (err as { code?: string }).code === 'not_leader';
}

/** How a failed proposal is counted. */
export function proposalFailure(err: unknown): ProposalResult {
  if (isNotLeader(err)) return 'not_leader';
  if (err instanceof ProposalTimeoutError) return 'timeout';
  return 'failed';
}

/** Runs a write handler; a client redirected to the leader mid-write has already been answered. */
export async function writing(reply: FastifyReply, fn: () => Promise<unknown>): Promise<unknown> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Redirected) return reply;
    throw err;
  }
}

export function noLeader(): HttpError {
  return new HttpError('service_unavailable', NO_LEADER, { retry: true });
}

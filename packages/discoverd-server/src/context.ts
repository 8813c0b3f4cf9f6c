import type { ApplyResult, Command, DiscoverdState } from '@flynn-edge/discoverd-state';
import { encodeCommand } from '@flynn-edge/discoverd-state';
import { NotLeaderError, ProposalTimeoutError, type RaftServer } from '@flynn-edge/raft';
import { type ErrorCode, HttpError } from '@flynn-edge/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
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
  ) {}

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
      result = await this.raft.propose(encodeCommand(cmd));
    } catch (err) {
      if (err instanceof NotLeaderError || (err as { code?: string }).code === 'not_leader') {
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

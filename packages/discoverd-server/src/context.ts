import type { ApplyResult, Command, DiscoverdState, HhError } from '@flynn-edge/discoverd-state';
import { checkCommand } from '@flynn-edge/discoverd-state';
import { NotLeaderError, ProposalTimeoutError, type RaftServer } from '@flynn-edge/raft';
import { HttpError } from '@flynn-edge/service-kit';
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

/** A command that passed checkCommand, with its log entry. */
export interface CheckedCommand {
  cmd: Command;
  data: Uint8Array;
}

function httpError(e: HhError): HttpError {
  return new HttpError(e.code, e.message);
}

/** How long a write refused during someone else's leadership transfer waits for the new leader. */
const TRANSFER_WAIT_MS = 2000;

export class DiscoverdContext {
  /**
   * Set while this leader hands its leadership over (a graceful close): writes wait for it and
   * then go to the new leader, instead of a 503 each while the core refuses proposals.
   */
  handoff: Promise<unknown> | null = null;

  constructor(
    readonly state: DiscoverdState,
    readonly raft: RaftServer<ApplyResult>,
    readonly hub: EventHub,
    readonly heartbeats: HeartbeatTracker,
    readonly advertised: string,
    /** Told how every proposal made through propose() ended (the proposals metric). */
    private readonly onProposal: (result: ProposalResult) => void = () => {},
  ) {}

  /**
   * Validates a command completely (400 in Flynn's envelope when it must not enter the log).
   * Routes call it before redirecting, so a follower refuses bad input itself.
   */
  check(cmd: Command): CheckedCommand {
    const r = checkCommand(cmd);
    if ('error' in r) throw httpError(r.error);
    return { cmd, data: r.data };
  }

  /** raft.propose of a checked command, with the outcome counted. */
  async propose(command: Command | CheckedCommand): Promise<ApplyResult> {
    const { data } = 'data' in command ? command : this.check(command);
    try {
      const result = await this.raft.propose(data);
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
  async write(req: FastifyRequest, reply: FastifyReply, command: Command | CheckedCommand): Promise<unknown> {
    const checked = 'data' in command ? command : this.check(command);
    await this.refuseEarly(checked.cmd);
    // Nothing may await between this check and the proposal: the handoff must see every write.
    if (this.handoff) await this.afterLeaderMoves(req, reply, this.handoff);
    let result: ApplyResult;
    try {
      result = await this.propose(checked);
    } catch (err) {
      if ((err as { code?: string }).code === 'transferring') {
        await this.afterLeaderMoves(req, reply, this.leaderElsewhere(TRANSFER_WAIT_MS));
        throw new HttpError('service_unavailable', 'discoverd: leadership transfer in progress', {
          retry: true,
        });
      }
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
    if (!result.ok) throw httpError(result.error);
    return result.value;
  }

  /**
   * Waits for `moved`, then redirects to the leader if it is another node now (throws
   * Redirected), or answers 503 if none is known. Returns when this node still leads.
   */
  private async afterLeaderMoves(req: FastifyRequest, reply: FastifyReply, moved: Promise<unknown>) {
    await moved;
    const leader = this.raft.leaderId;
    if (leader && leader !== this.advertised) {
      sendRedirect(reply, req, leader);
      throw new Redirected();
    }
    if (!this.raft.isLeader) throw noLeader();
  }

  /** Resolves once another node is the known leader, or after `ms`. */
  private leaderElsewhere(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        const leader = this.raft.leaderId;
        if (leader && leader !== this.advertised) done();
      };
      const done = () => {
        clearTimeout(timer);
        this.raft.off('leader', check);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.raft.on('leader', check);
    });
  }

  /**
   * On the leader, answers a write the state machine would refuse (missing service, meta CAS,
   * not manual) without a log entry. A refusal is confirmed after a read barrier: a new leader may
   * not have applied everything committed yet, and must not refuse on an old state.
   */
  private async refuseEarly(cmd: Command): Promise<void> {
    if (!this.raft.isLeader || !this.state.refusal(cmd)) return;
    try {
      await this.raft.readBarrier();
    } catch {
      return; // leadership moved: the proposal finds out and redirects
    }
    const no = this.state.refusal(cmd);
    if (!no) return;
    // Counted as the state machine's refusal, which it is: only the log entry was saved.
    this.onProposal('refused');
    throw httpError(no);
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

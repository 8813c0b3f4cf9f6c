import { validateAddr } from '@flynn-edge/discoverd-state';
import { HttpError, sendJson } from '@flynn-edge/service-kit';
import type { FastifyInstance } from 'fastify';
import { type DiscoverdContext, NO_LEADER, Redirected } from './context.js';

// The Raft membership endpoints (spec §1.2, §1.9). A peer added with PUT /raft/peers joins as a
// learner and is promoted to voter by the leader once its log has caught up (see LearnerPromoter):
// a new member never counts towards the quorum before it can actually vote with a full log.

type PeerParams = { peer: string };

/** A peer id is an advertised host:port, checked like an instance addr (it becomes a Raft member). */
function checkPeer(peer: string): void {
  if (validateAddr(peer)) {
    throw new HttpError(
      'validation_error',
      `discoverd: peer must be host:port, got ${JSON.stringify(peer.slice(0, 300))}`,
    );
  }
}

export function raftRoutes(ctx: DiscoverdContext, shutdown: () => Promise<number>) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const { raft } = ctx;

    app.get('/raft/leader', (_req, reply) => {
      const leader = raft.leaderId;
      if (!leader) throw new HttpError('service_unavailable', NO_LEADER, { retry: true });
      return sendJson(reply, 200, { host: leader });
    });

    // This node's own Raft view (not proxied to the leader), for health checks: the status service
    // compares each voter's applied index with the leader's commit index.
    app.get('/raft/status', (_req, reply) => {
      const st = raft.status();
      return sendJson(reply, 200, {
        id: st.id,
        role: st.role,
        term: st.term,
        leader: st.leader ?? '',
        commit_index: st.commit,
        applied_index: st.appliedIndex,
        last_index: st.lastIndex,
        voters: raft.membership.voters,
        learners: raft.membership.learners,
      });
    });

    app.get('/raft/peers', (_req, reply) => sendJson(reply, 200, raft.membership.voters));

    app.get('/raft/learners', (_req, reply) => sendJson(reply, 200, raft.membership.learners));

    app.put<{ Params: PeerParams }>('/raft/peers/:peer', async (req, reply) => {
      const peer = req.params.peer;
      checkPeer(peer);
      if (!ctx.leaderOrRedirect(req, reply)) return reply;
      const { voters, learners } = raft.membership;
      if (!voters.includes(peer) && !learners.includes(peer)) {
        await membership(() => raft.changeMembership({ type: 'addLearner', node: peer }));
      }
      return sendJson(reply, 200, { last_index: raft.appliedIndex });
    });

    app.delete<{ Params: PeerParams }>('/raft/peers/:peer', async (req, reply) => {
      const peer = req.params.peer;
      checkPeer(peer);
      if (!ctx.leaderOrRedirect(req, reply)) return reply;
      const { voters, learners } = raft.membership;
      if (voters.includes(peer) || learners.includes(peer)) {
        await membership(() => raft.changeMembership({ type: 'removeNode', node: peer }));
      }
      return reply.code(200).send();
    });

    app.get('/ping', (_req, reply) => reply.code(200).send());

    app.post('/shutdown', async (_req, reply) => {
      const lastIndex = await shutdown();
      return sendJson(reply, 200, { last_index: lastIndex });
    });
  };
}

/** Maps the core's refusals of a membership change to Flynn-style errors. */
async function membership(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof Redirected) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'conf_change_pending') {
      throw new HttpError('conflict', 'discoverd: another membership change is in progress, retry', {
        retry: true,
      });
    }
    if (code === 'invalid_conf_change')
      throw new HttpError('validation_error', `discoverd: ${(err as Error).message}`);
    throw new HttpError('service_unavailable', `discoverd: ${(err as Error).message}`, { retry: true });
  }
}

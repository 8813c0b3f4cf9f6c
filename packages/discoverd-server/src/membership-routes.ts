import { PeerTrust } from '@flynn-edge/discoverd-state';
import { HttpError, sendJson } from '@flynn-edge/service-kit';
import type { FastifyInstance } from 'fastify';
import { fetchFollowing } from './redirect.js';

// POST /raft/promote and /raft/demote (spec §1.9): local to the node, never proxied. Promote asks
// the leader to add this node (as a learner; the leader promotes it to voter once its log caught
// up) and waits until it is a member with its applied index at the leader's; demote asks the
// leader to remove it and waits until it is out. Both go through whatever peer answers, following
// redirects to the leader by hand, with the cluster key.

export interface MembershipHooks {
  self: string;
  peers(): readonly string[];
  isMember(): boolean;
  isVoter(): boolean;
  appliedIndex(): number;
  authHeaders(): Record<string, string>;
}

async function askLeader(hooks: MembershipHooks, method: 'PUT' | 'DELETE', path: string): Promise<Response> {
  let lastError: unknown;
  const peers = hooks.peers();
  // The peer asked may redirect to the leader: the key must survive that hop (issue 11).
  const trust = new PeerTrust(peers);
  for (const peer of [...peers.filter((p) => p !== hooks.self), ...peers]) {
    try {
      const res = await fetchFollowing(`http://${peer}${path}`, {
        method,
        headers: hooks.authHeaders(),
        trust,
        signal: AbortSignal.timeout(30_000),
      });
      if (res.status >= 500 && res.status !== 503) return res;
      if (res.status === 503 || res.status === 409) {
        lastError = new Error(`${peer}: ${res.status} ${await res.text()}`);
        continue;
      }
      return res;
    } catch (err) {
      lastError = err;
    }
  }
  throw new HttpError(
    'service_unavailable',
    `discoverd: no peer could reach the leader: ${String(lastError)}`,
    { retry: true },
  );
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline)
      throw new HttpError('service_unavailable', `discoverd: timed out waiting for ${what}`, { retry: true });
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function membershipRoutes(hooks: MembershipHooks) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.post('/raft/promote', async (_req, reply) => {
      if (hooks.isVoter()) return reply.code(200).send();
      let lastIndex = 0;
      for (let attempt = 0; attempt < 50; attempt++) {
        const res = await askLeader(hooks, 'PUT', `/raft/peers/${hooks.self}`);
        if (res.ok) {
          lastIndex = ((await res.json()) as { last_index: number }).last_index;
          break;
        }
        if (res.status !== 409)
          throw new HttpError('service_unavailable', `discoverd: leader refused: ${await res.text()}`, {
            retry: true,
          });
        await new Promise((r) => setTimeout(r, 200));
      }
      await until(() => hooks.isMember() && hooks.appliedIndex() >= lastIndex, 60_000, 'the log to catch up');
      await until(() => hooks.isVoter(), 60_000, 'promotion to voter');
      return reply.code(200).send();
    });

    app.post('/raft/demote', async (_req, reply) => {
      if (!hooks.isMember()) return reply.code(200).send();
      for (let attempt = 0; attempt < 50; attempt++) {
        const res = await askLeader(hooks, 'DELETE', `/raft/peers/${hooks.self}`);
        if (res.ok) break;
        if (res.status !== 409)
          throw new HttpError('service_unavailable', `discoverd: leader refused: ${await res.text()}`, {
            retry: true,
          });
        await new Promise((r) => setTimeout(r, 200));
      }
      await until(() => !hooks.isMember(), 60_000, 'removal from the cluster');
      return sendJson(reply, 200, { last_index: hooks.appliedIndex() });
    });
  };
}

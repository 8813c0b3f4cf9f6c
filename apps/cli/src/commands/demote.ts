import {
  type Answer,
  answerError,
  DiscoverdError,
  getJson,
  MEMBERSHIP_TIMEOUT_MS,
  NetworkError,
  pathSegment,
  REQUEST_TIMEOUT_MS,
  request,
  sleep,
} from '../discoverd-http.js';
import { CliError, demoteReminder, note, println } from '../output.js';
import { fetchLearners } from './raft.js';

// `flynn-host demote [-f|--force] ADDR` (spec §1.9). A node that answers /ping is asked to demote
// itself (POST /raft/demote: it becomes a proxy and has the leader remove it). A node that is gone
// can only be removed by the Raft leader: with --force we find the leader and DELETE the peer.

export interface DemoteOptions {
  /** `host:port`, already defaulted. */
  addr: string;
  force?: boolean;
  /** discoverd servers to ask for the leader (URLs). */
  servers: string[];
  clusterKey?: string;
  /** Overall budget of the forced removal (tests shorten it). */
  timeoutMs?: number;
}

export async function demoteCommand(opts: DemoteOptions): Promise<void> {
  const { addr, clusterKey } = opts;
  const unreachable = await pingProblem(addr, clusterKey);
  if (unreachable === null) {
    note(`asking ${addr} to leave the Raft cluster (up to 90 s)`);
    // Never follow a redirect: a 307 would make another node demote itself.
    const answer = await request('POST', `http://${addr}/raft/demote`, {
      clusterKey,
      timeoutMs: MEMBERSHIP_TIMEOUT_MS,
      followRedirects: false,
    });
    if (answer.status !== 200) {
      const hint =
        answer.status === 404 ? ` (does the discoverd at ${addr} support demotion, and is it running?)` : '';
      throw answerError('POST', answer, hint);
    }
    println(`Demoted ${addr}: it now runs as a proxy.`);
  } else if (opts.force) {
    note(`${addr} does not answer (${unreachable}); removing it through the Raft leader`);
    const { leader, wasMember } = await removeThroughLeader(opts);
    println(
      wasMember
        ? `Removed ${addr} from the Raft cluster (leader ${leader}).`
        : `${addr} is not a Raft voter or learner (leader ${leader}); nothing to remove.`,
    );
  } else {
    throw new CliError(
      `${addr} does not answer (${unreachable}). If the host is gone for good, remove it through ` +
        `the Raft leader with: flynn-host demote --force ${addr}`,
    );
  }
  println(demoteReminder(addr));
}

/**
 * Null when the node answers /ping, else why not. Any 200 or 307 counts: a proxy redirects its
 * ping to a peer, and following that would test the peer instead.
 */
async function pingProblem(addr: string, clusterKey?: string): Promise<string | null> {
  try {
    const answer = await request('GET', `http://${addr}/ping`, { clusterKey, followRedirects: false });
    if (answer.status === 200 || answer.status === 307) return null;
    return answerError('GET', answer).message;
  } catch (err) {
    if (err instanceof NetworkError) return err.reason;
    throw err;
  }
}

/**
 * Finds the leader and has it remove `addr`, retrying while there is no leader yet (the dead node
 * may have been the leader) or another membership change is in progress (one at a time).
 */
async function removeThroughLeader(opts: DemoteOptions): Promise<{ leader: string; wasMember: boolean }> {
  const { addr, clusterKey } = opts;
  const deadline = Date.now() + (opts.timeoutMs ?? MEMBERSHIP_TIMEOUT_MS);
  let lastNote = 0;
  // A DELETE that timed out may still have been applied: then the node is gone because of us.
  let deleteSent = false;
  for (;;) {
    let reason: string;
    try {
      const leader = await findLeader(addr, opts.servers, clusterKey);
      const base = `http://${leader}`;
      const members = await membersOf(base, clusterKey);
      if (!members.includes(addr)) return { leader, wasMember: deleteSent };
      // Flynn's CLI passed the node's http:// URL as this path segment, so the leader never found a
      // peer by that name and the forced demotion silently did nothing (spec §1.9). Raft peers are
      // named by their bare ip:port, and that is what we send.
      deleteSent = true;
      const answer = await request('DELETE', `${base}/raft/peers/${pathSegment(addr)}`, { clusterKey });
      if (answer.status === 200) return { leader, wasMember: true };
      const err = answerError('DELETE', answer);
      if (!isRetryable(err)) throw err;
      reason = err.message;
    } catch (err) {
      if (err instanceof NetworkError || err instanceof NoLeaderError) reason = err.message;
      else if (err instanceof DiscoverdError && isRetryable(err)) reason = err.message;
      else throw err;
    }
    if (Date.now() >= deadline) throw new CliError(`gave up removing ${addr}: ${reason}`);
    if (Date.now() - lastNote >= 10_000) {
      note(`${lastNote === 0 ? 'retrying' : 'still retrying'}: ${reason}`);
      lastNote = Date.now();
    }
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
  }
}

/** Voters and learners as the leader sees them. */
async function membersOf(base: string, clusterKey?: string): Promise<string[]> {
  const { value: voters } = await getJson<unknown>(`${base}/raft/peers`, { clusterKey });
  if (!Array.isArray(voters))
    throw new CliError(`GET ${base}/raft/peers answered something other than a list`);
  return [...(voters as string[]), ...(await fetchLearners(base, clusterKey))];
}

function isRetryable(err: DiscoverdError): boolean {
  // 409: another membership change is in progress; 503: no leader yet, or shutting down.
  return err.retry || err.status === 409 || err.status === 503;
}

class NoLeaderError extends CliError {}

/**
 * The Raft leader's `ip:port`, asking each server in turn (and the voters their answers name in
 * Discoverd-Peers). A follower may still name the dead node for an election timeout: not an answer.
 */
export async function findLeader(addr: string, servers: string[], clusterKey?: string): Promise<string> {
  const queue = servers.filter((s) => !sameNode(s, addr));
  if (queue.length === 0) {
    throw new CliError(`no discoverd server to ask for the leader besides ${addr} itself: pass --discoverd`);
  }
  const seen = new Set(queue);
  const reasons: string[] = [];
  for (let i = 0; i < queue.length; i++) {
    let answer: Answer;
    try {
      answer = await request('GET', `${queue[i]}/raft/leader`, { clusterKey, timeoutMs: REQUEST_TIMEOUT_MS });
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      reasons.push(err.message);
      continue;
    }
    for (const peer of (answer.headers.get('discoverd-peers') ?? '').split(',')) {
      const url = `http://${peer.trim()}`;
      if (peer.trim() && !seen.has(url) && peer.trim() !== addr) {
        seen.add(url);
        queue.push(url);
      }
    }
    if (answer.status !== 200) {
      reasons.push(answerError('GET', answer).message);
      continue;
    }
    let host: unknown;
    try {
      host = (JSON.parse(answer.text) as { host?: unknown }).host;
    } catch {
      host = undefined;
    }
    if (typeof host !== 'string' || host === '') {
      reasons.push(`GET ${answer.url} answered an unexpected body`);
    } else if (host === addr) {
      reasons.push(`${answer.url} still names ${addr} as the leader`);
    } else {
      return host;
    }
  }
  throw new NoLeaderError(`no Raft leader found: ${reasons.join('; ')}`);
}

function sameNode(url: string, addr: string): boolean {
  try {
    return new URL(url).host === addr;
  } catch {
    return false;
  }
}

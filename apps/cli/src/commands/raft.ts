import { type Answer, expectOk, getJson, originOf, request } from '../discoverd-http.js';
import { CliError, formatTable, note, printJson, println } from '../output.js';

// `flynn-host raft`: the Raft voters, learners and leader as discoverd sees them, from the first
// server of the list that answers.

export interface RaftView {
  /** The discoverd that answered. */
  server: string;
  leader: string | null;
  voters: string[];
  learners: string[];
}

export interface RaftOptions {
  servers: string[];
  clusterKey?: string;
  json?: boolean;
}

export async function raftCommand(opts: RaftOptions): Promise<void> {
  const view = await fetchRaftView(opts.servers, opts.clusterKey);
  if (opts.json) {
    printJson(view);
    return;
  }
  println(formatTable(['ADDRESS', 'ROLE'], raftRows(view)));
  if (!view.leader) note(`${view.server} knows no Raft leader right now`);
  // On stderr, so the table stays parseable: what redeploys should be given.
  note(`DISCOVERD_PEERS should list the voters: ${view.voters.join(',')}`);
}

export function raftRows(view: RaftView): string[][] {
  return [
    ...view.voters.map((v) => [v, v === view.leader ? 'voter (leader)' : 'voter']),
    ...view.learners.map((l) => [l, 'learner']),
  ];
}

/** Asks each server in turn; fails with every server's reason when none answers. */
export async function fetchRaftView(servers: string[], clusterKey?: string): Promise<RaftView> {
  const failures: string[] = [];
  for (const server of servers) {
    let voters: string[];
    let answer: Answer;
    try {
      // A proxy redirects reads to a peer: ask the one that answered for the rest.
      ({ value: voters, answer } = await getJson<string[]>(`${server}/raft/peers`, { clusterKey }));
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      failures.push(err.message);
      continue;
    }
    const origin = originOf(answer.url);
    // The key goes on to the node that answered only if it was trusted with it (a proxy's 307 may
    // point anywhere: see PeerTrust).
    const key = answer.trusted ? clusterKey : undefined;
    return {
      server: origin,
      leader: await fetchLeader(origin, key),
      voters: stringList(voters, `${origin}/raft/peers`),
      learners: await fetchLearners(origin, key),
    };
  }
  throw new CliError(
    failures.length === 1 ? failures[0] : `no discoverd server answered: ${failures.join('; ')}`,
  );
}

/** The leader's `ip:port`, or null when the server knows none (503). */
export async function fetchLeader(server: string, clusterKey?: string): Promise<string | null> {
  const answer = await request('GET', `${server}/raft/leader`, { clusterKey });
  if (answer.status === 503) return null;
  expectOk('GET', answer);
  try {
    const host = (JSON.parse(answer.text) as { host?: unknown }).host;
    if (typeof host === 'string' && host !== '') return host;
  } catch {
    // fall through
  }
  throw new CliError(`GET ${answer.url} answered an unexpected body: ${answer.text.slice(0, 100)}`);
}

/** Learners; Flynn's own discoverd has no such endpoint (plain 404), which means none. */
export async function fetchLearners(server: string, clusterKey?: string): Promise<string[]> {
  const answer = await request('GET', `${server}/raft/learners`, { clusterKey });
  if (answer.status === 404) return [];
  expectOk('GET', answer);
  try {
    return stringList(JSON.parse(answer.text), answer.url);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`GET ${answer.url} answered invalid JSON: ${answer.text.slice(0, 100)}`);
  }
}

function stringList(value: unknown, url: string): string[] {
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw new CliError(`GET ${url} answered ${JSON.stringify(value).slice(0, 100)}, not a list of addresses`);
}

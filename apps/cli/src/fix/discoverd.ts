import { fetchLeader } from '../commands/raft.js';
import { expectOk, getJson, request, sleep } from '../discoverd-http.js';
import type { HostRef } from '../hosts.js';
import { CliError } from '../output.js';

// Flynn's FixDiscoverd (host/fixer/discoverd.go), on our hosts' job lists: every host keeps its
// finished jobs (up to 1000), so the newest discoverd release's job on each host can be run again
// as it was — same args, env and data directory, hence the same Raft log and store. Then the wait
// for a discoverd leader.

/** A job as GET /host/jobs?reveal=1 lists it (the fields a re-run needs). */
export interface ListedJob {
  id: string;
  app: { id: string; name: string };
  processType: string;
  cmd: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  ports?: number[];
  health?: unknown;
  restart?: string;
  service?: string;
  meta?: Record<string, string>;
  artifact?: unknown;
  system?: boolean;
  state: string;
  stopRequested?: boolean;
  restartAt?: string;
  createdAt: string;
}

const DISCOVERD_APP = 'discoverd';
const DISCOVERD_TYPE = 'app';
const WAIT_MS = 60_000;

/** Running, starting, or crashed with its restart pending: it is there, or coming back. */
export function isPresent(j: ListedJob): boolean {
  if (j.stopRequested) return false;
  return j.state === 'running' || j.state === 'starting' || (j.state === 'crashed' && !!j.restartAt);
}

function releaseOf(j: ListedJob): string | undefined {
  return j.meta?.FLYNN_RELEASE_ID || j.env?.FLYNN_RELEASE_ID || undefined;
}

/** The spec that runs this job again under a new id (the host assigns it, and FLYNN_JOB_ID). */
export function respec(j: ListedJob): Record<string, unknown> {
  return {
    app: j.app,
    processType: j.processType,
    cmd: j.cmd,
    args: j.args,
    env: j.env,
    cwd: j.cwd,
    ports: j.ports?.length ?? 0,
    health: j.health,
    restart: j.restart,
    service: j.service,
    meta: j.meta,
    artifact: j.artifact,
    system: j.system,
  };
}

export async function listJobs(host: HostRef, clusterKey?: string): Promise<ListedJob[]> {
  return (await getJson<ListedJob[]>(`${host.url}/host/jobs?reveal=1`, { clusterKey, timeoutMs: 10_000 }))
    .value;
}

/**
 * For each release of the app's type, host id → the newest job of it there; releases newest first
 * (by their newest job), as Flynn's FindAppReleaseJobs orders them.
 */
export function releaseJobs(
  lists: { host: HostRef; jobs: ListedJob[] }[],
  app: string,
  type: string,
): Map<string, ListedJob>[] {
  const byRelease = new Map<string, { newest: string; hosts: Map<string, ListedJob> }>();
  for (const { host, jobs } of lists) {
    for (const j of jobs) {
      const release = releaseOf(j);
      if (j.app.name !== app || j.processType !== type || !release) continue;
      const r = byRelease.get(release) ?? { newest: j.createdAt, hosts: new Map<string, ListedJob>() };
      byRelease.set(release, r);
      if (j.createdAt > r.newest) r.newest = j.createdAt;
      const cur = r.hosts.get(host.id);
      if (!cur || cur.createdAt < j.createdAt) r.hosts.set(host.id, j);
    }
  }
  return [...byRelease.values()].sort((a, b) => b.newest.localeCompare(a.newest)).map((r) => r.hosts);
}

export async function fixDiscoverd(
  hosts: HostRef[],
  clusterKey: string | undefined,
  log: (line: string) => void,
): Promise<void> {
  log('ensuring discoverd is running on all hosts');
  const lists = await Promise.all(
    hosts.map(async (host) => {
      try {
        return { host, jobs: await listJobs(host, clusterKey) };
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        log(`error listing jobs host=${host.id} error="${err.message}"`);
        return { host, jobs: [] };
      }
    }),
  );
  const [newest] = releaseJobs(lists, DISCOVERD_APP, DISCOVERD_TYPE);
  if (!newest) throw new CliError("didn't find any discoverd release jobs");
  for (const { host, jobs } of lists) {
    const job = newest.get(host.id);
    if (!job) continue;
    const running = jobs.some(
      (j) => j.app.name === DISCOVERD_APP && j.processType === DISCOVERD_TYPE && isPresent(j),
    );
    if (running) continue;
    let answer: Awaited<ReturnType<typeof request>>;
    try {
      answer = expectOk(
        'POST',
        await request('POST', `${host.url}/host/jobs`, { clusterKey, body: respec(job), timeoutMs: 60_000 }),
      );
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      throw new CliError(`error starting discoverd on ${host.id}: ${err.message}`);
    }
    log(`started discoverd instance job.id=${(JSON.parse(answer.text) as { id: string }).id}`);
  }
}

/** Until a discoverd server knows a Raft leader (Flynn: until a discoverd instance answers). */
export async function waitForDiscoverd(servers: string[], clusterKey?: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let last = 'no discoverd server to ask';
  for (;;) {
    for (const server of servers) {
      try {
        if (!(await fetchLeader(server, clusterKey))) {
          last = `${server} knows no leader`;
          continue;
        }
        // A leader a node still names may be the one that just died: only a linearizable read
        // through it (redirects followed) shows one that answers.
        await getJson(`${server}/kv/?prefix=cluster%2F&limit=1`, { clusterKey, timeoutMs: 2000 });
        return;
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        last = err.message;
      }
    }
    if (Date.now() >= deadline) throw new CliError(`timed out waiting for discoverd, last error: ${last}`);
    await sleep(200);
  }
}

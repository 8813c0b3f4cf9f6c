import { getJson, NetworkError, request } from '../discoverd-http.js';
import { type HostRef, listHosts } from '../hosts.js';
import { CliError, formatTable, note, printJson, println } from '../output.js';
import { fetchRaftView, type RaftView } from './raft.js';

// `flynn-host list [--json]`: every host with its discoverd role, from discoverd's Raft view and
// the host's own discoverd port: `peer (leader)`, `peer` (a voter), `learner`, `proxy` (a
// discoverd answers there but is no member) or `none` (no discoverd answers on that address);
// and the version it runs (its registration's meta `version`, else its /host/status), with a
// warning on stderr when they differ: every host of a cluster should run the same one.

export interface ListOptions {
  servers: string[];
  clusterKey?: string;
  json?: boolean;
}

/** How long a host's discoverd port has to answer before it counts as `none`. */
const PROBE_TIMEOUT_MS = 2000;

function ipOf(hostPort: string): string {
  return hostPort.slice(0, hostPort.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}

/** The cluster's discoverd port (one port on every host, as in Flynn). */
function discoverdPort(raft: RaftView): string {
  const member = raft.voters[0] ?? raft.learners[0];
  return member ? member.slice(member.lastIndexOf(':') + 1) : new URL(raft.server).port || '80';
}

/** A member's role, else whether any discoverd (a proxy) answers on the host's address. */
async function roleOf(ip: string, raft: RaftView, port: string): Promise<string> {
  const voter = raft.voters.find((v) => ipOf(v) === ip);
  if (voter) return voter === raft.leader ? 'peer (leader)' : 'peer';
  if (raft.learners.some((l) => ipOf(l) === ip)) return 'learner';
  const host = ip.includes(':') ? `[${ip}]` : ip;
  try {
    // A proxy answers /ping with a redirect to a peer: any answer means a discoverd is there.
    await request('GET', `http://${host}:${port}/ping`, {
      timeoutMs: PROBE_TIMEOUT_MS,
      followRedirects: false,
    });
    return 'proxy';
  } catch (err) {
    if (err instanceof NetworkError) return 'none';
    throw err;
  }
}

/** A host's version: its registration says it; an older host answers it on /host/status. */
async function versionOf(
  h: HostRef & { meta?: Record<string, string> },
  clusterKey?: string,
): Promise<string> {
  if (h.meta?.version) return h.meta.version;
  try {
    const { value } = await getJson<{ version?: string }>(`${h.url}/host/status`, {
      clusterKey,
      timeoutMs: PROBE_TIMEOUT_MS,
    });
    return value.version ?? 'unknown';
  } catch (err) {
    if (err instanceof CliError) return 'unknown';
    throw err;
  }
}

/** `<id>=<version>, …` when the known versions differ, else undefined. */
export function versionMismatch(rows: { id: string; version: string }[]): string | undefined {
  const known = rows.filter((r) => r.version !== 'unknown');
  if (new Set(known.map((r) => r.version)).size < 2) return undefined;
  return known.map((r) => `${r.id}=${r.version}`).join(', ');
}

export async function listCommand(opts: ListOptions): Promise<void> {
  const [hosts, raft] = await Promise.all([
    listHosts(opts.servers, opts.clusterKey),
    fetchRaftView(opts.servers, opts.clusterKey),
  ]);
  const port = discoverdPort(raft);
  const rows = await Promise.all(
    hosts.map(async (h) => ({
      id: h.id,
      addr: h.addr,
      raft: await roleOf(ipOf(h.addr), raft, port),
      version: await versionOf(h, opts.clusterKey),
    })),
  );
  const mismatch = versionMismatch(rows);
  if (mismatch) note(`hosts run different versions: ${mismatch}`);
  if (opts.json) return printJson(rows);
  println(
    formatTable(
      ['ID', 'ADDR', 'RAFT STATUS', 'VERSION'],
      rows.map((r) => [r.id, r.addr, r.raft, r.version]),
    ),
  );
}

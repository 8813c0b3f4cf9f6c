import { NetworkError, request } from '../discoverd-http.js';
import { listHosts } from '../hosts.js';
import { formatTable, printJson, println } from '../output.js';
import { fetchRaftView, type RaftView } from './raft.js';

// `flynn-host list [--json]`: every host with its discoverd role, from discoverd's Raft view and
// the host's own discoverd port: `peer (leader)`, `peer` (a voter), `learner`, `proxy` (a
// discoverd answers there but is no member) or `none` (no discoverd answers on that address).

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

export async function listCommand(opts: ListOptions): Promise<void> {
  const [hosts, raft] = await Promise.all([
    listHosts(opts.servers, opts.clusterKey),
    fetchRaftView(opts.servers, opts.clusterKey),
  ]);
  const port = discoverdPort(raft);
  const rows = await Promise.all(
    hosts.map(async (h) => ({ id: h.id, addr: h.addr, raft: await roleOf(ipOf(h.addr), raft, port) })),
  );
  if (opts.json) return printJson(rows);
  println(
    formatTable(
      ['ID', 'ADDR', 'RAFT STATUS'],
      rows.map((r) => [r.id, r.addr, r.raft]),
    ),
  );
}

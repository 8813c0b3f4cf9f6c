import { listHosts } from '../hosts.js';
import { formatTable, printJson, println } from '../output.js';
import { fetchRaftView } from './raft.js';

// `flynn-host list [--json]`: every host with its Raft role — `peer`, `peer (leader)` or `proxy`
// — from discoverd: a host whose address is a Raft voter is a peer.

export interface ListOptions {
  servers: string[];
  clusterKey?: string;
  json?: boolean;
}

function ipOf(hostPort: string): string {
  return hostPort.slice(0, hostPort.lastIndexOf(':')).replace(/^\[|\]$/g, '');
}

export async function listCommand(opts: ListOptions): Promise<void> {
  const [hosts, raft] = await Promise.all([
    listHosts(opts.servers, opts.clusterKey),
    fetchRaftView(opts.servers, opts.clusterKey),
  ]);
  const rows = hosts.map((h) => {
    const ip = ipOf(h.addr);
    const voter = raft.voters.find((v) => ipOf(v) === ip);
    const role = voter ? (voter === raft.leader ? 'peer (leader)' : 'peer') : 'proxy';
    return { id: h.id, addr: h.addr, raft: role };
  });
  if (opts.json) return printJson(rows);
  println(
    formatTable(
      ['ID', 'ADDR', 'RAFT STATUS'],
      rows.map((r) => [r.id, r.addr, r.raft]),
    ),
  );
}

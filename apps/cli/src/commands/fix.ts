import { fixDiscoverd, waitForDiscoverd } from '../fix/discoverd.js';
import { fixFormations } from '../fix/formations.js';
import { findHosts } from '../fix/hosts.js';
import { CliError } from '../output.js';

// `flynn-host fix -n <min hosts> [--peer-ips <list>]` (Flynn's host/fixer): find the hosts, run
// discoverd again from the hosts' job history where it is missing, wait for a leader, then bring
// every app back to its formation on the hosts that are left. Progress on stderr, in the words
// of Flynn's log lines.

export interface FixOptions {
  minHosts?: string;
  peerIps?: string;
  servers: string[];
  clusterKey?: string;
  /** Default: stderr. */
  log?: (line: string) => void;
}

/** `-n`: an integer ≥ 1, else Flynn's message (a usage error). */
export function parseMinHosts(value: string | undefined): number {
  const n = value === undefined || !/^\s*\d+\s*$/.test(value) ? Number.NaN : Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError('invalid or missing --min-hosts value', 2);
  return n;
}

export async function fixCommand(opts: FixOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const minHosts = parseMinHosts(opts.minHosts);
  const peerIps = opts.peerIps
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const { hosts, unreachable } = await findHosts({
    minHosts,
    peerIps,
    servers: opts.servers,
    clusterKey: opts.clusterKey,
    log,
  });
  for (const u of unreachable) log(`host does not answer, skipped host=${u.host.id} error="${u.error}"`);
  if (hosts.length < minHosts) {
    throw new CliError(`expected at least ${minHosts} hosts, but ${hosts.length} found`);
  }
  log(`found expected hosts n=${hosts.length}`);
  await fixDiscoverd(hosts, opts.clusterKey, log);
  log('waiting for discoverd to be available');
  await waitForDiscoverd(opts.servers, opts.clusterKey);
  await fixFormations(hosts, opts.servers, opts.clusterKey, log);
  log('cluster fix complete');
}

import { getJson, hostPort } from '../discoverd-http.js';
import { type HostRef, listHosts } from '../hosts.js';
import { CliError } from '../output.js';

// Which hosts `flynn-host fix` works on (Flynn's host/fixer/fixer.go Run): the flynn-host
// instances discoverd lists, else the --peer-ips. [+] With discoverd down and no --peer-ips, the
// hosts behind the DISCOVERD servers (discoverd runs on every consensus host) are tried, so a
// cluster whose every discoverd died can be fixed with the environment it already has. A listed
// host whose API does not answer is left out (its registration outlives it until it expires).

/** Flynn's host API port. */
export const HOST_API_PORT = 1113;

export interface FoundHosts {
  hosts: HostRef[];
  /** Hosts discoverd listed that did not answer. */
  unreachable: { host: HostRef; error: string }[];
}

export interface FindHostsOptions {
  minHosts: number;
  /** `--peer-ips`: IP[:PORT] entries, the port defaulting to 1113. */
  peerIps?: string[];
  servers: string[];
  clusterKey?: string;
  log: (line: string) => void;
}

interface HostStatus {
  id: string;
}

async function statusOf(addr: string, clusterKey?: string): Promise<HostStatus> {
  return (await getJson<HostStatus>(`http://${addr}/host/status`, { clusterKey, timeoutMs: 5000 })).value;
}

/** `IP[:PORT]` as host:port, the port defaulting to 1113 (usage error when it is no address). */
export function peerAddr(entry: string): string {
  try {
    return hostPort(entry, HOST_API_PORT);
  } catch (err) {
    throw new CliError(`--peer-ips: ${(err as Error).message}`, 2);
  }
}

/** The hosts behind these addresses, by their /host/status; the first that fails ends it. */
async function hostsAt(addrs: string[], clusterKey?: string): Promise<HostRef[]> {
  const out: HostRef[] = [];
  for (const addr of addrs) {
    let status: HostStatus;
    try {
      status = await statusOf(addr, clusterKey);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      throw new CliError(`error connecting to ${addr.replace(`:${HOST_API_PORT}`, '')}: ${err.message}`);
    }
    out.push({ id: status.id, addr, url: `http://${addr}` });
  }
  return out;
}

/** The discoverd servers' hosts, on the host API port: the [+] fallback. */
function serverHostAddrs(servers: string[]): string[] {
  const ips = servers.map((s) => new URL(s).hostname);
  return [...new Set(ips)].map((ip) => hostPort(ip, HOST_API_PORT));
}

export async function findHosts(o: FindHostsOptions): Promise<FoundHosts> {
  let listed: HostRef[];
  try {
    listed = await listHosts(o.servers, o.clusterKey);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    o.log(`unable to list hosts from discoverd, falling back to peer IP list error="${err.message}"`);
    return { hosts: await fallbackHosts(o, err.message), unreachable: [] };
  }
  const answered = await Promise.all(
    listed.map(async (host) => {
      try {
        await statusOf(host.addr, o.clusterKey);
        return { host };
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        return { host, error: err.message };
      }
    }),
  );
  return {
    hosts: answered.filter((a) => a.error === undefined).map((a) => a.host),
    unreachable: answered.flatMap((a) => (a.error === undefined ? [] : [{ host: a.host, error: a.error }])),
  };
}

async function fallbackHosts(o: FindHostsOptions, discoverdError: string): Promise<HostRef[]> {
  const ips = o.peerIps ?? [];
  if (ips.length > 0) {
    if (ips.length < o.minHosts) {
      throw new CliError(
        `number of peer IPs provided (${ips.length}) is less than --min-hosts (${o.minHosts})`,
      );
    }
    return hostsAt(ips.map(peerAddr), o.clusterKey);
  }
  // [+] The DISCOVERD servers' hosts, when there are enough of them and they all answer.
  const addrs = serverHostAddrs(o.servers);
  if (addrs.length >= o.minHosts) {
    try {
      return await hostsAt(addrs, o.clusterKey);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
    }
  }
  throw new CliError(`error connecting to discoverd, use --peer-ips: ${discoverdError}`);
}

import { setTimeout as sleep } from 'node:timers/promises';

// `-wait-net-dns` (spec §1.1): take the DNS listen address and the recursors from the host
// daemon's network status (GET http://$EXTERNAL_IP:1113/host/status), once it reports a subnet.
// The DNS address is the subnet's first IP on port 53 (5353 when not root: design.md's ports).

export interface HostNetwork {
  subnet?: string;
  resolvers?: string[];
}

export interface NetDns {
  dnsAddr: string;
  recursors: string[];
}

/** The first address of an IPv4 CIDR (`10.0.0.1/24` → `10.0.0.1`; a /32 is the address itself). */
export function firstIp(subnet: string): string {
  const [ip, bitsText] = subnet.split('/');
  const bits = Number(bitsText ?? 32);
  const parts = (ip ?? '').split('.').map(Number);
  if (
    parts.length !== 4 ||
    parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255) ||
    !(bits >= 0 && bits <= 32)
  ) {
    throw new Error(`invalid subnet ${JSON.stringify(subnet)}`);
  }
  if (bits >= 31) return parts.join('.');
  const n = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const first = ((n & mask) + 1) >>> 0;
  return [first >>> 24, (first >>> 16) & 255, (first >>> 8) & 255, first & 255].join('.');
}

export async function waitNetDns(
  hostStatusUrl: string,
  opts: { port: number; log: (msg: string) => void; signal?: AbortSignal; clusterKey?: string },
): Promise<NetDns> {
  let said = false;
  // A host daemon run with a cluster key answers its whole API only to holders of the key.
  const headers: Record<string, string> = opts.clusterKey
    ? { authorization: `Bearer ${opts.clusterKey}` }
    : {};
  for (;;) {
    try {
      const r = await fetch(hostStatusUrl, { headers, signal: AbortSignal.timeout(2000) });
      if (r.status === 401 && !said) {
        opts.log(`the host daemon at ${hostStatusUrl} wants the cluster key (set CLUSTER_KEY)`);
        said = true;
      }
      if (r.ok) {
        const status = (await r.json()) as { network?: HostNetwork };
        const subnet = status.network?.subnet;
        if (subnet) {
          return { dnsAddr: `${firstIp(subnet)}:${opts.port}`, recursors: status.network?.resolvers ?? [] };
        }
      }
    } catch (err) {
      if (opts.signal?.aborted) throw err;
    }
    if (!said) {
      opts.log(`waiting for the host network status at ${hostStatusUrl}`);
      said = true;
    }
    await sleep(500, undefined, { signal: opts.signal });
  }
}

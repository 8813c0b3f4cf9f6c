import { defineFlags, type FlagValues } from '@flynn-edge/service-kit';

// discoverd's flags, and what they resolve to on a flynn-host: one release (the same args on
// every host) runs anywhere because the host gives each job EXTERNAL_IP and, for a system job,
// FLYNN_DATA_DIR.

export const discoverdFlags = defineFlags({
  'data-dir': {
    type: 'string',
    env: 'FLYNN_DATA_DIR',
    usage: 'directory for the Raft log and snapshots (required; flynn-host sets $FLYNN_DATA_DIR)',
  },
  host: { type: 'string', env: 'EXTERNAL_IP', usage: 'advertised host (required; default $EXTERNAL_IP)' },
  peers: {
    type: 'string',
    default: '',
    env: 'DISCOVERD_PEERS',
    usage: 'comma-separated Raft peers of a new cluster',
  },
  addr: {
    type: 'string',
    default: ':1111',
    usage: 'listen address; HTTP and Raft share it (":PORT" binds $EXTERNAL_IP:PORT when it is set)',
  },
  'dns-addr': {
    type: 'string',
    default: '',
    usage: 'DNS listen address, UDP and TCP (":PORT" binds $EXTERNAL_IP:PORT when it is set)',
  },
  recursors: {
    type: 'string',
    default: '',
    usage: 'comma-separated DNS recursors for names outside discoverd.',
  },
  notify: {
    type: 'string',
    default: '',
    usage: 'URL to POST the discoverd and DNS addresses to once serving',
  },
  'wait-net-dns': { type: 'boolean', usage: "take the DNS address from the host daemon's network status" },
  'instance-ttl': {
    type: 'duration',
    default: '10s',
    usage: 'instances expire this long after their last heartbeat (Flynn: 10s; tests shorten it)',
  },
  'election-timeout': {
    type: 'duration',
    default: '500ms',
    usage:
      'minimum Raft election timeout, randomised up to twice this (Flynn: 1s; 500ms keeps failover under 1.5 s)',
  },
  'force-new-cluster': {
    type: 'boolean',
    usage: 'lost quorum: restart this node as the only voter of a new cluster, keeping its committed data',
  },
  'cluster-key': {
    type: 'string',
    default: '',
    env: 'CLUSTER_KEY',
    usage: 'key required by /kv/ and by membership changes (prefer the CLUSTER_KEY env var)',
  },
});

export type DiscoverdFlags = FlagValues<typeof discoverdFlags>;

/**
 * `:PORT` → `$EXTERNAL_IP:PORT` when the host set EXTERNAL_IP: on a host with several addresses
 * (or several daemons on 127.0.0.x) a job binds its own host's address, as Flynn's did.
 */
export function bindAddr(addr: string, externalIp: string | undefined): string {
  return addr.startsWith(':') && externalIp ? `${externalIp}${addr}` : addr;
}

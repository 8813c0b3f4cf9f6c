import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { defineFlags, type FlagValues, parseFlags } from '@flynn-edge/service-kit';

// `flynn-host daemon` flags, named as Flynn's where Flynn had them (--id, --external-ip,
// --state, --log-dir, --volpath, --zpool-name); Go-style syntax like every daemon here.

export const daemonFlags = defineFlags({
  id: {
    type: 'string',
    env: 'FLYNN_HOST_ID',
    usage: "host id (default: the machine hostname without '-' and other signs)",
  },
  'external-ip': {
    type: 'string',
    env: 'EXTERNAL_IP',
    default: '127.0.0.1',
    usage: 'address other hosts reach this one on; the API binds it',
  },
  'api-port': { type: 'int', default: 1113, usage: 'host API port' },
  state: { type: 'string', default: '/var/lib/flynn', usage: 'state directory (jobs, spools)' },
  'log-dir': { type: 'string', default: '/var/log/flynn', usage: 'per-app log files and flynn-host.log' },
  'log-max-size': {
    type: 'int',
    default: 100 * 1024 * 1024,
    usage: 'rotate an app log before it passes this many bytes (one old file is kept)',
  },
  volpath: {
    type: 'string',
    default: '/var/lib/flynn/volumes',
    usage: 'volume state and the sparse-file pool',
  },
  'zpool-name': { type: 'string', default: 'flynn-default', usage: 'ZFS pool for volumes' },
  'no-volumes': { type: 'boolean', usage: 'run without ZFS volumes' },
  'job-port-range': {
    type: 'string',
    default: '49152-65535',
    usage: 'ports handed to jobs as PORT_0, PORT_1, …',
  },
  'cluster-key': { type: 'string', default: '', env: 'CLUSTER_KEY', usage: 'key the host API requires' },
  'peer-ips': {
    type: 'string',
    default: '',
    usage: 'join an existing cluster: comma-separated IPs of its hosts (discoverd on <ip>:1111)',
  },
  discovery: { type: 'string', default: '', usage: 'join with a discovery token (not supported yet)' },
});

/** discoverd's port on every host (Flynn's, fixed: --peer-ips names hosts, not servers). */
export const DISCOVERD_PORT = 1111;

export type DaemonFlags = FlagValues<typeof daemonFlags>;

export interface DaemonConfig {
  id: string;
  externalIp: string;
  apiPort: number;
  stateDir: string;
  logDir: string;
  logMaxSize: number;
  volPath: string;
  zpoolName: string;
  volumes: boolean;
  jobPorts: { start: number; end: number };
  discoverd: string[];
  /** --peer-ips: the hosts of the cluster this one joins. */
  peerIps: string[];
  clusterKey: string;
}

export class DaemonConfigError extends Error {
  override readonly name = 'DaemonConfigError';
}

function portRange(v: string): { start: number; end: number } {
  const m = /^(\d+)-(\d+)$/.exec(v);
  const start = Number(m?.[1]);
  const end = Number(m?.[2]);
  if (!m || start < 1 || end > 65535 || start > end) {
    throw new DaemonConfigError(`-job-port-range: want START-END, got ${JSON.stringify(v)}`);
  }
  return { start, end };
}

export function loadDaemonConfig(argv: string[], env: NodeJS.ProcessEnv): DaemonConfig {
  const { flags } = parseFlags(daemonFlags, argv, env);
  // The default drops what a job id's prefix cannot hold ('web-1' → 'web1').
  const id = flags.id || hostname().replace(/[^A-Za-z0-9_.]/g, '') || 'host';
  // Job ids are `<hostId>-<uuid>` and the CLI finds a job's host from that prefix.
  if (!/^[A-Za-z0-9][A-Za-z0-9_.]*$/.test(id)) {
    throw new DaemonConfigError(`-id must be letters, digits, '_' and '.' (no '-'): ${JSON.stringify(id)}`);
  }
  if (flags.discovery) {
    throw new DaemonConfigError('-discovery: discovery tokens are not supported yet (use -peer-ips)');
  }
  const peerIps = flags.peerIps
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = peerIps.find((ip) => !isIP(ip));
  if (bad !== undefined) throw new DaemonConfigError(`-peer-ips: not an IP address: ${JSON.stringify(bad)}`);
  const servers = discoverdServers(env.DISCOVERD, flags.externalIp, peerIps);
  return {
    id,
    externalIp: flags.externalIp,
    apiPort: flags.apiPort,
    stateDir: flags.state,
    logDir: flags.logDir,
    logMaxSize: flags.logMaxSize,
    volPath: flags.volpath || join(flags.state, 'volumes'),
    zpoolName: flags.zpoolName,
    volumes: !flags.noVolumes,
    jobPorts: portRange(flags.jobPortRange),
    discoverd: servers,
    peerIps,
    clusterKey: flags.clusterKey,
  };
}

/**
 * Where the daemon (and its jobs, as $DISCOVERD) find discoverd: $DISCOVERD when set; else this
 * host and its peers (its own first: once its discoverd job runs, the nearest answer).
 */
export function discoverdServers(
  discoverdEnv: string | undefined,
  externalIp: string,
  peerIps: string[],
): string[] {
  if (discoverdEnv && discoverdEnv !== 'none') {
    return discoverdEnv
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }
  return [...new Set([externalIp, ...peerIps])].map(
    (ip) => `${ip.includes(':') ? `[${ip}]` : ip}:${DISCOVERD_PORT}`,
  );
}

import { parseRecursors } from '@flynn-edge/discoverd-dns';
import { DiscoverdServer } from '@flynn-edge/discoverd-server';
import {
  createLogger,
  defineFlags,
  installSignalHandlers,
  onShutdown,
  parseFlagsOrExit,
  runMain,
} from '@flynn-edge/service-kit';
import { waitNetDns } from './net-dns.js';

// discoverd: thin wiring of flags, logging and signals around packages/discoverd-server.

const spec = defineFlags({
  'data-dir': { type: 'string', usage: 'directory for the Raft log and snapshots (required)' },
  host: { type: 'string', usage: 'advertised host (required)' },
  peers: {
    type: 'string',
    default: '',
    env: 'DISCOVERD_PEERS',
    usage: 'comma-separated Raft peers of a new cluster',
  },
  addr: { type: 'string', default: ':1111', usage: 'listen address; HTTP and Raft share it' },
  'dns-addr': { type: 'string', default: '', usage: 'DNS listen address (UDP and TCP)' },
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

runMain(async () => {
  const { flags } = parseFlagsOrExit(spec, process.argv.slice(2), process.env, { prog: 'discoverd' });
  if (!flags.dataDir) throw new Error('-data-dir is required');
  if (!flags.host) throw new Error('-host is required');
  const log = createLogger({ component: 'discoverd', host: flags.host });
  let dnsAddr = flags.dnsAddr || undefined;
  let recursors = flags.recursors ? parseRecursors(flags.recursors) : undefined;
  if (flags.waitNetDns) {
    const external = process.env.EXTERNAL_IP || flags.host;
    const net = await waitNetDns(`http://${external}:1113/host/status`, {
      port: process.getuid?.() === 0 ? 53 : 5353,
      log: (m) => log.info(m),
      clusterKey: flags.clusterKey || undefined,
    });
    dnsAddr ??= net.dnsAddr;
    if (!recursors && net.recursors.length > 0) recursors = parseRecursors(net.recursors.join(','));
    log.info({ dnsAddr, recursors: net.recursors }, 'DNS address from the host network status');
  }
  const server = new DiscoverdServer({
    addr: flags.addr,
    host: flags.host,
    dataDir: flags.dataDir,
    peers: flags.peers.split(','),
    dnsAddr,
    recursors,
    ttlMs: flags.instanceTtl,
    forceNewCluster: flags.forceNewCluster,
    notifyUrl: flags.notify || undefined,
    tickMs: 100,
    electionTicks: Math.max(2, Math.round(flags.electionTimeout / 100)),
    logger: log,
    clusterKey: flags.clusterKey || undefined,
    // flynn-host gives every job HOST_ID: the `discoverd` instance carries it (Prometheus's host label).
    hostId: process.env.HOST_ID || undefined,
    version: process.env.FLYNN_VERSION ?? 'dev',
  });
  await server.start();
  onShutdown(() => server.close(), { name: 'discoverd' });
  installSignalHandlers({ logger: log });
});

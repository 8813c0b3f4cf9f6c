import { parseRecursors } from '@flynn-edge/discoverd-dns';
import { DiscoverdServer } from '@flynn-edge/discoverd-server';
import {
  createLogger,
  installSignalHandlers,
  onShutdown,
  parseFlagsOrExit,
  runMain,
} from '@flynn-edge/service-kit';
import { bindAddr, discoverdFlags } from './flags.js';
import { waitNetDns } from './net-dns.js';

// discoverd: thin wiring of flags, logging and signals around packages/discoverd-server.

runMain(async () => {
  const { flags } = parseFlagsOrExit(discoverdFlags, process.argv.slice(2), process.env, {
    prog: 'discoverd',
  });
  if (!flags.dataDir) throw new Error('-data-dir is required (or set $FLYNN_DATA_DIR)');
  if (!flags.host) throw new Error('-host is required (or set $EXTERNAL_IP)');
  const log = createLogger({ component: 'discoverd', host: flags.host });
  const externalIp = process.env.EXTERNAL_IP || undefined;
  let dnsAddr = flags.dnsAddr ? bindAddr(flags.dnsAddr, externalIp) : undefined;
  let recursors = flags.recursors ? parseRecursors(flags.recursors) : undefined;
  if (flags.waitNetDns) {
    const external = externalIp ?? flags.host;
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
    addr: bindAddr(flags.addr, externalIp),
    host: flags.host,
    dataDir: flags.dataDir,
    // Flynn's DISCOVERD_PEERS ends with a comma: empty entries are dropped.
    peers: flags.peers
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
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

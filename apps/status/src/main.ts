// bin/status: Go-style flags, then a StatusServer that serves until SIGTERM/SIGINT.

import {
  createLogger,
  installSignalHandlers,
  onShutdown,
  parseFlagsOrExit,
  runMain,
} from '@flynn-edge/service-kit';
import { flagSpec, list, parseListenAddr } from './flags.js';
import { COMPONENTS, StatusServer } from './server.js';

async function main(): Promise<void> {
  const { flags } = parseFlagsOrExit(flagSpec, process.argv.slice(2), process.env, { prog: 'status' });
  const logger = createLogger({ component: 'status', level: flags.logLevel });
  let listen: { host: string; port: number };
  try {
    listen = parseListenAddr(flags.addr);
  } catch (err) {
    process.stderr.write(`status: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const unknown = [...list(flags.optional), ...list(flags.disable)].filter(
    (c) => !(COMPONENTS as readonly string[]).includes(c),
  );
  if (unknown.length > 0) {
    process.stderr.write(
      `status: unknown component(s) ${unknown.join(', ')} (known: ${COMPONENTS.join(', ')})\n`,
    );
    process.exit(2);
  }
  const env = process.env;
  const authKey = env.AUTH_KEY || undefined;
  if (!authKey) logger.warn('AUTH_KEY is not set: the status is open to every client address');
  const wildcard = listen.host === '0.0.0.0' || listen.host === '::';
  const advertiseHost = wildcard ? env.EXTERNAL_IP : listen.host;
  if (flags.register && !advertiseHost)
    logger.warn('not registering: listening on every interface and EXTERNAL_IP is not set');
  const server = new StatusServer({
    ...listen,
    discoverd: list(flags.discoverd ?? '127.0.0.1:1111'),
    authKey,
    hostId: env.HOST_ID || env.FLYNN_HOST_ID || undefined,
    advertise: flags.register && advertiseHost ? `${advertiseHost}:${listen.port}` : undefined,
    optional: list(flags.optional),
    disabled: list(flags.disable),
    version: env.FLYNN_VERSION || 'dev',
    timeoutMs: flags.timeout,
    ttlMs: flags.cacheTtl,
    raftMaxLag: flags.raftMaxLag,
    minFreeRatio: flags.logDiskMinFreeRatio,
    minFreeBytes: flags.logDiskMinFreeBytes,
    canaryApp: flags.canaryApp,
    clusterKey: env.CLUSTER_KEY || undefined,
    logger,
  });
  await server.start();
  logger.info({ addr: server.address, host_id: env.HOST_ID }, 'status listening');
  onShutdown(() => server.close(), { name: 'status' });
  installSignalHandlers({ logger });
}

runMain(main);

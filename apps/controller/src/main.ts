// bin/controller: Go-style flags, CLUSTER_KEY from the environment (required), then a
// ControllerGateway that serves until SIGTERM/SIGINT.

import {
  createLogger,
  installSignalHandlers,
  onShutdown,
  parseFlagsOrExit,
  runMain,
} from '@flynn-edge/service-kit';
import { advertised, flagSpec, list, parseListenAddr } from './flags.js';
import { ControllerGateway } from './gateway.js';

function usageError(message: string): never {
  process.stderr.write(`controller: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { flags } = parseFlagsOrExit(flagSpec, process.argv.slice(2), process.env, { prog: 'controller' });
  const env = process.env;
  const clusterKey = env.CLUSTER_KEY ?? '';
  if (clusterKey === '') usageError('CLUSTER_KEY must be set: every request through the gateway needs it');
  let listen: { host: string; port: number };
  let metricsListen: { host: string; port: number } | undefined;
  try {
    listen = parseListenAddr(flags.addr);
    metricsListen = flags.metricsAddr ? parseListenAddr(flags.metricsAddr, '-metrics-addr') : undefined;
  } catch (err) {
    usageError((err as Error).message);
  }
  const logger = createLogger({ component: 'controller', level: flags.logLevel });
  const advertise = advertised(listen, env.EXTERNAL_IP);
  if (flags.register && !advertise)
    logger.warn('not registering: listening on every interface and EXTERNAL_IP is not set');
  const gateway = new ControllerGateway({
    ...listen,
    discoverd: list(flags.discoverd ?? '127.0.0.1:1111'),
    clusterKey,
    advertise: flags.register ? advertise : undefined,
    metrics: metricsListen && { ...metricsListen, advertise: advertised(metricsListen, env.EXTERNAL_IP) },
    hostId: env.HOST_ID || undefined,
    version: env.FLYNN_VERSION || 'dev',
    timeoutMs: flags.timeout,
    logger,
  });
  await gateway.start();
  logger.info(
    { addr: gateway.address, registered: flags.register ? advertise : undefined },
    'controller listening',
  );
  onShutdown(() => gateway.close(), { name: 'controller' });
  installSignalHandlers({ logger });
}

runMain(main);

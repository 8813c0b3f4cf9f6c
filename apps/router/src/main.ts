import cluster from 'node:cluster';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import {
  createLogger,
  createMetrics,
  FlagError,
  flagUsage,
  installSignalHandlers,
  onShutdown,
  runMain,
} from '@flynn-edge/service-kit';
import { resolveDefaultCertificate } from '@flynn-edge/tls';
import { ConfigError, fetchErrorPage, flagSpec, loadConfig, type RouterConfig } from './config.js';
import { ControlPlane } from './control-plane.js';
import { DataPlane } from './data-plane.js';
import { asListenError, type WorkerInit, withBindRetries } from './ipc.js';
import { runWorker } from './worker.js';
import { type DataPlaneHandle, WorkerPool } from './worker-pool.js';

// bin/router: the primary parses flags, resolves the default certificate and the 503 page once,
// serves the route API and metrics, and runs the proxy in worker processes (or in itself with
// -workers 0). SIGHUP replaces the workers one at a time; SIGTERM/SIGINT stop gracefully.
// A port the router cannot bind ends the start with one line naming it (exit 1), never a stack.

/** Exit on a listen failure with one line on stderr; anything else is runMain's to report. */
function exitOnListenFailure(err: unknown): void {
  const failure = asListenError(err);
  if (!failure) return;
  process.stderr.write(`router: ${failure.message}\n`);
  process.exit(1);
}

/** Binds a port for a moment: one held by another process fails the start now, not in a worker. */
function probeListen(host: string, port: number): Promise<void> {
  return withBindRetries(
    () =>
      new Promise<void>((resolve, reject) => {
        const server = createServer();
        server.once('error', (err) => reject(asListenError(err) ?? err));
        server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
      }),
  );
}

async function probePorts(config: RouterConfig): Promise<void> {
  const probes: [string, number][] = [...config.httpPorts, ...config.httpsPorts, config.apiPort].map((p) => [
    config.listenIp,
    p,
  ]);
  for (let p = config.tcpRange.start; p <= config.tcpRange.end; p++) probes.push([config.tcpIp, p]);
  // In batches: the default TCP range alone is 501 ports.
  for (let i = 0; i < probes.length; i += 64) {
    await Promise.all(probes.slice(i, i + 64).map(([host, port]) => probeListen(host, port)));
  }
}

async function runPrimary(): Promise<void> {
  try {
    await startPrimary();
  } catch (err) {
    exitOnListenFailure(err);
    throw err;
  }
}

async function startPrimary(): Promise<void> {
  let config: RouterConfig;
  try {
    config = loadConfig(process.argv.slice(2), process.env, availableParallelism());
  } catch (err) {
    if (err instanceof FlagError || err instanceof ConfigError) {
      process.stderr.write(
        `router: ${err.message}\n${err instanceof FlagError ? flagUsage(flagSpec, 'router') : ''}`,
      );
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ component: 'router', level: config.debug ? 'debug' : undefined });
  const defaultCert = resolveDefaultCertificate(config.defaultCert, {
    log: (m) => log.warn(m),
    names: ['localhost'],
  });
  // Flynn overwrote TLSKEY once read, so the key does not linger in the environment.
  if (process.env.TLSKEY) process.env.TLSKEY = 'redacted';
  await probePorts(config);
  const errorPage = await fetchErrorPage(config.error503PageUrl);
  const metrics = createMetrics('router');

  let dataPlane: DataPlaneHandle;
  let stopData: () => Promise<void>;
  let restart: (() => Promise<void>) | undefined;
  if (config.workers === 0) {
    const plane = new DataPlane({
      config,
      defaultCert,
      errorPage,
      log,
      registry: metrics.registry,
    });
    dataPlane = { drain: (s, a) => plane.drain(s, a), status: () => [plane.status()] };
    stopData = () => plane.close();
    await plane.start();
  } else {
    const init: WorkerInit = {
      config,
      defaultCert: { certPem: defaultCert.certPem, keyPem: defaultCert.keyPem },
      errorPage: errorPage?.toString('base64'),
    };
    const pool = new WorkerPool(config.workers, init, log, (err) => {
      exitOnListenFailure(err);
      log.fatal({ err: err.message }, 'no worker could be started');
      process.exit(1);
    });
    dataPlane = pool;
    stopData = () => pool.close();
    restart = () => pool.restart();
    await pool.start();
  }

  const control = new ControlPlane({ config, log, dataPlane, clusterMetrics: config.workers > 0, metrics });
  await control.start();
  await control.register();
  log.info(
    {
      http: config.httpPorts,
      https: config.httpsPorts,
      api: config.apiPort,
      tcp: `${config.tcpRange.start}-${config.tcpRange.end}`,
      workers: config.workers,
    },
    'router serving',
  );

  // Handlers run in reverse order: leave discoverd first, then let the data plane finish.
  onShutdown(() => stopData(), { name: 'data plane', timeoutMs: 45_000 });
  onShutdown(() => control.close(), { name: 'control plane' });
  installSignalHandlers({ logger: log });
  process.on('SIGHUP', () => {
    if (!restart) return log.warn('SIGHUP: no workers to replace (-workers 0)');
    log.info('SIGHUP: replacing workers one at a time');
    restart().then(
      () => log.info('workers replaced'),
      (err: Error) => log.error({ err: err.message }, 'worker replacement failed'),
    );
  });
}

if (cluster.isWorker) runWorker();
else runMain(runPrimary);

import cluster from 'node:cluster';
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
import { ConfigError, fetchErrorPage, flagSpec, loadConfig } from './config.js';
import { ControlPlane } from './control-plane.js';
import { DataPlane } from './data-plane.js';
import type { WorkerInit } from './ipc.js';
import { runWorker } from './worker.js';
import { type DataPlaneHandle, WorkerPool } from './worker-pool.js';

// bin/router: the primary parses flags, resolves the default certificate and the 503 page once,
// serves the route API and metrics, and runs the proxy in worker processes (or in itself with
// -workers 0). SIGHUP replaces the workers one at a time; SIGTERM/SIGINT stop gracefully.

async function runPrimary(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
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
    const pool = new WorkerPool(config.workers, init, log);
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

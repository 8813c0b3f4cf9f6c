import { createLogger } from '@flynn-edge/service-kit';
import { AggregatorRegistry, collectDefaultMetrics, Registry } from 'prom-client';
import { DataPlane } from './data-plane.js';
import { listenFailureOf, type PrimaryMessage, type WorkerInit, type WorkerMessage } from './ipc.js';

// A cluster worker: waits for its configuration, runs a DataPlane, reports its status every
// second, and answers drain and shutdown requests from the primary.

const STATUS_INTERVAL_MS = 1000;

/** `done` runs once the message is written (or could not be). */
function send(m: WorkerMessage, done: () => void = () => {}): void {
  // The callback also keeps a channel closed under us (primary gone) from becoming an 'error' event.
  if (process.connected && process.send) process.send(m, undefined, undefined, () => done());
  else done();
}

export function runWorker(): void {
  const log = createLogger({ component: 'router' }).child({ role: 'worker' });
  let plane: DataPlane | undefined;
  let stopping = false;

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await plane?.close();
    } catch (err) {
      log.error({ err: (err as Error).message }, 'error while stopping');
    }
    process.exit(0);
  };

  const start = async (init: WorkerInit) => {
    const registry = new Registry();
    // The workers' process metrics (CPU, memory, event loop), summed over the workers by the
    // primary's aggregator; their own prefix keeps them apart from the primary's flynn_router_process_*.
    collectDefaultMetrics({ register: registry, prefix: 'flynn_router_worker_' });
    // prom-client answers the primary's metric requests from the registries named here; its
    // worker-side listener is installed only by constructing an AggregatorRegistry.
    AggregatorRegistry.setRegistries([registry]);
    new AggregatorRegistry();
    plane = new DataPlane({
      config: init.config,
      defaultCert: init.defaultCert,
      errorPage: init.errorPage ? Buffer.from(init.errorPage, 'base64') : undefined,
      log,
      registry,
    });
    await plane.start();
    send({ type: 'ready', status: plane.status() });
    setInterval(() => {
      if (plane && !stopping) send({ type: 'status', status: plane.status() });
    }, STATUS_INTERVAL_MS).unref();
  };

  process.on('message', (m: PrimaryMessage) => {
    if (m.type === 'init') {
      start(m.init).catch((err: Error) => {
        log.error({ err: err.message }, 'worker failed to start');
        // The primary decides whether to retry (a port held elsewhere for a moment) or give up.
        send({ type: 'fatal', message: err.message, listen: listenFailureOf(err) }, () => process.exit(1));
      });
    } else if (m.type === 'drain') {
      const done = () => send({ type: 'drained', id: m.id });
      if (!plane) done();
      else plane.drain(m.service, m.addr).then(done, done);
    } else if (m.type === 'shutdown') {
      void stop();
    }
  });
  send({ type: 'hello' });
  // The primary handles signals; a worker orphaned by a dead primary stops on its own.
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  process.on('disconnect', () => void stop());
}

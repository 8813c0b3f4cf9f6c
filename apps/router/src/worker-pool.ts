import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '@flynn-edge/service-kit';
import type { DataPlaneStatus } from './data-plane.js';
import {
  ListenError,
  type PrimaryMessage,
  type WorkerInit,
  type WorkerMessage,
  withBindRetries,
} from './ipc.js';

// The cluster primary's side of the workers. The primary owns every listening socket (Node
// shares them with the workers it forks), so replacing a worker never closes a listener:
// SIGHUP forks a new worker, waits until it serves, then asks the old one to finish its
// requests and leave. A worker that dies unexpectedly is replaced. A worker that cannot bind a
// port (another process holding it for a moment) is started again a few times; a start that
// still fails, or a respawn failing with no worker left, reaches the primary (`onFatal`).

export interface DataPlaneHandle {
  drain(service: string, addr: string): Promise<void>;
  status(): DataPlaneStatus[];
}

const READY_TIMEOUT_MS = 60_000;
const RESPAWN_DELAY_MS = 1000;

interface Member {
  worker: Worker;
  status?: DataPlaneStatus;
  retiring: boolean;
  ready: boolean;
}

export class WorkerPool implements DataPlaneHandle {
  private readonly members = new Map<number, Member>();
  private readonly drains = new Map<number, { pending: Set<number>; resolve: () => void }>();
  private nextDrainId = 1;
  private closing = false;
  private restarting: Promise<void> | undefined;

  constructor(
    private readonly size: number,
    private readonly init: WorkerInit,
    private readonly log: Logger,
    /** The pool cannot keep a worker running (every respawn failed): the router should exit. */
    private readonly onFatal: (err: Error) => void = () => {},
  ) {}

  async start(): Promise<void> {
    // Read by Node when the first worker is forked; the listeners workers open follow it.
    cluster.schedulingPolicy =
      this.init.config.acceptPolicy === 'kernel' ? cluster.SCHED_NONE : cluster.SCHED_RR;
    await Promise.all(Array.from({ length: this.size }, () => this.spawn()));
  }

  /** Fork a worker and resolve once it serves, trying again while a port is briefly taken. */
  private spawn(): Promise<Member> {
    return withBindRetries(
      () => this.spawnOnce(),
      (err, n) => this.log.warn({ err: err.message, attempt: n }, 'worker could not bind; starting another'),
    );
  }

  private spawnOnce(): Promise<Member> {
    const worker = cluster.fork();
    const member: Member = { worker, retiring: false, ready: false };
    this.members.set(worker.id, member);
    // Sends to a worker that just died fail with EPIPE or ERR_IPC_CHANNEL_CLOSED, here and in
    // cluster's and prom-client's own sends; unhandled, that 'error' event would kill the primary.
    worker.on('error', (err: Error) =>
      this.log.debug({ pid: worker.process.pid, err: err.message }, 'worker channel'),
    );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.process.kill('SIGKILL');
        reject(new Error(`worker ${worker.process.pid} did not become ready within ${READY_TIMEOUT_MS} ms`));
      }, READY_TIMEOUT_MS);
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'hello') {
          this.send(worker, { type: 'init', init: this.init });
        } else if (m.type === 'ready') {
          clearTimeout(timer);
          member.ready = true;
          member.status = m.status;
          this.log.info({ pid: worker.process.pid }, 'worker ready');
          resolve(member);
        } else if (m.type === 'status') {
          member.status = m.status;
        } else if (m.type === 'drained') {
          this.settleDrain(m.id, worker.id);
        } else if (m.type === 'fatal') {
          clearTimeout(timer);
          reject(m.listen ? new ListenError(m.listen) : new Error(m.message));
        }
      });
      worker.on('exit', (code, signal) => {
        clearTimeout(timer);
        this.members.delete(worker.id);
        for (const id of [...this.drains.keys()]) this.settleDrain(id, worker.id);
        // One that never served is the spawner's to retry or report (a no-op after 'fatal').
        if (!member.ready) return reject(new Error(`worker exited (${signal ?? code}) before it was ready`));
        // Exit code 0 is a worker that stopped on purpose (a SIGTERM to the whole process group,
        // as systemd and timeout(1) send): the primary is going down too.
        if (member.retiring || this.closing || code === 0) return;
        this.log.error({ pid: worker.process.pid, code, signal }, 'worker died; starting a replacement');
        setTimeout(() => this.respawn(), RESPAWN_DELAY_MS);
      });
    });
  }

  private respawn(): void {
    if (this.closing) return;
    this.spawn().catch((err: Error) => {
      this.log.error({ err: err.message }, 'respawn failed');
      if (this.closing) return;
      // With other workers serving, keep trying; with none, the router cannot serve at all.
      if (this.members.size === 0) this.onFatal(err);
      else setTimeout(() => this.respawn(), RESPAWN_DELAY_MS);
    });
  }

  private send(worker: Worker, m: PrimaryMessage): void {
    // The callback turns a failed write (the worker died meanwhile) into nothing: its exit is handled.
    if (worker.isConnected()) worker.send(m, undefined, () => {});
  }

  /** Replace every worker, one at a time, without closing a listener or dropping a request. */
  restart(): Promise<void> {
    this.restarting ??= this.rollAll().finally(() => {
      this.restarting = undefined;
    });
    return this.restarting;
  }

  private async rollAll(): Promise<void> {
    const old = [...this.members.values()].filter((m) => !m.retiring);
    for (const m of old) {
      await this.spawn();
      await this.retire(m);
    }
  }

  private retire(m: Member): Promise<void> {
    m.retiring = true;
    return new Promise((resolve) => {
      if (m.worker.isDead()) return resolve();
      m.worker.once('exit', () => resolve());
      this.send(m.worker, { type: 'shutdown' });
    });
  }

  drain(service: string, addr: string): Promise<void> {
    const live = [...this.members.values()].filter((m) => !m.worker.isDead());
    if (live.length === 0) return Promise.resolve();
    const id = this.nextDrainId++;
    return new Promise((resolve) => {
      this.drains.set(id, { pending: new Set(live.map((m) => m.worker.id)), resolve });
      for (const m of live) this.send(m.worker, { type: 'drain', id, service, addr });
    });
  }

  private settleDrain(id: number, workerId: number): void {
    const d = this.drains.get(id);
    if (!d) return;
    d.pending.delete(workerId);
    if (d.pending.size === 0) {
      this.drains.delete(id);
      d.resolve();
    }
  }

  status(): DataPlaneStatus[] {
    return [...this.members.values()].flatMap((m) => (m.status && !m.retiring ? [m.status] : []));
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.members.values()].map((m) => this.retire(m)));
  }
}

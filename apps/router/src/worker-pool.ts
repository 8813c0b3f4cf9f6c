import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '@flynn-edge/service-kit';
import type { DataPlaneStatus } from './data-plane.js';
import type { PrimaryMessage, WorkerInit, WorkerMessage } from './ipc.js';

// The cluster primary's side of the workers. The primary owns every listening socket (Node
// shares them with the workers it forks), so replacing a worker never closes a listener:
// SIGHUP forks a new worker, waits until it serves, then asks the old one to finish its
// requests and leave. A worker that dies unexpectedly is replaced.

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
  ) {}

  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, () => this.spawn()));
  }

  /** Fork one worker and resolve once it serves. */
  private spawn(): Promise<Member> {
    const worker = cluster.fork();
    const member: Member = { worker, retiring: false };
    this.members.set(worker.id, member);
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
          member.status = m.status;
          this.log.info({ pid: worker.process.pid }, 'worker ready');
          resolve(member);
        } else if (m.type === 'status') {
          member.status = m.status;
        } else if (m.type === 'drained') {
          this.settleDrain(m.id, worker.id);
        } else if (m.type === 'fatal') {
          clearTimeout(timer);
          reject(new Error(m.message));
        }
      });
      worker.on('exit', (code, signal) => {
        clearTimeout(timer);
        this.members.delete(worker.id);
        for (const id of [...this.drains.keys()]) this.settleDrain(id, worker.id);
        // Exit code 0 is a worker that stopped on purpose (a SIGTERM to the whole process group,
        // as systemd and timeout(1) send): the primary is going down too.
        if (member.retiring || this.closing || code === 0) return;
        this.log.error({ pid: worker.process.pid, code, signal }, 'worker died; starting a replacement');
        reject(new Error(`worker exited (${signal ?? code}) before it was ready`));
        setTimeout(() => {
          if (!this.closing)
            this.spawn().catch((err: Error) => this.log.error({ err: err.message }, 'respawn failed'));
        }, RESPAWN_DELAY_MS);
      });
    });
  }

  private send(worker: Worker, m: PrimaryMessage): void {
    if (worker.isConnected()) worker.send(m);
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

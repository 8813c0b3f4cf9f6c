import type { DiscoverdClient, Heartbeater } from '@flynn-edge/discoverd-client';
import { HealthMonitor, resolveHealthCheck } from './health.js';
import type { Job } from './types.js';

// A job's discoverd registration: its first port under its `service`, once its health check
// passes (at once without one); removed while the check fails, when the job exits and when the
// manager closes — unless it closes for a successor (a daemon handover), which registers the same
// instance again: then the registration is released, left in discoverd, so routers keep the job.

export interface RegistrationEvent {
  job: string;
  registered: boolean;
  service: string;
  addr: string;
}

/** What a job's registration takes from its manager. */
export interface RegistrationContext {
  /** Without it nothing is registered. */
  discoverd?: DiscoverdClient;
  registerHost: string;
  checkHost: string;
  closed(): boolean;
  emit(ev: RegistrationEvent): void;
  warn(err: Error): void;
  /** Runs a background task (its failure becomes a warning; close() waits for it). */
  track(p: Promise<unknown>): void;
}

export class JobRegistration {
  private health?: HealthMonitor;
  private hb?: Heartbeater;
  private registering = false;
  private wanted = false;
  /** Bumped by deregister and release: a registration begun before it is undone when it completes. */
  private gen = 0;
  /** Released: a registration that completes later is released too, never deleted. */
  private released = false;

  constructor(
    /** The manager's job (updated in place). */
    private readonly job: Job,
    private readonly ctx: RegistrationContext,
    /** Adds a line to the job's init notes. */
    private readonly note: (text: string) => void,
  ) {}

  /** The job runs: register it now, or start its health check. */
  start(): void {
    const job = this.job;
    if (!this.ctx.discoverd || !job.service || job.ports.length === 0 || this.ctx.closed()) return;
    if (!job.health) {
      this.ctx.track(this.register());
      return;
    }
    const check = resolveHealthCheck(job.health);
    const port = job.ports[check.port];
    this.note(
      `health check: ${check.kind} port ${port}, every ${check.intervalMs} ms, threshold ${check.threshold}`,
    );
    this.health = new HealthMonitor(check, this.ctx.checkHost, port, (up) => {
      if (up) {
        this.note('health check passed');
        this.ctx.track(this.register());
      } else {
        this.note('health check failing');
        this.ctx.track(this.deregister('health check failing'));
      }
    });
    this.health.start();
  }

  stopHealth(): void {
    this.health?.stop();
    this.health = undefined;
  }

  private addr(): string {
    return `${this.ctx.registerHost}:${this.job.ports[0]}`;
  }

  private live(): boolean {
    return !this.ctx.closed() && this.job.state === 'running';
  }

  async register(): Promise<void> {
    const dc = this.ctx.discoverd;
    const job = this.job;
    if (!dc || !job.service) return;
    this.wanted = true;
    if (this.hb || this.registering) return;
    this.registering = true;
    const gen = this.gen;
    const meta: Record<string, string> = {
      ...(job.meta ?? {}),
      FLYNN_APP_ID: job.app.id,
      FLYNN_APP_NAME: job.app.name,
      FLYNN_JOB_ID: job.id,
      FLYNN_PROCESS_TYPE: job.processType,
    };
    let hb: Heartbeater;
    try {
      hb = await dc.addServiceAndRegister(job.service, this.addr(), {
        meta,
        onError: (err) => this.ctx.warn(new Error(`job ${job.id}: heartbeat: ${err.message}`)),
      });
    } catch (err) {
      this.registering = false;
      this.note(`discoverd registration failed: ${(err as Error).message}`);
      if (this.wanted && gen === this.gen && this.live()) {
        const t = setTimeout(() => {
          // Not after a deregister, release or close meanwhile.
          if (this.wanted && gen === this.gen && this.live()) this.ctx.track(this.register());
        }, 1000);
        t.unref();
      }
      return;
    }
    this.registering = false;
    if (gen !== this.gen || !this.wanted || !this.live()) {
      // After a release, a DELETE could remove the instance the successor has just registered.
      await (this.released ? hb.release() : hb.close());
      if (this.wanted && this.live()) await this.register();
      return;
    }
    this.hb = hb;
    job.registered = true;
    this.note(`registered in discoverd: ${job.service} ${this.addr()}`);
    this.ctx.emit({ job: job.id, registered: true, service: job.service, addr: this.addr() });
  }

  async deregister(why: string): Promise<void> {
    this.wanted = false;
    this.gen++;
    const hb = this.hb;
    if (!hb) return;
    this.hb = undefined;
    this.job.registered = false;
    await hb.close();
    this.note(`deregistered from discoverd (${why})`);
    this.ctx.emit({
      job: this.job.id,
      registered: false,
      service: this.job.service ?? '',
      addr: this.addr(),
    });
  }

  /**
   * Stops heartbeating but leaves the instance in discoverd (its TTL, or the next manager's
   * registration of the same instance, decides). No `registration` event: to discoverd's watchers
   * the job never left. `registered` stays as it was: the state saved says what discoverd holds.
   */
  async release(): Promise<void> {
    this.wanted = false;
    this.released = true;
    this.gen++;
    const hb = this.hb;
    if (!hb) return;
    this.hb = undefined;
    await hb.release();
    this.note('left registered in discoverd for the next manager');
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import { type App, type AppStore, jobRequest } from '@flynn-edge/app-model';
import type { Job, JobManager, JobSpec } from '@flynn-edge/host-jobs';
import type { Logger } from '@flynn-edge/service-kit';

// Omni process types run one job on every host (Flynn's scheduler). Nothing central runs here,
// so each daemon keeps its own share: after it registers, and every 10 s, it starts the job of
// each omni type (count > 0 in the formation) it does not run. A host that joins an existing
// cluster thus starts discoverd (a proxy: its address is not in DISCOVERD_PEERS) and the router.

export const OMNI_INTERVAL_MS = 10_000;

/**
 * A job stopped on purpose this recently belongs to whoever stopped it (a deploy, a fix, a
 * cluster shutting down): the reconciler leaves its app and type alone until this has passed.
 */
export const STOPPED_GRACE_MS = 30_000;

export interface OmniReconcilerOptions {
  store: AppStore;
  jobs: Pick<JobManager, 'list' | 'run'>;
  log: Logger;
  intervalMs?: number;
  stoppedGraceMs?: number;
  now?: () => number;
}

/** Counts as this host's job of its type: alive, or crashed with a restart on the way. */
export function isPresent(j: Job): boolean {
  if (j.stopRequested) return false;
  return (
    j.state === 'running' || j.state === 'starting' || (j.state === 'crashed' && j.restartAt !== undefined)
  );
}

/** discoverd first: every other job registers in it. */
function discoverdFirst(a: App, b: App): number {
  return Number(b.name === 'discoverd') - Number(a.name === 'discoverd') || a.name.localeCompare(b.name);
}

export class OmniReconciler {
  private stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: OmniReconcilerOptions) {}

  /**
   * One pass now, then one every interval until close(); passes never overlap. Again after close()
   * (a daemon that takes its jobs back when its successor failed to start).
   */
  start(): void {
    if (this.stopping.signal.aborted) {
      this.stopping = new AbortController();
      this.loop = undefined;
    }
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    let lastError: string | undefined;
    let first = true;
    while (!signal.aborted) {
      try {
        const started = await this.pass();
        // Once per daemon: what its first full pass found missing (tests and operators wait on it).
        if (first) this.opts.log.info({ started: Object.keys(started) }, 'omni: first pass done');
        first = false;
        lastError = undefined;
      } catch (err) {
        // Once per distinct error, not every 10 s while discoverd is away or refuses the key.
        const message = (err as Error).message;
        if (message !== lastError)
          this.opts.log.warn({ err: message }, 'omni: cannot read the app model; retrying');
        lastError = message;
      }
      await sleep(this.opts.intervalMs ?? OMNI_INTERVAL_MS, undefined, { signal }).catch(() => {});
    }
  }

  /** Starts the omni jobs this host lacks; returns what it started (`<app>/<type>` → job id). */
  async pass(): Promise<Record<string, string>> {
    const started: Record<string, string> = {};
    for (const app of (await this.opts.store.apps()).sort(discoverdFirst)) {
      if (this.stopping.signal.aborted) break;
      // One app's broken record does not keep the others (discoverd first) from their jobs.
      await this.reconcileApp(app, started).catch((err: Error) =>
        this.opts.log.warn({ app: app.name, err: err.message }, 'omni: cannot start the job'),
      );
    }
    return started;
  }

  private async reconcileApp(app: App, started: Record<string, string>): Promise<void> {
    const { store, log } = this.opts;
    if (!app.release) return;
    const formation = await store.formation(app.id);
    const wanted = Object.entries(formation?.value.processes ?? {}).filter(([, n]) => n > 0);
    if (wanted.length === 0) return;
    const release = await store.release(app.id, app.release);
    const types = wanted.map(([t]) => t).filter((t) => release?.processes[t]?.omni === true);
    const missing = types.filter((t) => this.wants(app, t));
    if (!release || missing.length === 0) return;
    const artifact = release.artifacts[0] ? await store.artifact(release.artifacts[0]) : undefined;
    for (const type of missing) {
      // Checked just before starting: a deploy that took the lock meanwhile places this job.
      const lock = await store.deployment(app.id);
      if (lock) {
        log.info({ app: app.name, type, release: lock.release }, 'omni: a deploy is in progress; skipped');
        continue;
      }
      if (this.stopping.signal.aborted || !this.wants(app, type)) continue;
      const job = await this.opts.jobs.run(jobRequest(app, release, type, artifact) as JobSpec);
      started[`${app.name}/${type}`] = job.id;
      log.info({ app: app.name, type, job: job.id, release: release.id }, 'omni: started the missing job');
    }
  }

  /** No job of app+type here, and none stopped on purpose within the grace period. */
  private wants(app: App, type: string): boolean {
    const now = (this.opts.now ?? Date.now)();
    const grace = this.opts.stoppedGraceMs ?? STOPPED_GRACE_MS;
    const mine = this.opts.jobs.list().filter((j) => j.app.id === app.id && j.processType === type);
    if (mine.some(isPresent)) return false;
    return !mine.some(
      (j) => j.stopRequested && (j.endedAt === undefined || now - Date.parse(j.endedAt) < grace),
    );
  }

  async close(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }
}

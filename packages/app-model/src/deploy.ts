import { AppModelError } from './errors.js';
import {
  appJobs,
  type HostJobView,
  type HostRef,
  type HostsPort,
  isLive,
  type PlacedJob,
} from './hosts-port.js';
import { jobRequest } from './job-spec.js';
import { jobsWanted, placeJobs } from './placement.js';
import type { AppStore, Versioned } from './store.js';
import type { App, Artifact, Release } from './types.js';
import { attachVolumes, volumeHosts } from './volumes.js';

// Deploys and scaling without a scheduler (flynn-ops.md §1.3): the CLI takes the app's deploy
// lock, starts the new jobs, waits until each runs and is registered (health checks passed),
// switches the release in one transaction, then stops the old jobs, each first taken out of
// discoverd and given time to drain. A new job that crashes, or is not up within the app's
// deploy_timeout, stops all new jobs and leaves the old release serving.

export interface DeployOptions {
  /** One line per job event: `15:04:05.000 ==> web <job id> up` (Flynn's scale output). */
  progress?: (line: string) => void;
  /** Default: the app's deploy_timeout. */
  timeoutMs?: number;
  /** Out of discoverd this long before SIGTERM (routers stop sending new requests). */
  drainMs?: number;
  graceMs?: number;
  pollMs?: number;
  /**
   * One-by-one deploys, jobs without a service (nothing registers them, e.g. discoverd): how long
   * the new job must keep running before the next host's job is stopped.
   */
  settleMs?: number;
}

export interface DeployResult {
  app: App;
  started: PlacedJob[];
  stopped: PlacedJob[];
  ms: number;
}

const DEFAULT_DRAIN_MS = 1500;
const DEFAULT_GRACE_MS = 10_000;
const DEFAULT_SETTLE_MS = 5_000;

export function clock(d = new Date()): string {
  return d.toISOString().slice(11, 23);
}

export class Deployer {
  constructor(
    readonly store: AppStore,
    readonly port: HostsPort,
  ) {}

  /** Switches the app to `release`, running the app's formation counts of it. */
  async deploy(appName: string, release: Release, opts: DeployOptions = {}): Promise<DeployResult> {
    const app = await this.store.app(appName);
    const lock = await this.store.lock(app.value, release.id);
    try {
      const formation = await this.store.formation(app.value.id);
      const counts: Record<string, number> = {};
      for (const [type, n] of Object.entries(formation?.value.processes ?? {})) {
        if (release.processes[type] && n > 0) counts[type] = n;
      }
      return await this.replace(app, release, counts, opts);
    } finally {
      await this.store.unlock(app.value, lock);
    }
  }

  /** Changes the current release's counts; returns what started and stopped. */
  async scale(
    appName: string,
    counts: Record<string, number>,
    opts: DeployOptions = {},
  ): Promise<DeployResult & { before: Record<string, number> }> {
    const t0 = Date.now();
    const app = await this.store.app(appName);
    const release = await this.store.currentRelease(app.value);
    if (!release) throw new AppModelError('No app release, specify a release with --release');
    const unknown = Object.keys(counts).filter((t) => !release.processes[t]);
    if (unknown.length > 0)
      throw new AppModelError(`ERROR: unknown process types: ${unknown.sort().join(', ')}`);
    const lock = await this.store.lock(app.value, release.id);
    try {
      const formation = await this.store.formation(app.value.id);
      const before = { ...(formation?.value.processes ?? {}) };
      const after = { ...before, ...counts };
      const { hosts, jobs } = await this.answering(app.value.id, opts);
      const live = jobs.filter((p) => isLive(p.job));
      const ofRelease = live.filter((p) => p.job.meta?.FLYNN_RELEASE_ID === release.id);
      const toStart: { type: string; host: HostRef }[] = [];
      const toStop: PlacedJob[] = [];
      for (const [type, count] of Object.entries(after)) {
        const want = jobsWanted(release, type, count, hosts.length);
        const have = ofRelease.filter((p) => p.job.processType === type);
        if (want > have.length) {
          const prefer = await volumeHosts(this.store, app.value, release, type);
          for (const host of placeJobs(type, want - have.length, hosts, live, app.value.id, prefer))
            toStart.push({ type, host });
        } else if (want < have.length) {
          // The newest go first: the oldest have proven themselves.
          toStop.push(
            ...have
              .sort((a, b) => b.job.createdAt.localeCompare(a.job.createdAt))
              .slice(0, have.length - want),
          );
        }
      }
      const started = await this.startAll(app.value, release, toStart, opts);
      const next = await this.commit(app, release.id, after, started);
      await this.stopAll(toStop, opts);
      return { app: next, started, stopped: toStop, ms: Date.now() - t0, before };
    } finally {
      await this.store.unlock(app.value, lock);
    }
  }

  /**
   * The registered hosts that answer, and the app's jobs on them. A host cut off stays registered
   * until its instance expires: it is skipped with a warning rather than failing the deploy (its
   * jobs are `flynn-host fix`'s, or its daemon's omni reconciler's when it comes back).
   */
  private async answering(
    appId: string,
    opts: DeployOptions,
  ): Promise<{ hosts: HostRef[]; jobs: PlacedJob[] }> {
    const registered = await this.port.hosts();
    const down = new Set<string>();
    const jobs = await appJobs(this.port, appId, registered, (host, err) => {
      down.add(host.id);
      opts.progress?.(`warning: host ${host.id} (${host.addr}) does not answer, skipped: ${err.message}`);
    });
    return { hosts: registered.filter((h) => !down.has(h.id)), jobs };
  }

  private async replace(
    app: Versioned<App>,
    release: Release,
    counts: Record<string, number>,
    opts: DeployOptions,
  ): Promise<DeployResult> {
    const t0 = Date.now();
    const { hosts, jobs } = await this.answering(app.value.id, opts);
    const live = jobs.filter((p) => isLive(p.job));
    // Every running job of the app is replaced; they do not count toward placement, since their
    // hosts are about to be free.
    const old = live;
    const plan: { type: string; host: HostRef }[] = [];
    for (const [type, n] of Object.entries(counts)) {
      const want = jobsWanted(release, type, n, hosts.length);
      const prefer = await volumeHosts(this.store, app.value, release, type);
      for (const host of placeJobs(type, want, hosts, [], app.value.id, prefer)) plan.push({ type, host });
    }
    if (app.value.strategy === 'one-by-one') {
      return this.oneByOne(app, release, counts, plan, old, opts, t0);
    }
    const started = await this.startAll(app.value, release, plan, opts);
    const next = await this.commit(app, release.id, counts, started);
    await this.stopAll(old, opts);
    return { app: next, started, stopped: old, ms: Date.now() - t0 };
  }

  /**
   * Host by host: stop the old job there, start its successor, wait until it is up (fixed ports
   * cannot run twice on one host). A failure stops the new job and starts the old release's again.
   */
  private async oneByOne(
    app: Versioned<App>,
    release: Release,
    counts: Record<string, number>,
    plan: { type: string; host: HostRef }[],
    old: PlacedJob[],
    opts: DeployOptions,
    t0: number,
  ): Promise<DeployResult> {
    const started: PlacedJob[] = [];
    const stopped: PlacedJob[] = [];
    const oldRelease = await this.store.currentRelease(app.value);
    // Read before any job stops: stopping one of discoverd's makes a leader election, and a
    // store read between a stop and its start would fail and leave the host without the app.
    const artifact = await this.artifactOf(release);
    const oldArtifact = oldRelease ? await this.artifactOf(oldRelease) : undefined;
    for (const step of plan) {
      const predecessor = old.find(
        (p) => p.host.id === step.host.id && p.job.processType === step.type && !stopped.includes(p),
      );
      if (predecessor) {
        await this.stopAll([predecessor], opts);
        stopped.push(predecessor);
      }
      try {
        const next = await this.startAll(app.value, release, [step], opts, artifact);
        started.push(...next);
        // Only a replacement took something away (a Raft member, a router) that must be back first.
        if (predecessor) await this.settle(app.value, next, opts);
      } catch (err) {
        if (predecessor && oldRelease) {
          await this.startAll(
            app.value,
            oldRelease,
            [step],
            { ...opts, progress: undefined },
            oldArtifact,
          ).catch(() => {});
        }
        throw err;
      }
    }
    const rest = old.filter((p) => !stopped.includes(p));
    const next = await this.commit(app, release.id, counts, started);
    await this.stopAll(rest, opts);
    return { app: next, started, stopped: [...stopped, ...rest], ms: Date.now() - t0 };
  }

  /**
   * "Running" is all a host can say of a job without a service. Rolling such a job (discoverd: a
   * Raft member per host) onto the next host before this one has started serving would take two
   * members away at once, and the quorum with them (found replacing a host, flynn-ops §11.2):
   * the new job must keep running for settleMs, then the cluster store must answer a read.
   */
  private async settle(app: App, jobs: PlacedJob[], opts: DeployOptions): Promise<void> {
    const quiet = jobs.filter((p) => !p.job.service);
    if (quiet.length === 0) return;
    const settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
    const deadline = Date.now() + (opts.timeoutMs ?? app.deploy_timeout * 1000);
    const poll = opts.pollMs ?? 100;
    const until = Date.now() + settleMs;
    while (Date.now() < until) {
      for (const p of quiet) {
        const j = await this.port.job(p.host, p.job.id);
        if (j.state !== 'running' || j.restarts > 0)
          throw new AppModelError(`deploy failed: job ${j.id}: ${await this.describeFailure(p.host, j)}`);
      }
      await new Promise((r) => setTimeout(r, Math.min(poll * 5, Math.max(0, until - Date.now()))));
    }
    for (;;) {
      try {
        await this.store.formation(app.id);
        return;
      } catch (err) {
        if (Date.now() >= deadline)
          throw new AppModelError(
            `deploy failed: the cluster store does not answer: ${(err as Error).message}`,
          );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** The switch; when it fails the new jobs go again. */
  private async commit(
    app: Versioned<App>,
    release: string,
    counts: Record<string, number>,
    started: PlacedJob[],
  ): Promise<App> {
    try {
      return await this.store.switchRelease(app, release, counts);
    } catch (err) {
      await this.stopAll(started, { drainMs: 0, graceMs: 2000 });
      throw err;
    }
  }

  private async artifactOf(release: Release): Promise<Artifact | undefined> {
    const artifact = release.artifacts[0] ? await this.store.artifact(release.artifacts[0]) : undefined;
    if (release.artifacts[0] && !artifact)
      throw new AppModelError(`artifact ${release.artifacts[0]} not found`);
    return artifact;
  }

  /** Starts every planned job, then waits until all are up; any failure stops them all. */
  async startAll(
    app: App,
    release: Release,
    plan: { type: string; host: HostRef }[],
    opts: DeployOptions,
    known?: Artifact,
  ): Promise<PlacedJob[]> {
    const artifact = known ?? (await this.artifactOf(release));
    const started: PlacedJob[] = [];
    const taken = new Set<string>();
    try {
      for (const { type, host } of plan) {
        const spec = jobRequest(app, release, type, artifact);
        spec.volumes = await attachVolumes(this.store, this.port, app, release, type, host, taken);
        const job = await this.port.run(host, spec);
        started.push({ host, job });
      }
      const timeoutMs = opts.timeoutMs ?? app.deploy_timeout * 1000;
      await Promise.all(started.map((p) => this.waitUp(p, timeoutMs, opts)));
      return started;
    } catch (err) {
      await this.stopAll(started, { drainMs: 0, graceMs: 2000 });
      throw err;
    }
  }

  private async waitUp(p: PlacedJob, timeoutMs: number, opts: DeployOptions): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const poll = opts.pollMs ?? 100;
    for (;;) {
      const j = await this.port.job(p.host, p.job.id);
      if (j.state === 'running' && (!j.service || j.registered)) {
        opts.progress?.(`${clock()} ==> ${j.processType} ${j.id} up`);
        return;
      }
      if (j.state === 'crashed' || j.state === 'failed' || j.state === 'done' || j.restarts > 0) {
        throw new AppModelError(`deploy failed: job ${j.id}: ${await this.describeFailure(p.host, j)}`);
      }
      if (Date.now() >= deadline) {
        throw new AppModelError(
          `deploy failed: job ${j.id}: ${j.state}${j.service ? ', not registered in discoverd (health check failing?)' : ''} after ${Math.round(timeoutMs / 1000)} s`,
        );
      }
      await new Promise((r) => setTimeout(r, poll));
    }
  }

  private async describeFailure(host: HostRef, j: HostJobView): Promise<string> {
    const how =
      j.error ??
      (j.signal
        ? `killed by ${j.signal}`
        : j.exitStatus !== undefined && j.exitStatus !== null
          ? `exit status ${j.exitStatus}`
          : 'exited');
    const state = j.state === 'running' || j.state === 'starting' ? 'crashed' : j.state;
    const last = await this.port.lastLines?.(host, j.id, 1).catch(() => []);
    return `${state} (${how})${last?.[0] ? `: ${last[0]}` : ''}`;
  }

  async stopAll(jobs: PlacedJob[], opts: DeployOptions): Promise<void> {
    await Promise.all(
      jobs.map(async (p) => {
        await this.port
          .stop(p.host, p.job.id, {
            drainMs: opts.drainMs ?? (p.job.registered ? DEFAULT_DRAIN_MS : 0),
            graceMs: opts.graceMs ?? DEFAULT_GRACE_MS,
          })
          .catch(() => {});
        opts.progress?.(`${clock()} ==> ${p.job.processType} ${p.job.id} down`);
      }),
    );
  }
}

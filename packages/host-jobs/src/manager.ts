import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { ArtifactStore } from './artifacts.js';
import { type ArtifactRoots, checkBuiltin, INSTALL_DIR, resolveLaunch } from './launch.js';
import {
  isFinished,
  isOver,
  markExited,
  markFailed,
  markRestarting,
  markRunning,
  nextBackoff,
  type RestartBackoff,
  resolveBackoff,
  wantsRestart,
} from './lifecycle.js';
import {
  backlogBytes,
  eachLine,
  type JobSpools,
  noteEvent,
  OutputTailer,
  openSpools,
  type SpoolOffsets,
  spoolOffsets,
} from './output.js';
import { adoptedExited, recovery, StateFiles } from './persistence.js';
import { PortAllocator, type PortRange } from './ports.js';
import { readProcStat } from './procfs.js';
import { JobRegistration, type RegistrationContext, type RegistrationEvent } from './registration.js';
import { maskArgs } from './secrets.js';
import { jobEnv, signalGroup, spawnDetached, spawned } from './spawn.js';
import type { SpoolOptions } from './spool.js';
import {
  type Job,
  JobNotFoundError,
  type JobSpec,
  JobSpecError,
  type LineEvent,
  type LinesEvent,
} from './types.js';
import { validateDrain, validateGrace, validateHostId, validateSpec } from './validate.js';

// flynn-host's job supervisor (issue 5 "Jobs"): spawns jobs in their own process group with
// stdout/stderr going to per-job spool files, allocates ports, registers jobs in discoverd once
// their health check passes, restarts crashed jobs with a capped backoff, and keeps its state on
// disk so that a new manager re-adopts the jobs a previous one left running. The parts live in
// lifecycle (states), spawn (processes), launch (artifacts → command), artifacts (the tarball
// store), output (spools), registration (discoverd), validate (specs) and persistence (state
// files, re-adoption); this file orchestrates them.

export type { RegistrationEvent, RestartBackoff };

export interface JobManagerOptions {
  /** This host's id: job ids are `<hostId>-<uuid>`, and jobs get HOST_ID. */
  hostId: string;
  /** Where the state file and the spool files live. */
  stateDir: string;
  /** Registers jobs that name a `service`; without it nothing is registered. */
  discoverd?: DiscoverdClient;
  /** Address registered in discoverd for a job's port (default 127.0.0.1). */
  registerHost?: string;
  /** Address health checks connect to (default registerHost). */
  checkHost?: string;
  /** Ports handed to jobs (default 49152–65535). */
  portRange?: PortRange;
  /** Address the free-port check binds (default 0.0.0.0). */
  portCheckHost?: string;
  /** SIGTERM → SIGKILL grace period of stop() (default 10 s). */
  defaultGraceMs?: number;
  /** How often spools are read (default 100 ms). */
  tailIntervalMs?: number;
  /** offsets.json is saved at most this often while lines flow (default 1000 ms). */
  offsetsIntervalMs?: number;
  /** How often re-adopted (not our child) processes are checked (default 500 ms). */
  adoptPollMs?: number;
  restartBackoff?: RestartBackoff;
  /** Finished jobs kept listed (default 1000; the oldest go first). */
  maxFinished?: number;
  /** Environment every job starts from (default: PATH of this process). */
  baseEnv?: Record<string, string>;
  spool?: SpoolOptions;
  /**
   * Backpressure from whoever consumes the lines (the daemon's log store): while it answers
   * false, spools are not read. A spool is a file the job appends to, so the job never waits;
   * its lines wait on disk instead of being dropped from a full queue.
   */
  accepting?: () => boolean;
  /** The installed tree whose `apps/<name>` builtin artifacts are (default: this package's). */
  installDir?: string;
  /** Given to system jobs as CLUSTER_KEY when they spawn. */
  clusterKey?: string;
  /**
   * Brings a tar artifact this host lacks into `store` (from another host). Without it, or when
   * it fails, a job whose artifact is missing is refused.
   */
  fetchArtifact?: (sha256: string, store: ArtifactStore) => Promise<void>;
}

export interface StopOptions {
  /** SIGTERM → SIGKILL grace period (default: the manager's, 10 s). */
  graceMs?: number;
  /**
   * Take a registered job out of discoverd first, then wait this long before SIGTERM, so routers
   * stop sending it new requests (default 0: SIGTERM at once).
   */
  drainMs?: number;
}

export interface CloseOptions {
  /**
   * Leave the jobs' instances in discoverd (no DELETE) for the next manager, which registers the
   * same instances again; they expire with their TTL if none does.
   */
  keepRegistrations?: boolean;
}

interface Entry {
  job: Job;
  spools: JobSpools;
  proc?: ChildProcess;
  killTimer?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
  /** A drain before SIGTERM is under way (stop with drainMs). */
  draining?: boolean;
  reg: JobRegistration;
  backoffMs: number;
  waiters: Array<() => void>;
  /** Spool files are gone (job finished for good). */
  spoolsRemoved: boolean;
  /** The job is over for good; its spools go once read to the end (paced by `accepting`). */
  finishing?: boolean;
}

/** The events a JobManager emits. */
export interface JobManagerEvents {
  /** A job changed state (a copy of the job). */
  state: [job: Job];
  /** One line of a job's stdout/stderr, or an init note of the manager's. */
  line: [ev: LineEvent];
  /**
   * The same lines in batches (one per spool read): a listener of either event gets every line;
   * listen to one of them.
   */
  lines: [ev: LinesEvent];
  /** A job was registered in or removed from discoverd. */
  registration: [ev: RegistrationEvent];
  /** Something went wrong that does not change a job's state (heartbeat or spool errors). */
  warning: [err: Error];
}

export class JobManager extends EventEmitter<JobManagerEvents> {
  readonly hostId: string;
  readonly stateDir: string;
  readonly ports: PortAllocator;
  /** Tar artifacts: `<stateDir>/artifacts`. */
  readonly artifacts: ArtifactStore;
  private readonly roots: ArtifactRoots;
  /** Artifact fetches under way, so that jobs started together share one. */
  private readonly fetching = new Map<string, Promise<void>>();
  private readonly entries = new Map<string, Entry>();
  private readonly opts: Required<
    Pick<JobManagerOptions, 'registerHost' | 'checkHost' | 'defaultGraceMs' | 'adoptPollMs' | 'maxFinished'>
  > & { backoff: Required<RestartBackoff>; baseEnv: Record<string, string> };
  private readonly files: StateFiles;
  private readonly output: OutputTailer<Entry>;
  private readonly registration: RegistrationContext;
  private adoptTimer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly options: JobManagerOptions) {
    super();
    validateHostId(options.hostId);
    this.hostId = options.hostId;
    this.stateDir = options.stateDir;
    const registerHost = options.registerHost ?? '127.0.0.1';
    this.opts = {
      registerHost,
      checkHost: options.checkHost ?? registerHost,
      defaultGraceMs: options.defaultGraceMs ?? 10_000,
      adoptPollMs: options.adoptPollMs ?? 500,
      maxFinished: options.maxFinished ?? 1000,
      backoff: resolveBackoff(options.restartBackoff),
      baseEnv: options.baseEnv ?? (process.env.PATH ? { PATH: process.env.PATH } : {}),
    };
    this.ports = new PortAllocator(options.portRange, options.portCheckHost);
    this.files = new StateFiles(options.stateDir);
    this.artifacts = new ArtifactStore(join(options.stateDir, 'artifacts'));
    this.roots = {
      installDir: options.installDir ?? INSTALL_DIR,
      tarRoot: (sha) => this.artifacts.rootOf(sha),
    };
    this.registration = {
      discoverd: options.discoverd,
      registerHost: this.opts.registerHost,
      checkHost: this.opts.checkHost,
      closed: () => this.closed,
      emit: (ev) => this.emit('registration', ev),
      warn: (err) => this.warn(err),
      track: (p) => this.track(p),
    };
    this.output = new OutputTailer(
      {
        jobs: () => this.entries.values(),
        closed: () => this.closed,
        accepting: options.accepting,
        emit: (ev) => this.emitLines(ev),
        finished: (e) => this.finishSpools(e),
        saveOffsets: () => this.persistOffsets(),
        warn: (err) => this.warn(err),
        track: (p) => this.track(p),
      },
      { tailMs: options.tailIntervalMs ?? 100, offsetsMs: options.offsetsIntervalMs ?? 1000 },
    );
  }

  /**
   * Loads the state a previous manager left, re-adopts its live jobs (resuming their spools from
   * the saved offsets and registering them again), settles the ones whose process is gone, and
   * starts supervising. Attach 'line' and 'state' listeners before calling it.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('JobManager already started');
    this.started = true;
    this.adoptSaved();
  }

  /**
   * After close(): supervises again, taking the jobs back from the state on disk as start() does
   * (a daemon whose successor failed during a handover; the successor may have changed the state).
   */
  async reopen(): Promise<void> {
    if (!this.started || !this.closed) throw new Error('JobManager.reopen: the manager is not closed');
    this.entries.clear();
    this.closed = false;
    this.adoptSaved();
  }

  private adoptSaved(): void {
    mkdirSync(join(this.stateDir, 'jobs'), { recursive: true });
    for (const p of this.files.load((err) => this.warn(err))) {
      this.entries.set(p.job.id, this.makeEntry(p.job, p.spool, p.backoffMs));
    }
    for (const e of this.entries.values()) this.recover(e);
    this.persist();
    this.output.start();
    this.adoptTimer = setInterval(() => this.adoptTick(), this.opts.adoptPollMs);
    this.adoptTimer.unref();
  }

  /**
   * Validates the spec, makes sure its artifact is here (fetching a tarball from another host),
   * allocates ports and spawns; resolves once it runs (or failed). Nothing is created when the
   * spec or its artifact is refused.
   */
  async run(spec: JobSpec): Promise<Job> {
    this.assertOpen();
    const job = validateSpec(spec, this.hostId);
    const exists = () => {
      if (this.entries.has(job.id))
        throw new JobSpecError(`job ${JSON.stringify(job.id)} already exists`, 'id');
    };
    exists();
    if (job.artifact) {
      await this.ensureArtifact(job.artifact);
      this.assertOpen();
      exists();
    }
    const e = this.makeEntry(job, undefined, this.opts.backoff.initialMs);
    this.entries.set(job.id, e);
    mkdirSync(this.files.jobDir(job.id), { recursive: true });
    this.persist();
    this.emitState(e);
    const count = spec.ports ?? 0;
    if (count > 0) {
      try {
        job.ports = await this.ports.allocate(count, this.takenPorts());
      } catch (err) {
        this.fail(e, `port allocation: ${(err as Error).message}`);
        return this.snapshot(e);
      }
    }
    await this.spawnJob(e);
    return this.snapshot(e);
  }

  /** A builtin must be installed; a tarball must be here, or be fetched now. */
  private async ensureArtifact(a: NonNullable<Job['artifact']>): Promise<void> {
    if (a.type === 'builtin') {
      checkBuiltin(a.name, this.roots.installDir);
      return;
    }
    if (this.artifacts.has(a.sha256)) return;
    let p = this.fetching.get(a.sha256);
    if (!p) {
      const fetchArtifact = this.options.fetchArtifact;
      p = (fetchArtifact ? fetchArtifact(a.sha256, this.artifacts) : Promise.resolve()).finally(() =>
        this.fetching.delete(a.sha256),
      );
      this.fetching.set(a.sha256, p);
    }
    try {
      await p;
    } catch (err) {
      if (err instanceof JobSpecError) throw err;
      this.warn(new Error(`artifact ${a.sha256}: ${(err as Error).message}`));
    }
    if (!this.artifacts.has(a.sha256)) {
      throw new JobSpecError(`artifact ${a.sha256} is not available on any host`, 'artifact');
    }
  }

  /**
   * Stops a job: SIGTERM to its process group, SIGKILL after the grace period; resolves once it
   * has exited. With drainMs, a job registered in discoverd is deregistered first and SIGTERM
   * waits that long (it may exit meanwhile). A finished job's pending restart is cancelled. The
   * job ends `done`.
   */
  async stop(id: string, opts: StopOptions = {}): Promise<Job> {
    const e = this.entries.get(id);
    if (!e) throw new JobNotFoundError(id);
    const graceMs = opts.graceMs ?? this.opts.defaultGraceMs;
    validateGrace(graceMs);
    const drainMs = opts.drainMs ?? 0;
    validateDrain(drainMs);
    e.job.stopRequested = true;
    if (isFinished(e.job)) {
      if (e.restartTimer || e.job.restartAt) {
        if (e.restartTimer) clearTimeout(e.restartTimer);
        e.restartTimer = undefined;
        e.job.restartAt = undefined;
        this.initLine(e, 'restart cancelled by stop');
        this.finishSpools(e);
        this.persist();
        this.emitState(e);
      }
      return this.snapshot(e);
    }
    this.persist();
    const exited = new Promise<void>((resolve) => e.waiters.push(resolve));
    // A job still `starting` is terminated by spawnJob as soon as it has a pid.
    if (e.job.state === 'running' && !e.draining) {
      if (drainMs > 0 && e.job.registered) void this.drainThenTerminate(e, drainMs, graceMs);
      else this.terminate(e, graceMs);
    }
    // While someone waits for the stop, the kill timer and the child keep the process alive.
    e.killTimer?.ref();
    e.proc?.ref();
    await exited;
    return this.snapshot(e);
  }

  list(): Job[] {
    return [...this.entries.values()].map((e) => this.snapshot(e));
  }

  get(id: string): Job | undefined {
    const e = this.entries.get(id);
    return e ? this.snapshot(e) : undefined;
  }

  /** Lines of the job's spools not yet consumed (bytes), for tests and metrics. */
  backlog(id: string): number {
    const e = this.entries.get(id);
    if (!e || e.spoolsRemoved) return 0;
    return backlogBytes(e.spools);
  }

  /**
   * Stops supervising without stopping any job: reads the spools one last time, saves the state
   * (offsets included) and removes this manager's discoverd registrations — or, with
   * keepRegistrations (a daemon handing over to a successor), stops heartbeating them and leaves
   * them in discoverd for the successor to take over, so that routers never lose the jobs. Jobs
   * keep running; the next manager on the same state dir re-adopts them.
   */
  async close(opts: CloseOptions = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.output.stop();
    if (this.adoptTimer) clearInterval(this.adoptTimer);
    const closing: Promise<unknown>[] = [];
    for (const e of this.entries.values()) {
      if (e.killTimer) clearTimeout(e.killTimer);
      if (e.restartTimer) clearTimeout(e.restartTimer);
      e.killTimer = undefined;
      e.restartTimer = undefined;
      e.reg.stopHealth();
      e.proc?.removeAllListeners('exit');
      e.proc = undefined;
      if (!e.spoolsRemoved) this.output.drain(e, false);
      closing.push(opts.keepRegistrations ? e.reg.release() : e.reg.deregister('manager closing'));
    }
    this.persist();
    await Promise.all([...closing, ...this.pending]);
    for (const e of this.entries.values()) {
      e.spools.stdout.close();
      e.spools.stderr.close();
      for (const w of e.waiters.splice(0)) w();
    }
  }

  // ---- lifecycle ----

  private makeEntry(job: Job, spool: SpoolOffsets | undefined, backoffMs: number): Entry {
    const e: Entry = {
      job,
      spools: openSpools(this.files.jobDir(job.id), spool, this.options.spool),
      reg: new JobRegistration(job, this.registration, (text) => this.initLine(e, text)),
      backoffMs,
      waiters: [],
      spoolsRemoved: isOver(job),
    };
    return e;
  }

  /** A job from the state file: re-adopt it, settle it, or schedule its pending restart. */
  private recover(e: Entry): void {
    const r = recovery(e.job);
    if (r.kind === 'adopt') {
      this.initLine(e, `re-adopted pid ${e.job.pid}`);
      this.emitState(e);
      this.output.drain(e, false);
      // A stop (or its drain) was under way when the last manager went: finish it, unregistered.
      if (e.job.stopRequested) this.terminate(e, this.opts.defaultGraceMs);
      else e.reg.start();
    } else if (r.kind === 'exited') {
      this.onExit(e, null, null, r.why);
    } else if (r.kind === 'restart') {
      this.scheduleRestart(e, r.delayMs);
    }
  }

  private async spawnJob(e: Entry): Promise<void> {
    const job = e.job;
    let child: ChildProcess;
    let launch: ReturnType<typeof resolveLaunch>;
    try {
      launch = resolveLaunch(job, this.roots);
      child = spawnDetached(
        launch,
        this.files.jobDir(job.id),
        {
          stdout: e.spools.stdout.path,
          stderr: e.spools.stderr.path,
        },
        jobEnv(job, this.opts.baseEnv, this.hostId, this.options.clusterKey),
      );
    } catch (err) {
      this.fail(e, `spawn: ${(err as Error).message}`);
      return;
    }
    e.proc = child;
    const err = await spawned(child);
    if (err || child.pid === undefined) {
      e.proc = undefined;
      child.removeAllListeners();
      this.fail(e, `spawn: ${err?.message ?? 'no pid'}`);
      return;
    }
    child.on('error', (err) => this.warn(new Error(`job ${job.id}: ${err.message}`)));
    child.once('exit', (code, signal) => {
      if (e.proc === child) this.onExit(e, code, signal);
    });
    child.unref();
    markRunning(job, child.pid, readProcStat(child.pid)?.startTime);
    this.initLine(e, `started pid ${child.pid}: ${[launch.file, ...maskArgs(launch.args)].join(' ')}`);
    this.persist();
    this.emitState(e);
    if (this.closed) return;
    if (job.stopRequested) {
      this.terminate(e, this.opts.defaultGraceMs);
      return;
    }
    e.reg.start();
  }

  /**
   * Out of discoverd (and no health check to put it back), drainMs for the routers to notice,
   * then terminate — unless the job exited or the manager closed meanwhile.
   */
  private async drainThenTerminate(e: Entry, drainMs: number, graceMs: number): Promise<void> {
    e.draining = true;
    e.reg.stopHealth();
    try {
      await e.reg.deregister('stopping: draining');
      this.initLine(e, `draining for ${drainMs} ms before SIGTERM`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, drainMs);
        // An exit (or close) ends the wait early.
        e.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    } catch (err) {
      this.warn(new Error(`job ${e.job.id}: drain: ${(err as Error).message}`));
    } finally {
      e.draining = false;
    }
    if (e.job.state === 'running' && !this.closed) this.terminate(e, graceMs);
  }

  /** SIGTERM now, SIGKILL after graceMs (to the whole process group). */
  private terminate(e: Entry, graceMs: number): void {
    this.initLine(e, `stopping: SIGTERM, SIGKILL after ${graceMs} ms`);
    signalGroup(e.job, 'SIGTERM');
    if (e.killTimer) clearTimeout(e.killTimer);
    e.killTimer = setTimeout(() => {
      e.killTimer = undefined;
      if (e.job.state !== 'running') return;
      this.initLine(e, `still running after ${graceMs} ms: SIGKILL`);
      signalGroup(e.job, 'SIGKILL');
    }, graceMs);
    e.killTimer.unref();
  }

  /** The process ended (our child's exit event, or a re-adopted pid found gone). */
  private onExit(e: Entry, code: number | null, signal: NodeJS.Signals | null, unknown?: string): void {
    const job = e.job;
    if (isFinished(job)) return;
    if (e.killTimer) clearTimeout(e.killTimer);
    e.killTimer = undefined;
    e.proc = undefined;
    e.reg.stopHealth();
    this.track(e.reg.deregister('job exited'));
    this.output.drainPaced(e);
    const ranMs = job.startedAt ? Date.now() - Date.parse(job.startedAt) : 0;
    this.initLine(e, markExited(job, code, signal, unknown));
    if (!this.closed && wantsRestart(job)) {
      const { delay, next } = nextBackoff(e.backoffMs, ranMs, this.opts.backoff);
      e.backoffMs = next;
      this.initLine(e, `restarting in ${delay} ms (policy ${job.restart})`);
      this.scheduleRestart(e, delay);
    } else {
      job.restartAt = undefined;
      this.finishSpools(e);
    }
    this.persist();
    this.emitState(e);
    for (const w of e.waiters.splice(0)) w();
    this.prune();
  }

  private scheduleRestart(e: Entry, delay: number): void {
    e.job.restartAt = new Date(Date.now() + delay).toISOString();
    e.restartTimer = setTimeout(() => {
      e.restartTimer = undefined;
      if (this.closed || e.job.stopRequested) return;
      markRestarting(e.job);
      this.initLine(e, `restart ${e.job.restarts}`);
      this.persist();
      this.emitState(e);
      this.track(this.spawnJob(e));
    }, delay);
    e.restartTimer.unref();
  }

  private fail(e: Entry, message: string): void {
    markFailed(e.job, message);
    this.initLine(e, `failed: ${message}`);
    this.finishSpools(e);
    this.persist();
    this.emitState(e);
    for (const w of e.waiters.splice(0)) w();
  }

  /** The job is over for good: its spools are read to the end, then deleted. */
  private finishSpools(e: Entry): void {
    if (e.spoolsRemoved) return;
    if (!this.closed && !this.output.drainPaced(e)) {
      // More than the consumer takes now: the tailer reads the rest, then comes back here.
      e.finishing = true;
      return;
    }
    e.finishing = false;
    e.spools.stdout.remove();
    e.spools.stderr.remove();
    rmSync(this.files.jobDir(e.job.id), { recursive: true, force: true });
    e.spoolsRemoved = true;
  }

  /** Keeps at most maxFinished finished jobs. */
  private prune(): void {
    const finished = [...this.entries.values()].filter((x) => isOver(x.job));
    const excess = finished.length - this.opts.maxFinished;
    if (excess <= 0) return;
    finished.sort((a, b) => (a.job.endedAt ?? '').localeCompare(b.job.endedAt ?? ''));
    for (const x of finished.slice(0, excess)) {
      this.finishSpools(x);
      this.entries.delete(x.job.id);
    }
    this.persist();
  }

  private adoptTick(): void {
    if (this.closed) return;
    for (const e of this.entries.values()) {
      if (adoptedExited(e.job)) {
        this.onExit(
          e,
          null,
          null,
          `pid ${e.job.pid} exited (re-adopted, not our child): exit status unknown`,
        );
      }
    }
  }

  private takenPorts(): Set<number> {
    const taken = new Set<number>();
    for (const e of this.entries.values()) {
      if (!isOver(e.job)) for (const p of e.job.ports) taken.add(p);
    }
    return taken;
  }

  // ---- events ----

  /** Hands a batch to 'lines' listeners and, one by one (copied), to 'line' listeners. */
  private emitLines(ev: LinesEvent): void {
    if (this.listenerCount('lines') > 0) {
      try {
        this.emit('lines', ev);
      } catch (err) {
        this.warn(new Error(`lines listener threw: ${(err as Error).message}`));
      }
    }
    if (this.listenerCount('line') === 0) return;
    for (const line of eachLine(ev)) {
      try {
        this.emit('line', line);
      } catch (err) {
        this.warn(new Error(`line listener threw: ${(err as Error).message}`));
      }
    }
  }

  private initLine(e: Entry, text: string): void {
    this.emitLines(noteEvent(e.job.id, text));
  }

  private snapshot(e: Entry): Job {
    return structuredClone(e.job);
  }

  private emitState(e: Entry): void {
    try {
      this.emit('state', this.snapshot(e));
    } catch (err) {
      this.warn(new Error(`state listener threw: ${(err as Error).message}`));
    }
  }

  private warn(err: Error): void {
    if (this.listenerCount('warning') > 0) this.emit('warning', err);
  }

  // ---- state files ----

  /** Saves the offsets of the spools still read (small: only live jobs). */
  private persistOffsets(): void {
    this.output.dirty = false;
    const spools: Record<string, SpoolOffsets> = {};
    for (const e of this.entries.values()) if (!e.spoolsRemoved) spools[e.job.id] = spoolOffsets(e.spools);
    this.files.saveOffsets(spools);
  }

  /** Saves everything: the offsets first, then the jobs (whose copy of the offsets may lag). */
  private persist(): void {
    if (!this.started && this.entries.size === 0) return;
    this.persistOffsets();
    this.files.save(
      this.hostId,
      [...this.entries.values()].map((e) => ({
        job: e.job,
        spool: spoolOffsets(e.spools),
        backoffMs: e.backoffMs,
      })),
    );
  }

  private track<T>(p: Promise<T>): void {
    const q = p.catch((err) => this.warn(err as Error));
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }

  private assertOpen(): void {
    if (!this.started) throw new Error('JobManager not started (call start())');
    if (this.closed) throw new Error('JobManager closed');
  }
}

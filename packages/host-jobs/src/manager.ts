import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DiscoverdClient, Heartbeater } from '@flynn-edge/discoverd-client';
import { HealthMonitor, resolveHealthCheck } from './health.js';
import { PortAllocator, type PortRange } from './ports.js';
import { isSameProcessAlive, readProcStat } from './procfs.js';
import { maskArgs } from './secrets.js';
import { Spool, type SpoolOptions } from './spool.js';
import { readJson, writeJsonAtomic } from './state.js';
import {
  type Job,
  JobNotFoundError,
  type JobSpec,
  JobSpecError,
  type JobState,
  type LineEvent,
  type LineStream,
  type LinesEvent,
  type RestartPolicy,
} from './types.js';

// flynn-host's job supervisor (issue 5 "Jobs"): spawns jobs in their own process group with
// stdout/stderr going to per-job spool files, allocates ports, registers jobs in discoverd once
// their health check passes, restarts crashed jobs with a capped backoff, and keeps its state on
// disk so that a new manager re-adopts the jobs a previous one left running.

export interface RestartBackoff {
  /** First restart delay (default 1000 ms); doubles on every crash in a row… */
  initialMs?: number;
  /** …up to this (default 30 s). */
  maxMs?: number;
  /** A run at least this long resets the delay to initialMs (default 10 s). */
  resetAfterMs?: number;
}

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
}

export interface StopOptions {
  /** SIGTERM → SIGKILL grace period (default: the manager's, 10 s). */
  graceMs?: number;
}

export interface RegistrationEvent {
  job: string;
  registered: boolean;
  service: string;
  addr: string;
}

interface PersistedJob {
  job: Job;
  spool: { stdout: { offset: number; punched: number }; stderr: { offset: number; punched: number } };
  backoffMs: number;
}

interface PersistedState {
  version: 1;
  hostId: string;
  jobs: PersistedJob[];
}

type SpoolOffsets = PersistedJob['spool'];

/** offsets.json: the spool offsets alone, rewritten on every read that consumed lines. */
interface PersistedOffsets {
  version: 1;
  spools: Record<string, SpoolOffsets>;
}

function laterOffsets(a: SpoolOffsets, b: SpoolOffsets | undefined): SpoolOffsets {
  if (!b) return a;
  const pick = (x: SpoolOffsets['stdout'], y: SpoolOffsets['stdout']) => (y.offset >= x.offset ? y : x);
  return { stdout: pick(a.stdout, b.stdout), stderr: pick(a.stderr, b.stderr) };
}

interface Entry {
  job: Job;
  spools: { stdout: Spool; stderr: Spool };
  proc?: ChildProcess;
  killTimer?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
  health?: HealthMonitor;
  hb?: Heartbeater;
  registering: boolean;
  wantRegistered: boolean;
  regGen: number;
  backoffMs: number;
  waiters: Array<() => void>;
  /** Spool files are gone (job finished for good). */
  spoolsRemoved: boolean;
  /** The job is over for good; its spools go once read to the end (paced by `accepting`). */
  finishing?: boolean;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/;
const FINISHED: ReadonlySet<JobState> = new Set(['done', 'crashed', 'failed']);
const RESTART_POLICIES: readonly RestartPolicy[] = ['never', 'on-failure', 'always'];
const MAX_PORTS = 64;
/** While the line consumer is not accepting, how soon the spools are tried again. */
const BLOCKED_RETRY_MS = 10;

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
  private readonly entries = new Map<string, Entry>();
  private readonly opts: Required<
    Pick<
      JobManagerOptions,
      | 'registerHost'
      | 'checkHost'
      | 'defaultGraceMs'
      | 'tailIntervalMs'
      | 'offsetsIntervalMs'
      | 'adoptPollMs'
      | 'maxFinished'
    >
  > & { backoff: Required<RestartBackoff>; baseEnv: Record<string, string> };
  private tailTimer: NodeJS.Timeout | undefined;
  private adoptTimer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  private dirty = false;
  /** When tailTick last saved offsets.json (ms, performance.now()). */
  private offsetsSavedAt = Number.NEGATIVE_INFINITY;
  private catchingUp = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly options: JobManagerOptions) {
    super();
    if (!options.hostId || !ID_RE.test(options.hostId)) {
      throw new JobSpecError(`invalid host id ${JSON.stringify(options.hostId)}`, 'hostId');
    }
    this.hostId = options.hostId;
    this.stateDir = options.stateDir;
    const registerHost = options.registerHost ?? '127.0.0.1';
    this.opts = {
      registerHost,
      checkHost: options.checkHost ?? registerHost,
      defaultGraceMs: options.defaultGraceMs ?? 10_000,
      tailIntervalMs: options.tailIntervalMs ?? 100,
      offsetsIntervalMs: options.offsetsIntervalMs ?? 1000,
      adoptPollMs: options.adoptPollMs ?? 500,
      maxFinished: options.maxFinished ?? 1000,
      backoff: {
        initialMs: options.restartBackoff?.initialMs ?? 1000,
        maxMs: options.restartBackoff?.maxMs ?? 30_000,
        resetAfterMs: options.restartBackoff?.resetAfterMs ?? 10_000,
      },
      baseEnv: options.baseEnv ?? (process.env.PATH ? { PATH: process.env.PATH } : {}),
    };
    this.ports = new PortAllocator(options.portRange, options.portCheckHost);
  }

  private get statePath(): string {
    return join(this.stateDir, 'jobs.json');
  }

  private get offsetsPath(): string {
    return join(this.stateDir, 'offsets.json');
  }

  private load<T>(path: string): T | undefined {
    try {
      return readJson(path) as T | undefined;
    } catch (err) {
      throw new Error(`${path}: unreadable state file (${(err as Error).message})`);
    }
  }

  private jobDir(id: string): string {
    return join(this.stateDir, 'jobs', id);
  }

  /**
   * Loads the state a previous manager left, re-adopts its live jobs (resuming their spools from
   * the saved offsets and registering them again), settles the ones whose process is gone, and
   * starts supervising. Attach 'line' and 'state' listeners before calling it.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('JobManager already started');
    this.started = true;
    mkdirSync(join(this.stateDir, 'jobs'), { recursive: true });
    const raw = this.load<PersistedState>(this.statePath);
    if (raw !== undefined && (raw.version !== 1 || !Array.isArray(raw.jobs))) {
      throw new Error(`${this.statePath}: not a job state file (version ${String(raw.version)})`);
    }
    let offsets: PersistedOffsets | undefined;
    try {
      offsets = this.load<PersistedOffsets>(this.offsetsPath);
    } catch (err) {
      // torn (a disk error, a crash of the machine): the state file's offsets are older, not lost
      this.warn(new Error(`${(err as Error).message}; using the offsets in the state file`));
    }
    for (const p of raw?.jobs ?? []) {
      const job: Job = { ...p.job, registered: false, child: false };
      // Offsets only grow: the later of the two files wins.
      const e = this.makeEntry(job, laterOffsets(p.spool, offsets?.spools?.[job.id]), p.backoffMs);
      this.entries.set(job.id, e);
    }
    for (const e of this.entries.values()) this.recover(e);
    this.persist();
    this.tailTimer = setInterval(() => this.tailTick(), this.opts.tailIntervalMs);
    this.tailTimer.unref();
    this.adoptTimer = setInterval(() => this.adoptTick(), this.opts.adoptPollMs);
    this.adoptTimer.unref();
  }

  /** Validates the spec, allocates ports and spawns; resolves once it runs (or failed). */
  async run(spec: JobSpec): Promise<Job> {
    this.assertOpen();
    const job = this.validate(spec);
    if (this.entries.has(job.id))
      throw new JobSpecError(`job ${JSON.stringify(job.id)} already exists`, 'id');
    const e = this.makeEntry(job, undefined, this.opts.backoff.initialMs);
    this.entries.set(job.id, e);
    mkdirSync(this.jobDir(job.id), { recursive: true });
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

  /**
   * Stops a job: SIGTERM to its process group, SIGKILL after the grace period; resolves once it
   * has exited. A finished job's pending restart is cancelled. The job ends `done`.
   */
  async stop(id: string, opts: StopOptions = {}): Promise<Job> {
    const e = this.entries.get(id);
    if (!e) throw new JobNotFoundError(id);
    const graceMs = opts.graceMs ?? this.opts.defaultGraceMs;
    if (!Number.isFinite(graceMs) || graceMs < 0)
      throw new JobSpecError(`invalid grace period ${graceMs}`, 'graceMs');
    e.job.stopRequested = true;
    if (FINISHED.has(e.job.state)) {
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
    if (e.job.state === 'running') this.terminate(e, graceMs);
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
    return (
      e.spools.stdout.size() - e.spools.stdout.offset + (e.spools.stderr.size() - e.spools.stderr.offset)
    );
  }

  /**
   * Stops supervising without stopping any job: reads the spools one last time, saves the state
   * (offsets included) and removes this manager's discoverd registrations. Jobs keep running; the
   * next manager on the same state dir re-adopts them.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tailTimer) clearInterval(this.tailTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.adoptTimer) clearInterval(this.adoptTimer);
    const closing: Promise<unknown>[] = [];
    for (const e of this.entries.values()) {
      if (e.killTimer) clearTimeout(e.killTimer);
      if (e.restartTimer) clearTimeout(e.restartTimer);
      e.killTimer = undefined;
      e.restartTimer = undefined;
      e.health?.stop();
      e.health = undefined;
      e.proc?.removeAllListeners('exit');
      e.proc = undefined;
      if (!e.spoolsRemoved) this.drain(e, false);
      closing.push(this.deregister(e, 'manager closing'));
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

  private makeEntry(job: Job, spool: PersistedJob['spool'] | undefined, backoffMs: number): Entry {
    const dir = this.jobDir(job.id);
    return {
      job,
      spools: {
        stdout: new Spool(
          join(dir, 'stdout'),
          spool?.stdout.offset ?? 0,
          spool?.stdout.punched ?? 0,
          this.options.spool,
        ),
        stderr: new Spool(
          join(dir, 'stderr'),
          spool?.stderr.offset ?? 0,
          spool?.stderr.punched ?? 0,
          this.options.spool,
        ),
      },
      registering: false,
      wantRegistered: false,
      regGen: 0,
      backoffMs,
      waiters: [],
      spoolsRemoved: FINISHED.has(job.state) && !job.restartAt,
    };
  }

  /** A job from the state file: re-adopt it, settle it, or schedule its pending restart. */
  private recover(e: Entry): void {
    const job = e.job;
    if (job.state === 'running' && job.pid !== undefined) {
      if (isSameProcessAlive(job.pid, job.procStartTime)) {
        this.initLine(e, `re-adopted pid ${job.pid}`);
        this.emitState(e);
        this.drain(e, false);
        this.startRegistration(e);
        return;
      }
      const st = readProcStat(job.pid);
      const why =
        st && st.state !== 'Z' && job.procStartTime !== undefined && st.startTime !== job.procStartTime
          ? `pid ${job.pid} now names another process`
          : `pid ${job.pid} is gone`;
      this.onExit(
        e,
        null,
        null,
        `${why}: the job exited while no manager supervised it; exit status unknown`,
      );
      return;
    }
    if (job.state === 'starting' || job.state === 'running') {
      this.onExit(e, null, null, 'the manager stopped before the job was spawned; exit status unknown');
      return;
    }
    if (job.restartAt && !job.stopRequested) {
      this.scheduleRestart(e, Math.max(0, Date.parse(job.restartAt) - Date.now()));
    }
  }

  private async spawnJob(e: Entry): Promise<void> {
    const job = e.job;
    const dir = this.jobDir(job.id);
    let outFd: number | undefined;
    let errFd: number | undefined;
    let child: ChildProcess;
    try {
      mkdirSync(dir, { recursive: true });
      outFd = openSync(e.spools.stdout.path, 'a');
      errFd = openSync(e.spools.stderr.path, 'a');
      child = spawn(job.cmd, job.args, {
        cwd: job.cwd,
        env: this.jobEnv(job),
        stdio: ['ignore', outFd, errFd],
        detached: true,
      });
    } catch (err) {
      this.fail(e, `spawn: ${(err as Error).message}`);
      return;
    } finally {
      if (outFd !== undefined) closeSync(outFd);
      if (errFd !== undefined) closeSync(errFd);
    }
    e.proc = child;
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err));
    });
    if (spawned || child.pid === undefined) {
      e.proc = undefined;
      child.removeAllListeners();
      this.fail(e, `spawn: ${spawned?.message ?? 'no pid'}`);
      return;
    }
    child.on('error', (err) => this.warn(new Error(`job ${job.id}: ${err.message}`)));
    child.once('exit', (code, signal) => {
      if (e.proc === child) this.onExit(e, code, signal);
    });
    child.unref();
    job.pid = child.pid;
    job.procStartTime = readProcStat(child.pid)?.startTime;
    job.child = true;
    job.state = 'running';
    job.startedAt = new Date().toISOString();
    this.initLine(e, `started pid ${child.pid}: ${[job.cmd, ...maskArgs(job.args)].join(' ')}`);
    this.persist();
    this.emitState(e);
    if (this.closed) return;
    if (job.stopRequested) {
      this.terminate(e, this.opts.defaultGraceMs);
      return;
    }
    this.startRegistration(e);
  }

  private jobEnv(job: Job): Record<string, string> {
    const env: Record<string, string> = { ...this.opts.baseEnv, ...job.env };
    job.ports.forEach((p, i) => {
      env[`PORT_${i}`] = String(p);
    });
    if (job.ports.length > 0) env.PORT = String(job.ports[0]);
    env.FLYNN_JOB_ID = job.id;
    env.FLYNN_APP_ID = job.app.id;
    env.FLYNN_APP_NAME = job.app.name;
    env.FLYNN_PROCESS_TYPE = job.processType;
    env.HOST_ID = this.hostId;
    return env;
  }

  /** SIGTERM now, SIGKILL after graceMs (to the whole process group). */
  private terminate(e: Entry, graceMs: number): void {
    this.initLine(e, `stopping: SIGTERM, SIGKILL after ${graceMs} ms`);
    this.signalGroup(e, 'SIGTERM');
    if (e.killTimer) clearTimeout(e.killTimer);
    e.killTimer = setTimeout(() => {
      e.killTimer = undefined;
      if (e.job.state !== 'running') return;
      this.initLine(e, `still running after ${graceMs} ms: SIGKILL`);
      this.signalGroup(e, 'SIGKILL');
    }, graceMs);
    e.killTimer.unref();
  }

  private signalGroup(e: Entry, sig: NodeJS.Signals): void {
    const pid = e.job.pid;
    if (pid === undefined) return;
    // A re-adopted pid is only signalled while it still names the job's process.
    if (!e.job.child && !isSameProcessAlive(pid, e.job.procStartTime)) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  }

  /** The process ended (our child's exit event, or a re-adopted pid found gone). */
  private onExit(e: Entry, code: number | null, signal: NodeJS.Signals | null, unknown?: string): void {
    const job = e.job;
    if (FINISHED.has(job.state)) return;
    if (e.killTimer) clearTimeout(e.killTimer);
    e.killTimer = undefined;
    e.proc = undefined;
    e.health?.stop();
    e.health = undefined;
    this.track(this.deregister(e, 'job exited'));
    this.drainPaced(e);
    const ranMs = job.startedAt ? Date.now() - Date.parse(job.startedAt) : 0;
    job.endedAt = new Date().toISOString();
    job.exitStatus = code;
    job.signal = signal;
    if (unknown) {
      job.error = unknown;
      job.state = job.stopRequested ? 'done' : 'crashed';
      this.initLine(e, unknown);
    } else {
      job.state = job.stopRequested || code === 0 ? 'done' : 'crashed';
      this.initLine(e, signal ? `killed by signal ${signal}` : `exited with status ${code}`);
    }
    const restart =
      !job.stopRequested &&
      !this.closed &&
      (job.restart === 'always' || (job.restart === 'on-failure' && job.state === 'crashed'));
    if (restart) {
      if (ranMs >= this.opts.backoff.resetAfterMs) e.backoffMs = this.opts.backoff.initialMs;
      const delay = e.backoffMs;
      e.backoffMs = Math.min(e.backoffMs * 2, this.opts.backoff.maxMs);
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
      const job = e.job;
      job.restarts++;
      job.restartAt = undefined;
      job.state = 'starting';
      job.pid = undefined;
      job.procStartTime = undefined;
      job.exitStatus = undefined;
      job.signal = undefined;
      job.error = undefined;
      job.endedAt = undefined;
      this.initLine(e, `restart ${job.restarts}`);
      this.persist();
      this.emitState(e);
      this.track(this.spawnJob(e));
    }, delay);
    e.restartTimer.unref();
  }

  private fail(e: Entry, message: string): void {
    const job = e.job;
    job.state = 'failed';
    job.error = message;
    job.endedAt = new Date().toISOString();
    job.restartAt = undefined;
    this.initLine(e, `failed: ${message}`);
    this.finishSpools(e);
    this.persist();
    this.emitState(e);
    for (const w of e.waiters.splice(0)) w();
  }

  /** The job is over for good: its spools are read to the end, then deleted. */
  private finishSpools(e: Entry): void {
    if (e.spoolsRemoved) return;
    if (!this.closed && !this.drainPaced(e)) {
      // More than the consumer takes now: tailTick reads the rest, then comes back here.
      e.finishing = true;
      return;
    }
    e.finishing = false;
    e.spools.stdout.remove();
    e.spools.stderr.remove();
    rmSync(this.jobDir(e.job.id), { recursive: true, force: true });
    e.spoolsRemoved = true;
  }

  /** Keeps at most maxFinished finished jobs. */
  private prune(): void {
    const finished = [...this.entries.values()].filter((x) => FINISHED.has(x.job.state) && !x.job.restartAt);
    const excess = finished.length - this.opts.maxFinished;
    if (excess <= 0) return;
    finished.sort((a, b) => (a.job.endedAt ?? '').localeCompare(b.job.endedAt ?? ''));
    for (const x of finished.slice(0, excess)) {
      this.finishSpools(x);
      this.entries.delete(x.job.id);
    }
    this.persist();
  }

  // ---- output ----

  private tailTick(): void {
    if (this.closed) return;
    let more = false;
    let blocked = false;
    for (const e of this.entries.values()) {
      if (e.spoolsRemoved) continue;
      // The consumer is full: the rest waits in the spools until it takes more (checked again
      // shortly, not a whole tick later: a disk that catches up in a few ms should not idle).
      if (!this.accepting()) {
        blocked = true;
        break;
      }
      try {
        this.drain(e, false);
        if (e.finishing && !e.spools.stdout.more && !e.spools.stderr.more) this.finishSpools(e);
      } catch (err) {
        this.warn(new Error(`job ${e.job.id}: reading spool: ${(err as Error).message}`));
      }
      more ||= e.spools.stdout.more || e.spools.stderr.more;
      for (const s of [e.spools.stdout, e.spools.stderr]) {
        this.track(s.reclaim().then((msg) => msg && this.warn(new Error(msg))));
      }
    }
    // At most every offsetsIntervalMs while lines flow (a write, an fsync and a rename on the event
    // loop): a crash repeats the lines read since the last save, it never loses any.
    const now = performance.now();
    if (this.dirty && now - this.offsetsSavedAt >= this.opts.offsetsIntervalMs) {
      this.offsetsSavedAt = now;
      this.persistOffsets();
    }
    if (blocked && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.tailTick();
      }, BLOCKED_RETRY_MS);
      this.retryTimer.unref();
    }
    // A spool had more than one read's budget waiting: go on at once (after pending I/O).
    if (more && !blocked && !this.catchingUp) {
      this.catchingUp = true;
      setImmediate(() => {
        this.catchingUp = false;
        this.tailTick();
      });
    }
  }

  private accepting(): boolean {
    return this.options.accepting?.() ?? true;
  }

  /**
   * Reads the job's spools to the end while the consumer accepts (the final read of a job that
   * exited). Returns whether everything was read.
   */
  private drainPaced(e: Entry): boolean {
    if (!this.options.accepting) {
      this.drain(e, true);
      return true;
    }
    while (this.accepting()) {
      this.drain(e, false);
      if (!e.spools.stdout.more && !e.spools.stderr.more) {
        // A last read with `final` takes a partial last line too.
        this.drain(e, true);
        return true;
      }
    }
    return false;
  }

  /** Emits every complete line waiting in the job's spools (all of it with `final`). */
  private drain(e: Entry, final: boolean): void {
    if (e.spoolsRemoved) return;
    for (const stream of ['stdout', 'stderr'] as const) {
      const spool = e.spools[stream];
      // One budget-limited read per tick; a final drain reads to the end of the file.
      for (;;) {
        const before = spool.offset;
        const b = spool.readBatch(final);
        if (spool.offset !== before) this.dirty = true;
        if (b)
          this.emitLines({
            job: e.job.id,
            stream,
            data: b.data,
            starts: b.starts,
            ends: b.ends,
            offset: b.offset,
          });
        if (!final || spool.offset === before) break;
      }
    }
  }

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
    for (let i = 0; i < ev.starts.length; i++) {
      const line = Buffer.from(ev.data.subarray(ev.starts[i]!, ev.ends[i]!));
      this.emitLine(ev.job, ev.stream, line, ev.offset === undefined ? undefined : ev.offset + ev.starts[i]!);
    }
  }

  private emitLine(job: string, stream: LineStream, line: Buffer, offset?: number): void {
    try {
      const ev: LineEvent = offset === undefined ? { job, stream, line } : { job, stream, line, offset };
      this.emit('line', ev);
    } catch (err) {
      this.warn(new Error(`line listener threw: ${(err as Error).message}`));
    }
  }

  private initLine(e: Entry, text: string): void {
    const data = Buffer.from(text);
    this.emitLines({ job: e.job.id, stream: 'init', data, starts: [0], ends: [data.length] });
  }

  // ---- discoverd ----

  private startRegistration(e: Entry): void {
    const job = e.job;
    if (!this.options.discoverd || !job.service || job.ports.length === 0 || this.closed) return;
    if (!job.health) {
      this.track(this.register(e));
      return;
    }
    const check = resolveHealthCheck(job.health);
    const port = job.ports[check.port];
    this.initLine(
      e,
      `health check: ${check.kind} port ${port}, every ${check.intervalMs} ms, threshold ${check.threshold}`,
    );
    e.health = new HealthMonitor(check, this.opts.checkHost, port, (up) => {
      if (up) {
        this.initLine(e, 'health check passed');
        this.track(this.register(e));
      } else {
        this.initLine(e, 'health check failing');
        this.track(this.deregister(e, 'health check failing'));
      }
    });
    e.health.start();
  }

  private addr(e: Entry): string {
    return `${this.opts.registerHost}:${e.job.ports[0]}`;
  }

  private async register(e: Entry): Promise<void> {
    const dc = this.options.discoverd;
    const job = e.job;
    if (!dc || !job.service) return;
    e.wantRegistered = true;
    if (e.hb || e.registering) return;
    e.registering = true;
    const gen = e.regGen;
    const meta: Record<string, string> = {
      ...(job.meta ?? {}),
      FLYNN_APP_ID: job.app.id,
      FLYNN_APP_NAME: job.app.name,
      FLYNN_JOB_ID: job.id,
      FLYNN_PROCESS_TYPE: job.processType,
    };
    let hb: Heartbeater;
    try {
      hb = await dc.addServiceAndRegister(job.service, this.addr(e), {
        meta,
        onError: (err) => this.warn(new Error(`job ${job.id}: heartbeat: ${err.message}`)),
      });
    } catch (err) {
      e.registering = false;
      this.initLine(e, `discoverd registration failed: ${(err as Error).message}`);
      if (e.wantRegistered && gen === e.regGen && !this.closed && job.state === 'running') {
        const t = setTimeout(() => this.track(this.register(e)), 1000);
        t.unref();
      }
      return;
    }
    e.registering = false;
    if (gen !== e.regGen || !e.wantRegistered || this.closed || job.state !== 'running') {
      await hb.close();
      if (e.wantRegistered && !this.closed && job.state === 'running') await this.register(e);
      return;
    }
    e.hb = hb;
    job.registered = true;
    this.initLine(e, `registered in discoverd: ${job.service} ${this.addr(e)}`);
    this.emit('registration', { job: job.id, registered: true, service: job.service, addr: this.addr(e) });
  }

  private async deregister(e: Entry, why: string): Promise<void> {
    e.wantRegistered = false;
    e.regGen++;
    const hb = e.hb;
    if (!hb) return;
    e.hb = undefined;
    e.job.registered = false;
    await hb.close();
    this.initLine(e, `deregistered from discoverd (${why})`);
    this.emit('registration', {
      job: e.job.id,
      registered: false,
      service: e.job.service ?? '',
      addr: this.addr(e),
    });
  }

  // ---- helpers ----

  private adoptTick(): void {
    if (this.closed) return;
    for (const e of this.entries.values()) {
      const job = e.job;
      if (job.state !== 'running' || job.child || job.pid === undefined) continue;
      if (!isSameProcessAlive(job.pid, job.procStartTime)) {
        this.onExit(e, null, null, `pid ${job.pid} exited (re-adopted, not our child): exit status unknown`);
      }
    }
  }

  private takenPorts(): Set<number> {
    const taken = new Set<number>();
    for (const e of this.entries.values()) {
      if (!FINISHED.has(e.job.state) || e.job.restartAt) for (const p of e.job.ports) taken.add(p);
    }
    return taken;
  }

  private validate(spec: JobSpec): Job {
    if (spec === null || typeof spec !== 'object') throw new JobSpecError('job spec must be an object');
    const str = (v: unknown) => typeof v === 'string' && v.length > 0;
    if (!spec.app || !str(spec.app.id) || !str(spec.app.name)) {
      throw new JobSpecError('app.id and app.name must be non-empty strings', 'app');
    }
    if (!str(spec.cmd)) throw new JobSpecError('cmd must be a non-empty string', 'cmd');
    const args = spec.args ?? [];
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
      throw new JobSpecError('args must be an array of strings', 'args');
    }
    const env = spec.env ?? {};
    if (
      typeof env !== 'object' ||
      Array.isArray(env) ||
      !Object.values(env).every((v) => typeof v === 'string')
    ) {
      throw new JobSpecError('env must map names to strings', 'env');
    }
    const ports = spec.ports ?? 0;
    if (!Number.isInteger(ports) || ports < 0 || ports > MAX_PORTS) {
      throw new JobSpecError(`ports must be an integer 0-${MAX_PORTS}`, 'ports');
    }
    const restart = spec.restart ?? 'never';
    if (!RESTART_POLICIES.includes(restart)) {
      throw new JobSpecError(`restart must be one of ${RESTART_POLICIES.join(', ')}`, 'restart');
    }
    if (spec.service !== undefined && (!str(spec.service) || ports < 1)) {
      throw new JobSpecError('service needs a non-empty name and at least one port', 'service');
    }
    const h = spec.health;
    if (h !== undefined) {
      if (h.kind !== 'tcp' && h.kind !== 'http')
        throw new JobSpecError('health.kind must be tcp or http', 'health');
      if (!Number.isInteger(h.port) || h.port < 0 || h.port >= ports) {
        throw new JobSpecError('health.port must index one of the job ports', 'health');
      }
      for (const k of ['intervalMs', 'threshold', 'timeoutMs', 'startIntervalMs'] as const) {
        const v = h[k];
        if (v !== undefined && (!Number.isFinite(v) || v <= 0)) {
          throw new JobSpecError(`health.${k} must be a positive number`, 'health');
        }
      }
    }
    const id = spec.id ?? `${this.hostId}-${randomUUID()}`;
    if (!ID_RE.test(id)) throw new JobSpecError(`invalid job id ${JSON.stringify(id)}`, 'id');
    return {
      id,
      app: { id: spec.app.id, name: spec.app.name },
      processType: spec.processType ?? '',
      cmd: spec.cmd,
      args: [...args],
      env: { ...env },
      cwd: spec.cwd,
      ports: [],
      health: h ? { ...h } : undefined,
      restart,
      service: spec.service,
      meta: spec.meta ? { ...spec.meta } : undefined,
      state: 'starting',
      createdAt: new Date().toISOString(),
      restarts: 0,
      stopRequested: false,
      registered: false,
      child: false,
    };
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

  private spoolOffsets(e: Entry): SpoolOffsets {
    return {
      stdout: { offset: e.spools.stdout.offset, punched: e.spools.stdout.punched },
      stderr: { offset: e.spools.stderr.offset, punched: e.spools.stderr.punched },
    };
  }

  /** Saves the offsets of the spools still read (small: only live jobs). */
  private persistOffsets(): void {
    this.dirty = false;
    const spools: Record<string, SpoolOffsets> = {};
    for (const e of this.entries.values()) if (!e.spoolsRemoved) spools[e.job.id] = this.spoolOffsets(e);
    writeJsonAtomic(this.offsetsPath, { version: 1, spools } satisfies PersistedOffsets);
  }

  /** Saves everything: the offsets first, then the jobs (whose copy of the offsets may lag). */
  private persist(): void {
    if (!this.started && this.entries.size === 0) return;
    this.persistOffsets();
    const state: PersistedState = {
      version: 1,
      hostId: this.hostId,
      jobs: [...this.entries.values()].map((e) => ({
        job: e.job,
        spool: this.spoolOffsets(e),
        backoffMs: e.backoffMs,
      })),
    };
    writeJsonAtomic(this.statePath, state);
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

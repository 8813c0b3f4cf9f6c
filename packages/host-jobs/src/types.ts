import type { HealthCheckSpec } from './health.js';

export type JobState = 'starting' | 'running' | 'done' | 'crashed' | 'failed';
export type RestartPolicy = 'never' | 'on-failure' | 'always';
export type LineStream = 'stdout' | 'stderr' | 'init';

export interface JobApp {
  id: string;
  name: string;
}

/**
 * What a job runs from (spec flynn-ops §1.2): one of the installed apps (`apps/<name>` of the
 * installed tree), or a gzip tarball of a directory stored on the host by its sha256
 * (`PUT /host/artifacts/:sha256`, fetched from another host when missing here).
 */
export type JobArtifact = { type: 'builtin'; name: string } | { type: 'tar'; sha256: string; size?: number };

/** What `run` takes. */
export interface JobSpec {
  /** Default `<hostId>-<uuid>`. */
  id?: string;
  app: JobApp;
  processType?: string;
  cmd: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** How many ports to allocate (default 0). */
  ports?: number;
  health?: HealthCheckSpec;
  /** Default `never`. */
  restart?: RestartPolicy;
  /** discoverd service to register the job's first port under. */
  service?: string;
  /** Extra meta for the discoverd instance and the listing. */
  meta?: Record<string, string>;
  /**
   * The artifact root: `cwd` defaults to it, a `cmd` with a '/' (or ending in .js/.mjs/.cjs) is a
   * file in it, run under this host's Node when it is a script; a bare `node` is this host's Node.
   */
  artifact?: JobArtifact;
  /** A system job: it gets the daemon's CLUSTER_KEY in its env at spawn (never stored or listed). */
  system?: boolean;
}

/** A job as listed (a copy; changing it changes nothing). */
export interface Job {
  id: string;
  app: JobApp;
  processType: string;
  cmd: string;
  args: string[];
  /** The spec's env (the FLYNN_* and PORT variables are added at spawn). */
  env: Record<string, string>;
  cwd?: string;
  ports: number[];
  health?: HealthCheckSpec;
  restart: RestartPolicy;
  service?: string;
  meta?: Record<string, string>;
  artifact?: JobArtifact;
  system?: boolean;
  state: JobState;
  pid?: number;
  /** /proc/<pid>/stat start time (clock ticks after boot): pid + this names the process. */
  procStartTime?: number;
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  /** Exit code; null when killed by a signal or when it is unknown. */
  exitStatus?: number | null;
  signal?: string | null;
  error?: string;
  /** Times the restart policy started the job again. */
  restarts: number;
  /** When the next restart is due (crashed jobs under a restart policy). */
  restartAt?: string;
  /** A stop was asked for. */
  stopRequested: boolean;
  /** Registered in discoverd now. */
  registered: boolean;
  /** This manager is the process's parent (false for re-adopted jobs). */
  child: boolean;
}

export interface LineEvent {
  job: string;
  stream: LineStream;
  line: Buffer;
  /**
   * stdout/stderr: byte offset of the line in the job's spool for that stream. Offsets only grow
   * for a job (restarts append to the same spool), so a consumer that must survive a daemon crash
   * without repeats can drop lines at or below the last offset it stored. Absent on init lines.
   */
  offset?: number;
}

/**
 * Several lines of one stream of a job at once (the fast path for a consumer such as the log
 * store): line i is `data[starts[i], ends[i])` (no '\n'). `data` may be reused once the listener
 * returns, so copy what must be kept.
 */
export interface LinesEvent {
  job: string;
  stream: LineStream;
  data: Buffer;
  starts: readonly number[];
  ends: readonly number[];
  /** stdout/stderr: spool offset of data[0] (line i is at offset + starts[i]); absent on init lines */
  offset?: number;
}

export class JobSpecError extends Error {
  readonly code = 'validation_error';
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'JobSpecError';
  }
}

export class JobNotFoundError extends Error {
  readonly code = 'object_not_found';
  constructor(readonly id: string) {
    super(`job ${JSON.stringify(id)} not found`);
    this.name = 'JobNotFoundError';
  }
}

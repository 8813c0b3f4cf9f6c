import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Launch } from './launch.js';
import { isSameProcessAlive } from './procfs.js';
import type { Job } from './types.js';

// A job's process: spawned detached in its own process group (pgid = pid), stdin on /dev/null,
// stdout and stderr appended to its spool files; signalled as a group.

/** App names that can be one directory name (the app model's names all are). */
const DATA_DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * baseEnv, the spec's env, then PORT_n, PORT, the FLYNN_* variables and HOST_ID, and for a
 * system job the cluster key (only here, at spawn: never in the job as stored or listed) and
 * FLYNN_DATA_DIR, `data/<app name>` relative to the state directory until spawnDetached (which
 * knows where that is) makes it absolute. Keyed by app name, not job id: a replacement job of
 * the same app finds its predecessor's data (discoverd's Raft log).
 */
export function jobEnv(
  job: Job,
  baseEnv: Record<string, string>,
  hostId: string,
  clusterKey?: string,
): Record<string, string> {
  const env: Record<string, string> = { ...baseEnv, ...job.env };
  job.ports.forEach((p, i) => {
    env[`PORT_${i}`] = String(p);
  });
  if (job.ports.length > 0) env.PORT = String(job.ports[0]);
  env.FLYNN_JOB_ID = job.id;
  env.FLYNN_APP_ID = job.app.id;
  env.FLYNN_APP_NAME = job.app.name;
  env.FLYNN_PROCESS_TYPE = job.processType;
  env.HOST_ID = hostId;
  if (job.system && clusterKey) env.CLUSTER_KEY = clusterKey;
  if (job.system && env.FLYNN_DATA_DIR === undefined && DATA_DIR_NAME.test(job.app.name)) {
    env.FLYNN_DATA_DIR = join('data', job.app.name);
  }
  return env;
}

/** The state directory of a job directory (`<state>/jobs/<id>`, persistence.ts StateFiles). */
function stateDirOf(jobDir: string): string {
  return resolve(jobDir, '..', '..');
}

/**
 * Spawns the job's process in `dir` (its `<state>/jobs/<id>` directory); throws when it cannot
 * even be tried. A relative FLYNN_DATA_DIR is made absolute under the state directory and
 * created private (0700: a system app's data, discoverd's Raft log, is the cluster's).
 */
export function spawnDetached(
  launch: Launch,
  dir: string,
  out: { stdout: string; stderr: string },
  env: Record<string, string>,
): ChildProcess {
  let outFd: number | undefined;
  let errFd: number | undefined;
  try {
    mkdirSync(dir, { recursive: true });
    if (env.FLYNN_DATA_DIR !== undefined && !isAbsolute(env.FLYNN_DATA_DIR)) {
      env = { ...env, FLYNN_DATA_DIR: resolve(stateDirOf(dir), env.FLYNN_DATA_DIR) };
      mkdirSync(env.FLYNN_DATA_DIR, { recursive: true, mode: 0o700 });
      chmodSync(env.FLYNN_DATA_DIR, 0o700);
    }
    outFd = openSync(out.stdout, 'a');
    errFd = openSync(out.stderr, 'a');
    return spawn(launch.file, launch.args, {
      cwd: launch.cwd,
      env,
      stdio: ['ignore', outFd, errFd],
      detached: true,
    });
  } finally {
    if (outFd !== undefined) closeSync(outFd);
    if (errFd !== undefined) closeSync(errFd);
  }
}

/** Resolves once the child runs (undefined) or could not start (the error). */
export function spawned(child: ChildProcess): Promise<Error | undefined> {
  return new Promise((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
}

/** Sends `sig` to the job's process group (or to its pid alone when that fails). */
export function signalGroup(job: Job, sig: NodeJS.Signals): void {
  const pid = job.pid;
  if (pid === undefined) return;
  // A re-adopted pid is only signalled while it still names the job's process.
  if (!job.child && !isSameProcessAlive(pid, job.procStartTime)) return;
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

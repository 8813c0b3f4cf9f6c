import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PortBand } from '@flynn-edge/testkit';
import { JobManager, type JobManagerOptions } from '../src/manager.js';
import { isSameProcessAlive, readProcStat } from '../src/procfs.js';
import type { Job, JobSpec, LineEvent } from '../src/types.js';

// Shared pieces of the host-jobs tests: temp state dirs, managers that are closed after each
// file, `node -e` jobs, and a recorder of the line and state events.

export const HOST = 'host1';
export const APP = { id: 'app-0001', name: 'demo' };

const dirs: string[] = [];
const managers: JobManager[] = [];
const pids = new Map<number, number | undefined>();

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'host-jobs-'));
  dirs.push(d);
  return d;
}

// Job ports come from 10000–19999: below the OS's ephemeral range (where freePort, port 0 and
// outgoing connections land) and used by no other suite (theirs start at 20000).
const ephemeralMin = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]);
if (!(ephemeralMin >= 20_000)) {
  throw new Error(`the OS's ephemeral ports start at ${ephemeralMin}, inside the test job ports`);
}
const jobPorts = new PortBand(10_000, 20_000);

/** `size` ports of this worker's slice that no other range of this run holds. */
export function testRange(size = 50): { min: number; max: number } {
  const min = jobPorts.next(size);
  return { min, max: min + size - 1 };
}

export interface Recorder {
  lines: LineEvent[];
  states: Job[];
  text(job: string, stream?: LineEvent['stream']): string[];
}

export function record(m: JobManager, into?: Recorder): Recorder {
  const r: Recorder = into ?? {
    lines: [],
    states: [],
    text(job, stream) {
      return this.lines
        .filter((l) => l.job === job && (stream === undefined || l.stream === stream))
        .map((l) => l.line.toString('utf8'));
    },
  };
  m.on('line', (ev) => r.lines.push(ev));
  m.on('state', (j) => r.states.push(j));
  return r;
}

export async function manager(
  opts: Partial<JobManagerOptions> = {},
  rec?: Recorder,
): Promise<{ m: JobManager; rec: Recorder }> {
  const m = new JobManager({
    hostId: HOST,
    stateDir: opts.stateDir ?? tempDir(),
    portRange: testRange(),
    tailIntervalMs: 20,
    adoptPollMs: 50,
    defaultGraceMs: 5000,
    restartBackoff: { initialMs: 50, maxMs: 200, resetAfterMs: 10_000 },
    ...opts,
  });
  managers.push(m);
  const r = record(m, rec);
  m.on('state', (j) => {
    if (j.pid) pids.set(j.pid, j.procStartTime);
  });
  await m.start();
  return { m, rec: r };
}

/** A job running `node -e script`. */
export function nodeJob(script: string, extra: Partial<JobSpec> = {}): JobSpec {
  return { app: APP, processType: 'web', cmd: process.execPath, args: ['-e', script], ...extra };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Closes every manager, SIGKILLs the process groups of every job pid seen, removes temp dirs. */
export async function cleanup(): Promise<void> {
  await Promise.all(managers.splice(0).map((m) => m.close().catch(() => {})));
  for (const [pid, start] of pids) {
    // Only while the pid still names the job we started (never a reused pid).
    if (!isSameProcessAlive(pid, start)) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  pids.clear();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function trackPid(pid: number, start?: number): void {
  pids.set(pid, start ?? readProcStat(pid)?.startTime);
}

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { readProcStat } from '../src/procfs.js';
import { writeJsonAtomic } from '../src/state.js';
import { alive, cleanup, manager, nodeJob, type Recorder, tempDir, testRange, trackPid } from './helpers.js';

// Re-adoption: a new manager on the same state dir takes over the jobs a previous one left
// running (closed, or SIGKILLed in its own process), resumes their spools at the saved offsets,
// and notices when they exit; pids that now name another process are never adopted or signalled.

afterAll(cleanup);

const FIXTURE = fileURLToPath(new URL('./fixtures/daemon.mjs', import.meta.url));

/** Writes `n ${i}` for i < N, one line per ms, then exits 0. */
function counter(N: number): string {
  return `let i = 0; const t = setInterval(() => { for (let k = 0; k < 10 && i < ${N}; k++) console.log('n ' + i++); if (i >= ${N}) { clearInterval(t); } }, 5);`;
}

const seq = (n: number) => Array.from({ length: n }, (_, i) => `n ${i}`);

/** A manager runs a counter job of N lines and is closed once `seen` lines came: the job runs on. */
async function leftRunning(N: number, seen: number) {
  const dir = tempDir();
  const a = await manager({ stateDir: dir });
  const job = await a.m.run(nodeJob(counter(N)));
  await waitFor(() => a.rec.text(job.id, 'stdout').length >= seen);
  await a.m.close();
  return { dir, job, a, fromA: a.rec.text(job.id, 'stdout') };
}

describe('re-adoption', () => {
  it('a new manager resumes a closed manager’s job with no line lost or repeated', async () => {
    const N = 3000;
    const { dir, job, a, fromA } = await leftRunning(N, 300);
    expect(alive(job.pid!)).toBe(true);
    // Lines keep coming while nobody supervises the job.
    const spool = join(dir, 'jobs', job.id, 'stdout');
    const offset = a.m.get(job.id)!;
    expect(offset.state).toBe('running');
    const saved = JSON.parse(readFileSync(join(dir, 'jobs.json'), 'utf8')).jobs[0].spool.stdout.offset;
    await waitFor(() => readFileSync(spool).length > saved + 1000, {
      what: 'output written while unsupervised',
    });

    const b = await manager({ stateDir: dir });
    expect(b.m.get(job.id)).toMatchObject({ state: 'running', child: false, pid: job.pid });
    expect(b.rec.text(job.id, 'init')[0]).toBe(`re-adopted pid ${job.pid}`);
    const end = await waitFor(() => b.m.get(job.id)?.state === 'crashed' && b.m.get(job.id), {
      timeoutMs: 15_000,
      what: 'the re-adopted job to end',
    });
    expect(end.error).toMatch(/exit status unknown/);
    expect(end.exitStatus).toBeNull();
    expect([...fromA, ...b.rec.text(job.id, 'stdout')]).toEqual(seq(N));
  });

  it('a torn offsets.json (a crash of the machine) falls back to the state file: repeats, no loss', async () => {
    const N = 600;
    const { dir, job, fromA } = await leftRunning(N, 100);
    writeFileSync(join(dir, 'offsets.json'), '{"version":1,"spo');
    const b = await manager({ stateDir: dir });
    await waitFor(() => b.m.get(job.id)?.state === 'crashed', { timeoutMs: 15_000 });
    const fromB = b.rec.text(job.id, 'stdout');
    // the state file's offsets are at or before offsets.json's: lines may come again, none is missing
    expect(fromB.at(-1)).toBe(`n ${N - 1}`);
    const first = Number(fromB[0]!.slice(2));
    expect(first).toBeLessThanOrEqual(fromA.length);
    expect(fromB).toEqual(seq(N).slice(first));
  });

  it('survives a SIGKILLed manager process: nothing lost, repeats only at or below the saved offset', async () => {
    const N = 3000;
    const dir = tempDir();
    const range = testRange(20);
    const daemon = spawn(process.execPath, [FIXTURE, dir, String(range.min), String(range.max), counter(N)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const events: Array<Record<string, unknown>> = [];
    createInterface({ input: daemon.stdout! }).on('line', (l) => events.push(JSON.parse(l)));
    const exited = new Promise((r) => daemon.once('exit', r));
    try {
      const running = await waitFor(() => events.find((e) => e.ev === 'state' && e.state === 'running'));
      trackPid(running.pid as number, running.start as number);
      await waitFor(() => events.filter((e) => e.ev === 'line' && e.stream === 'stdout').length >= 500);
    } finally {
      daemon.kill('SIGKILL');
      await exited;
    }
    const id = events.find((e) => e.ev === 'state')!.id as string;
    const fromA = events.filter((e) => e.ev === 'line' && e.stream === 'stdout');
    expect(alive(events.find((e) => e.state === 'running')!.pid as number)).toBe(true);

    const rec: Recorder | undefined = undefined;
    const b = await manager({ stateDir: dir }, rec);
    await waitFor(() => b.m.get(id)?.state === 'crashed', { timeoutMs: 15_000 });
    const fromB = b.rec.lines.filter((l) => l.job === id && l.stream === 'stdout');
    // Lines the dead manager emitted after its last saved offset come again; their offsets say so.
    const lastA = Math.max(...fromA.map((e) => e.offset as number));
    const fresh = fromB.filter((l) => (l.offset as number) > lastA).map((l) => l.line.toString());
    const repeated = fromB.filter((l) => (l.offset as number) <= lastA);
    expect([...fromA.map((e) => e.line as string), ...fresh]).toEqual(seq(N));
    expect(repeated.length).toBeLessThan(fromA.length);
  });

  it('a job that exited while no manager ran is settled as crashed with an unknown status, output drained', async () => {
    const dir = tempDir();
    const a = await manager({ stateDir: dir });
    const job = await a.m.run(
      nodeJob(
        `console.log('first'); process.stdin.resume(); setTimeout(() => { console.log('last'); }, 300)`,
      ),
    );
    await waitFor(() => a.rec.text(job.id, 'stdout').includes('first'));
    await a.m.close();
    await waitFor(() => !alive(job.pid!) || readProcStat(job.pid!)?.state === 'Z', {
      what: 'the job to exit',
    });
    const b = await manager({ stateDir: dir });
    expect(b.m.get(job.id)).toMatchObject({ state: 'crashed', exitStatus: null });
    expect(b.m.get(job.id)!.error).toMatch(/pid \d+ is gone.*exit status unknown/);
    expect(b.rec.text(job.id, 'stdout')).toEqual(['last']);
  });

  it('never adopts or signals a pid that now names another process (pid reuse)', async () => {
    // A process of our own stands in for "some other program that got the job's pid".
    // It echoes its stdin and has no SIGTERM handler: a signal sent before an echo kills it first.
    const other = spawn(process.execPath, ['-e', 'process.stdin.pipe(process.stdout)'], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let echoed = '';
    other.stdout!.on('data', (d) => {
      echoed += d;
    });
    try {
      await waitFor(() => other.pid !== undefined && readProcStat(other.pid));
      const pid = other.pid!;
      const real = readProcStat(pid)!.startTime;
      const dir = tempDir();
      const now = new Date().toISOString();
      const job = {
        id: 'host1-reused',
        app: { id: 'a1', name: 'demo' },
        processType: 'web',
        cmd: 'x',
        args: [],
        env: {},
        ports: [],
        restart: 'never',
        state: 'running',
        pid,
        procStartTime: real - 1,
        createdAt: now,
        startedAt: now,
        restarts: 0,
        stopRequested: false,
        registered: false,
        child: true,
      };
      const spool = { stdout: { offset: 0, punched: 0 }, stderr: { offset: 0, punched: 0 } };
      writeJsonAtomic(join(dir, 'jobs.json'), {
        version: 1,
        hostId: 'host1',
        jobs: [{ job, spool, backoffMs: 50 }],
      });
      const b = await manager({ stateDir: dir });
      const got = b.m.get('host1-reused')!;
      expect(got.state).toBe('crashed');
      expect(got.error).toMatch(/now names another process/);
      await b.m.stop('host1-reused', { graceMs: 0 });
      // Any signal of stop() was sent before this write; the echo proves none reached the process.
      other.stdin!.write('ping\n');
      await waitFor(() => echoed.includes('ping') || other.exitCode !== null || other.signalCode !== null, {
        what: 'the other process to echo or exit',
      });
      expect(alive(pid)).toBe(true);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('stops a re-adopted job (not its child) with SIGTERM to its group, and it ends done', async () => {
    const dir = tempDir();
    const a = await manager({ stateDir: dir });
    const job = await a.m.run(
      nodeJob(
        `process.on('SIGTERM', () => { console.log('bye'); process.exit(0); }); console.log('up'); setInterval(() => {}, 1000)`,
      ),
    );
    await waitFor(() => a.rec.text(job.id, 'stdout').includes('up'));
    await a.m.close();
    const b = await manager({ stateDir: dir });
    const stopped = await b.m.stop(job.id, { graceMs: 2000 });
    expect(stopped).toMatchObject({ state: 'done', child: false });
    expect(stopped.error).toMatch(/exit status unknown/);
    expect(b.rec.text(job.id, 'stdout')).toEqual(['bye']);
    expect(alive(job.pid!)).toBe(false);
  });

  it('refuses a state file of another format', async () => {
    const dir = tempDir();
    writeJsonAtomic(join(dir, 'jobs.json'), { version: 99, jobs: [] });
    await expect(manager({ stateDir: dir })).rejects.toThrow(/not a job state file/);
  });

  it('finishes a stop that was under way when the last manager closed', async () => {
    const dir = tempDir();
    const a = await manager({ stateDir: dir });
    // Ignores SIGTERM: only the SIGKILL after the grace period ends it.
    const job = await a.m.run(
      nodeJob(
        `process.on('SIGTERM', () => console.log('TERM')); console.log('ready'); setInterval(() => {}, 1000)`,
      ),
    );
    await waitFor(() => a.rec.text(job.id, 'stdout').includes('ready'), { what: 'the job ready' });
    const stopping = a.m.stop(job.id, { graceMs: 60_000 });
    await waitFor(() => a.rec.text(job.id, 'stdout').includes('TERM'), { what: 'SIGTERM seen' });
    await a.m.close();
    await stopping;
    expect(alive(job.pid!)).toBe(true);
    const b = await manager({ stateDir: dir, defaultGraceMs: 300 });
    await waitFor(() => b.m.get(job.id)?.state === 'done', { what: 'the stop finished by the new manager' });
    expect(alive(job.pid!)).toBe(false);
    expect(b.rec.text(job.id, 'init')).toContain('stopping: SIGTERM, SIGKILL after 300 ms');
  });
});

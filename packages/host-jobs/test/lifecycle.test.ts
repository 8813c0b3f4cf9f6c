import { createServer, type Server } from 'node:net';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { JobNotFoundError, JobSpecError } from '../src/types.js';
import { APP, alive, cleanup, HOST, manager, nodeJob, testRange } from './helpers.js';

// Job states, ids, ports and env, stop (SIGTERM → SIGKILL, whole process group) and the restart
// policy, with real `node -e` processes.

afterAll(cleanup);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('states', () => {
  it('running → done on exit 0, with a Flynn job id, and stays listed', async () => {
    const { m, rec } = await manager();
    const job = await m.run(nodeJob('setTimeout(() => {}, 300)'));
    expect(job.id.startsWith(`${HOST}-`)).toBe(true);
    expect(UUID.test(job.id.slice(HOST.length + 1))).toBe(true);
    expect(job.state).toBe('running');
    expect(job.pid).toBeGreaterThan(0);
    expect(job.procStartTime).toBeGreaterThan(0);
    const done = await waitFor(() => m.get(job.id)?.state === 'done' && m.get(job.id));
    expect(done.exitStatus).toBe(0);
    expect(done.endedAt).toBeTruthy();
    expect(rec.states.filter((s) => s.id === job.id).map((s) => s.state)).toEqual([
      'starting',
      'running',
      'done',
    ]);
    expect(m.list().map((j) => j.id)).toContain(job.id);
    expect(rec.text(job.id, 'init').some((l) => l.includes('exited with status 0'))).toBe(true);
  });

  it('crashed with the exit status; failed on a spawn error', async () => {
    const { m } = await manager();
    const c = await m.run(nodeJob('process.exit(3)'));
    const crashed = await waitFor(() => m.get(c.id)?.state === 'crashed' && m.get(c.id));
    expect(crashed.exitStatus).toBe(3);
    const f = await m.run({ app: APP, cmd: '/nonexistent/binary' });
    expect(f.state).toBe('failed');
    expect(f.error).toMatch(/ENOENT/);
    expect(
      m
        .list()
        .map((j) => j.state)
        .sort(),
    ).toEqual(['crashed', 'failed']);
  });

  it('rejects bad specs with a clear error and unknown ids with JobNotFoundError', async () => {
    const { m } = await manager();
    await expect(m.run({ app: APP, cmd: '' })).rejects.toThrow(JobSpecError);
    await expect(m.run({ app: { id: '', name: 'x' }, cmd: 'true' })).rejects.toThrow(/app/);
    await expect(m.run({ app: APP, cmd: 'true', ports: -1 })).rejects.toThrow(/ports/);
    await expect(m.run({ app: APP, cmd: 'true', restart: 'sometimes' as never })).rejects.toThrow(/restart/);
    await expect(
      m.run({ app: APP, cmd: 'true', ports: 1, health: { kind: 'tcp', port: 1 } }),
    ).rejects.toThrow(/health.port/);
    await expect(m.run({ app: APP, cmd: 'true', id: '../escape' })).rejects.toThrow(/job id/);
    await expect(m.stop('nope')).rejects.toThrow(JobNotFoundError);
    expect(m.list()).toEqual([]);
  });
});

describe('ports and env', () => {
  it('allocates distinct free ports from the range and passes PORT_n, PORT and the FLYNN_* env', async () => {
    const range = testRange(50);
    // Something else listens on the range's first port: the allocator must skip it.
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(range.min, '127.0.0.1', r));
    try {
      const { m, rec } = await manager({ portRange: range });
      const script = `console.log(JSON.stringify(process.env))`;
      const job = await m.run(nodeJob(script, { ports: 3, env: { FOO: 'bar' }, processType: 'worker' }));
      expect(job.ports).toHaveLength(3);
      expect(new Set(job.ports).size).toBe(3);
      for (const p of job.ports) expect(p >= range.min && p <= range.max).toBe(true);
      expect(job.ports).not.toContain(range.min);
      await waitFor(() => m.get(job.id)?.state === 'done');
      const env = JSON.parse(rec.text(job.id, 'stdout')[0]);
      expect(env).toMatchObject({
        PORT: String(job.ports[0]),
        PORT_0: String(job.ports[0]),
        PORT_1: String(job.ports[1]),
        PORT_2: String(job.ports[2]),
        FOO: 'bar',
        FLYNN_JOB_ID: job.id,
        FLYNN_APP_ID: APP.id,
        FLYNN_APP_NAME: APP.name,
        FLYNN_PROCESS_TYPE: 'worker',
        HOST_ID: HOST,
      });
      // Two running jobs never share a port.
      const a = await m.run(nodeJob('setTimeout(() => {}, 5000)', { ports: 2 }));
      const b = await m.run(nodeJob('setTimeout(() => {}, 5000)', { ports: 2 }));
      expect(new Set([...a.ports, ...b.ports]).size).toBe(4);
      await Promise.all([m.stop(a.id, { graceMs: 1000 }), m.stop(b.id, { graceMs: 1000 })]);
    } finally {
      blocker.close();
    }
  });
});

describe('stop', () => {
  it('SIGTERM: a job that exits on it ends done at once', async () => {
    const { m, rec } = await manager();
    const job = await m.run(
      nodeJob(
        `process.on('SIGTERM', () => process.exit(0)); console.log('ready'); setInterval(() => {}, 1000)`,
      ),
    );
    // Wait for the handler: a SIGTERM before it is installed kills node outright.
    await waitFor(() => rec.text(job.id, 'stdout').includes('ready'));
    const t0 = Date.now();
    const stopped = await m.stop(job.id, { graceMs: 5000 });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(stopped.state).toBe('done');
    expect(stopped.signal ?? null).toBe(null);
    expect(alive(job.pid!)).toBe(false);
  });

  it('SIGKILL after the grace period when SIGTERM is ignored, for the whole process group', async () => {
    const { m, rec } = await manager();
    // The job ignores SIGTERM and starts a grandchild in its group that also ignores it.
    const grandchild = `process.on('SIGTERM', () => {}); console.log('gc ' + process.pid); setInterval(() => {}, 1000)`;
    const script = `
      const { spawn } = require('node:child_process');
      process.on('SIGTERM', () => console.log('got SIGTERM'));
      spawn(process.execPath, ['-e', ${JSON.stringify(grandchild)}], { stdio: 'inherit' });
      setInterval(() => {}, 1000);`;
    const job = await m.run(nodeJob(script));
    const gcLine = await waitFor(() => rec.text(job.id, 'stdout').find((l) => l.startsWith('gc ')));
    const gcPid = Number(gcLine.slice(3));
    expect(alive(gcPid)).toBe(true);
    const t0 = Date.now();
    const stopped = await m.stop(job.id, { graceMs: 400 });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(390);
    expect(took).toBeLessThan(3000);
    expect(stopped.state).toBe('done');
    expect(stopped.signal).toBe('SIGKILL');
    await waitFor(() => rec.text(job.id, 'stdout').includes('got SIGTERM'));
    await waitFor(() => !alive(gcPid), { what: 'the grandchild to be killed with its group' });
  });
});

describe('restart policy', () => {
  it('on-failure restarts a crashed job with a doubling, capped backoff; stop cancels it', async () => {
    const { m, rec } = await manager({ restartBackoff: { initialMs: 50, maxMs: 200, resetAfterMs: 60_000 } });
    const job = await m.run(nodeJob('process.exit(1)', { restart: 'on-failure' }));
    await waitFor(() => (m.get(job.id)?.restarts ?? 0) >= 5, { what: '5 restarts' });
    const delays = rec
      .text(job.id, 'init')
      .map((l) => /restarting in (\d+) ms/.exec(l)?.[1])
      .filter((x) => x !== undefined)
      .map(Number);
    expect(delays.slice(0, 5)).toEqual([50, 100, 200, 200, 200]);
    const stopped = await m.stop(job.id);
    expect(['crashed', 'done']).toContain(stopped.state);
    const n = m.get(job.id)!.restarts;
    // A restart the stop missed was due within maxMs (200 ms) of the stop. A job started after
    // the stop reaches its third restart through a 200 ms timer set after the stop, and timers
    // fire in order of expiry: by then the missed one would have run.
    const later = await m.run(nodeJob('process.exit(1)', { restart: 'on-failure' }));
    await waitFor(() => (m.get(later.id)?.restarts ?? 0) >= 3, { what: 'a later job’s third restart' });
    expect(m.get(job.id)!.restarts).toBe(n);
    expect(m.get(job.id)!.restartAt).toBeUndefined();
    await m.stop(later.id);
  });

  it('never does not restart; on-failure does not restart a clean exit; always does', async () => {
    const { m } = await manager();
    const never = await m.run(nodeJob('process.exit(1)', { restart: 'never' }));
    const clean = await m.run(nodeJob('process.exit(0)', { restart: 'on-failure' }));
    const always = await m.run(nodeJob('process.exit(0)', { restart: 'always' }));
    await waitFor(() => (m.get(always.id)?.restarts ?? 0) >= 2);
    expect(m.get(never.id)).toMatchObject({ state: 'crashed', restarts: 0 });
    expect(m.get(clean.id)).toMatchObject({ state: 'done', restarts: 0 });
    await m.stop(always.id);
  });
});

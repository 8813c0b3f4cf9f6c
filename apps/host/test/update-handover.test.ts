import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSameProcessAlive, type Job, readProcStat } from '@flynn-edge/host-jobs';
import { ManagedProcess, nextPortBlock, waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';

// POST /host/update for real (flynn-ops.md §5.2 step 4): a daemon from this tree with two running
// jobs hands over to a new daemon of the same tree while a client opens a new connection for every
// GET /host/status; then a new daemon that exits at once, after which the old one supervises again.

const CLI = fileURLToPath(new URL('../../cli/bin/flynn-host.js', import.meta.url));
const IP = '127.0.0.186';
const KEY = 'handover-test-key';
const BASE = nextPortBlock(12);
const API = BASE;
const dir = mkdtempSync(join(tmpdir(), 'host-handover-'));
const seen = new Map<number, number | undefined>();
const daemonPids = new Set<number>();
let first: ManagedProcess | undefined;

afterAll(async () => {
  // The new daemons are not our children: stop each by pid, then every job this test saw.
  for (const pid of daemonPids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
  }
  await waitFor(() => [...daemonPids].every((pid) => !alive(pid)), { timeoutMs: 15_000 }).catch(() => {});
  for (const pid of daemonPids) {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  await first?.close();
  for (const [pid, start] of seen) {
    if (isSameProcessAlive(pid, start)) process.kill(-pid, 'SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

function alive(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/** The process's start time (clock ticks after boot): with the pid, it names one process. */
const startTime = (pid: number) => readProcStat(pid)?.startTime;

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`http://${IP}:${API}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
}

async function status(): Promise<{ pid: number; flags: string[]; version: string }> {
  return (await api('GET', '/host/status')).json() as Promise<{
    pid: number;
    flags: string[];
    version: string;
  }>;
}

async function jobs(): Promise<Job[]> {
  const list = (await (await api('GET', '/host/jobs')).json()) as Job[];
  for (const j of list) if (j.pid) seen.set(j.pid, j.procStartTime);
  return list;
}

/** GET /host/status over a new connection each time until stopped: answers, failures, pids. */
interface Hammered {
  ok: number;
  errors: string[];
  pids: Set<number>;
}

function hammer(): { result: Hammered; stop: () => Promise<Hammered> } {
  let running = true;
  const result: Hammered = { ok: 0, errors: [], pids: new Set() };
  const once = () =>
    new Promise<void>((resolve) => {
      const req = get(
        {
          host: IP,
          port: API,
          path: '/host/status',
          agent: false,
          headers: { authorization: `Bearer ${KEY}` },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => {
            if (res.statusCode === 200) {
              result.ok++;
              result.pids.add((JSON.parse(text) as { pid: number }).pid);
            } else result.errors.push(`status ${res.statusCode}: ${text}`);
            resolve();
          });
          res.on('error', (err) => {
            result.errors.push(err.message);
            resolve();
          });
        },
      );
      req.setTimeout(20_000, () => req.destroy(new Error('timed out')));
      req.on('error', (err) => {
        result.errors.push(err.message);
        resolve();
      });
    });
  const loops = [0, 1].map(async () => {
    while (running) await once();
  });
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

const server = `require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '${IP}')`;

function jobSpec(name: string) {
  return {
    app: { id: `app-${name}`, name },
    processType: 'web',
    cmd: process.execPath,
    args: ['-e', server],
    ports: 1,
    restart: 'always',
  };
}

describe('POST /host/update', () => {
  const flags = [
    '-external-ip',
    IP,
    '-api-port',
    String(API),
    '-state',
    join(dir, 'state'),
    '-log-dir',
    join(dir, 'logs'),
    '-no-volumes',
    '-job-port-range',
    `${BASE + 1}-${BASE + 11}`,
    '-cluster-key',
    KEY,
  ];

  it('hands over to a new daemon: no connection refused, the jobs keep their processes', async () => {
    first = new ManagedProcess({
      name: 'flynn-host',
      command: process.execPath,
      args: [CLI, 'daemon', ...flags],
      // No discoverd here: registration retries in the background.
      env: { DISCOVERD: `127.0.0.1:${BASE + 11}` },
      logFile: join(dir, 'daemon.out'),
    });
    first.start();
    const oldPid = first.pid as number;
    daemonPids.add(oldPid);
    const st = await waitFor(() => status().catch(() => undefined), { timeoutMs: 30_000 });
    // The cluster key's value is not shown.
    expect(st).toMatchObject({ pid: oldPid, flags: [...flags.slice(0, -1), '<hidden>'] });

    for (const name of ['one', 'two'])
      expect((await api('POST', '/host/jobs', jobSpec(name))).status).toBe(200);
    const before = await waitFor(
      async () => {
        const js = await jobs();
        return js.length === 2 && js.every((j) => j.state === 'running' && j.pid) && js;
      },
      { timeoutMs: 20_000 },
    );
    const starts = new Map(before.map((j) => [j.pid as number, startTime(j.pid as number)]));

    // A source checkout takes no releases.
    const put = await api('PUT', '/host/releases/9.9.9', 'x');
    expect(put.status).toBe(409);
    expect(((await put.json()) as { message: string }).message).toBe('not an installed tree');

    const load = hammer();
    await waitFor(() => load.result.ok >= 5, { timeoutMs: 10_000 });
    // As `flynn-host update` does: the flags /host/status shows (masked) mean the daemon's own.
    const r = await api('POST', '/host/update', { path: CLI, args: (await status()).flags });
    const body = (await r.json()) as { path: string; args: string[]; pid: number };
    expect(r.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ path: CLI, args: ['daemon', ...flags.slice(0, -1), '<hidden>'] });
    daemonPids.add(body.pid);
    expect(body.pid).not.toBe(oldPid);
    // The old daemon goes; the new one answers meanwhile and after.
    expect(await first.wait()).toBe(0);
    await waitFor(async () => (await status()).pid === body.pid, { timeoutMs: 10_000 });
    const result = await load.stop();
    expect(result.errors).toEqual([]);
    expect(result.ok).toBeGreaterThan(10);
    expect([...result.pids].sort()).toEqual([oldPid, body.pid].sort());

    const after = await jobs();
    expect(after.map((j) => [j.id, j.state, j.pid, j.procStartTime])).toEqual(
      before.map((j) => [j.id, 'running', j.pid, j.procStartTime]),
    );
    for (const [pid, start] of starts) expect(startTime(pid)).toBe(start);
    // The jobs still answer.
    for (const j of after) expect(await (await fetch(`http://${IP}:${j.ports[0]}/`)).text()).toBe('ok');
  }, 120_000);

  it('keeps serving and supervising when the new daemon exits at once', async () => {
    const { pid } = await status();
    const r = await api('POST', '/host/update', { path: CLI, args: ['-no-such-flag'] });
    const body = (await r.json()) as { code: string; message: string };
    expect(r.status).toBe(500);
    expect(body.message).toMatch(/^update failed: the new daemon exited \(status 2\) before it was ready$/);
    expect((await status()).pid).toBe(pid);

    // Supervising again: a job killed now is restarted.
    const [victim] = await jobs();
    process.kill(victim!.pid as number, 'SIGKILL');
    const back = await waitFor(
      async () => {
        const j = (await jobs()).find((x) => x.id === victim!.id);
        return j?.state === 'running' && j.pid !== victim!.pid && j;
      },
      { timeoutMs: 20_000 },
    );
    expect(back.restarts).toBe(victim!.restarts + 1);
    // And writes are taken again.
    expect((await api('POST', '/host/jobs', jobSpec('three'))).status).toBe(200);
    await jobs();
  }, 60_000);

  it('PUT /host/jobs/:id/signal/:signal signals a running job (by name or number)', async () => {
    const listener =
      "process.on('SIGUSR2', () => console.log('got SIGUSR2')); console.log('listening'); setInterval(() => {}, 1000)";
    const r = await api('POST', '/host/jobs', {
      app: { id: 'app-sig', name: 'sig' },
      processType: 'worker',
      cmd: process.execPath,
      args: ['-e', listener],
    });
    const job = (await r.json()) as Job;
    expect(r.status).toBe(200);
    await waitFor(async () => (await jobs()).find((j) => j.id === job.id && j.state === 'running'), {
      timeoutMs: 20_000,
    });
    const log = async () => (await api('GET', `/host/jobs/${job.id}/log?format=text`)).text();
    // Until its handler is installed, SIGUSR2 would end the process.
    await waitFor(async () => (await log()).includes('listening'), { timeoutMs: 10_000 });
    const sent = await api('PUT', `/host/jobs/${job.id}/signal/SIGUSR2`);
    expect(sent.status).toBe(200);
    expect(await sent.json()).toMatchObject({ id: job.id, signal: 'SIGUSR2' });
    await waitFor(async () => (await log()).split('got SIGUSR2').length === 2, { timeoutMs: 10_000 });
    // By number (SIGUSR2 is 12 on Linux), and without the SIG prefix.
    expect((await api('PUT', `/host/jobs/${job.id}/signal/12`)).status).toBe(200);
    expect((await api('PUT', `/host/jobs/${job.id}/signal/usr2`)).status).toBe(200);
    await waitFor(async () => (await log()).split('got SIGUSR2').length === 4, { timeoutMs: 10_000 });

    const bad = await api('PUT', `/host/jobs/${job.id}/signal/NOPE`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'validation_error', message: 'unknown signal "NOPE"' });
    expect((await api('PUT', '/host/jobs/no-such-job/signal/SIGHUP')).status).toBe(404);
    // A job that is not running is refused rather than signalling a pid it no longer owns.
    expect((await api('DELETE', `/host/jobs/${job.id}`)).status).toBe(200);
    await waitFor(async () => (await jobs()).find((j) => j.id === job.id && j.state !== 'running'), {
      timeoutMs: 20_000,
    });
    const stopped = await api('PUT', `/host/jobs/${job.id}/signal/SIGUSR2`);
    expect(stopped.status).toBe(400);
  }, 60_000);
});

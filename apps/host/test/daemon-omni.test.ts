import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppStore, type Artifact, SYSTEM_APP_META } from '@flynn-edge/app-model';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { isSameProcessAlive, type Job } from '@flynn-edge/host-jobs';
import { FLYNN_EDGE_VERSION } from '@flynn-edge/service-kit';
import { ManagedProcess, nextPortBlock, waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';

// A real flynn-host daemon on 127.0.0.185 configured through host.json (FLYNN_HOST_CONFIG), running
// discoverd from a release that names no host (B1), answering resource checks, and keeping its
// omni jobs: one per omni type, a crash-looping one counted as present, none doubled when the
// daemon restarts and re-adopts its jobs.

const CLI = fileURLToPath(new URL('../../cli/bin/flynn-host.js', import.meta.url));
const IP = '127.0.0.185';
const KEY = 'omni-test-key';
const BASE = nextPortBlock(4);
const API = BASE;
const DISCOVERD_PORT = BASE + 1;
const dir = mkdtempSync(join(tmpdir(), 'host-omni-'));
const state = join(dir, 'state');
const logDir = join(dir, 'logs');
const procs: ManagedProcess[] = [];
const seenJobs = new Map<number, number | undefined>();
let held: Server | undefined;

afterAll(async () => {
  held?.close();
  for (const p of procs) {
    await p.kill('SIGTERM');
    await p.close();
  }
  // The jobs outlive their daemon on purpose: stop every one this test saw.
  for (const [pid, start] of seenJobs) {
    if (isSameProcessAlive(pid, start)) process.kill(-pid, 'SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

function daemon(configFile: string, extraArgs: string[] = []): ManagedProcess {
  const p = new ManagedProcess({
    name: 'flynn-host',
    command: process.execPath,
    // The command line says 127.0.0.1 and port 1; the file's args come last and win.
    args: [CLI, 'daemon', '-external-ip', '127.0.0.1', '-api-port', '1', ...extraArgs],
    env: { FLYNN_HOST_CONFIG: configFile, DISCOVERD: `${IP}:${DISCOVERD_PORT}` },
    logFile: join(dir, 'daemon.out'),
  });
  procs.push(p);
  return p;
}

async function api(method: string, path: string, body?: unknown, key = KEY): Promise<Response> {
  return fetch(`http://${IP}:${API}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
}

async function jobs(): Promise<Job[]> {
  const list = (await (await api('GET', '/host/jobs')).json()) as Job[];
  for (const j of list) if (j.pid) seenJobs.set(j.pid, j.procStartTime);
  return list;
}

const live = (js: Job[], app: string, type = 'app') =>
  js.filter(
    (j) =>
      j.app.name === app &&
      j.processType === type &&
      !j.stopRequested &&
      j.state !== 'done' &&
      j.state !== 'failed',
  );

/** Lines of flynn-host.log with this message. */
function logged(msg: string): Record<string, unknown>[] {
  let text = '';
  try {
    text = readFileSync(join(logDir, 'flynn-host.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.includes(msg))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('flynn-host daemon: host.json', () => {
  it('exits 1 with one line when $FLYNN_HOST_CONFIG cannot be read or is not a config', () => {
    const run = (file: string) =>
      spawnSync(process.execPath, [CLI, 'daemon', '-state', join(dir, 'never')], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, FLYNN_HOST_CONFIG: file },
        timeout: 20_000,
      });
    const missing = join(dir, 'missing.json');
    expect(run(missing)).toMatchObject({
      status: 1,
      stdout: '',
      stderr: `flynn-host: error opening config file ${missing}: open ${missing}: no such file or directory\n`,
    });
    const invalid = join(dir, 'invalid.json');
    writeFileSync(invalid, '{"args": "-id x"}\n');
    const r = run(invalid);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^flynn-host: error opening config file ${invalid}: json: cannot unmarshal .*\\n$`),
    );
    expect(r.stderr.split('\n')).toHaveLength(2);
  });
});

describe('flynn-host daemon: discoverd, resource checks and omni jobs', { timeout: 60_000 }, () => {
  const configFile = join(dir, 'host.json');
  const discoverdApp = { id: randomUUID(), name: 'discoverd' };

  it('takes its args and env from host.json, after its command line', async () => {
    writeFileSync(
      configFile,
      `${JSON.stringify({
        args: [
          '-id',
          'omni1',
          '-external-ip',
          IP,
          '-api-port',
          String(API),
          '-state',
          state,
          '-log-dir',
          logDir,
          '-no-volumes',
          '-job-port-range',
          `${BASE + 2}-${BASE + 3}`,
        ],
        env: { CLUSTER_KEY: KEY },
      })}\n`,
    );
    daemon(configFile).start();
    await waitFor(async () => (await api('GET', '/host/status').catch(() => null))?.ok === true, {
      timeoutMs: 20_000,
      what: 'the daemon on the address and port host.json names',
    });
    expect((await api('GET', '/host/status', undefined, '')).status).toBe(401);
    expect(await (await api('GET', '/host/status')).json()).toMatchObject({
      id: 'omni1',
      version: FLYNN_EDGE_VERSION,
    });
  });

  it('runs discoverd from a release that names no host or directory (EXTERNAL_IP, FLYNN_DATA_DIR)', async () => {
    const r = await api('POST', '/host/jobs', {
      app: discoverdApp,
      processType: 'app',
      cmd: 'bin/discoverd.js',
      args: ['-addr', `:${DISCOVERD_PORT}`],
      env: { DISCOVERD_PEERS: `${IP}:${DISCOVERD_PORT},` },
      artifact: { type: 'builtin', name: 'discoverd' },
      restart: 'always',
      system: true,
    });
    expect(r.status).toBe(200);
    await waitFor(
      async () =>
        (
          await fetch(`http://${IP}:${DISCOVERD_PORT}/raft/leader`, {
            signal: AbortSignal.timeout(1000),
          }).catch(() => null)
        )?.ok === true,
      { timeoutMs: 20_000, what: `discoverd leading on ${IP}:${DISCOVERD_PORT}` },
    );
    const leader = (await (await fetch(`http://${IP}:${DISCOVERD_PORT}/raft/leader`)).json()) as {
      host: string;
    };
    expect(leader.host).toBe(`${IP}:${DISCOVERD_PORT}`);
    // Bound to EXTERNAL_IP, not every address.
    expect(
      await fetch(`http://127.0.0.1:${DISCOVERD_PORT}/raft/leader`).then(
        () => 'open',
        () => 'refused',
      ),
    ).toBe('refused');
    const data = join(state, 'data', 'discoverd');
    expect(statSync(data).mode & 0o777).toBe(0o700);
    expect(readdirSync(data).length).toBeGreaterThan(0);
  });

  it('registers as flynn-host with its version', async () => {
    const client = new DiscoverdClient({ servers: [`http://${IP}:${DISCOVERD_PORT}`], clusterKey: KEY });
    try {
      const hosts = await waitFor(
        async () => {
          const list = await client.instances('flynn-host').catch(() => []);
          return list.length > 0 ? list : undefined;
        },
        { timeoutMs: 20_000, what: 'the flynn-host registration' },
      );
      expect(hosts[0]?.meta).toMatchObject({ id: 'omni1', version: FLYNN_EDGE_VERSION });
    } finally {
      await client.close();
    }
  });

  it('answers POST /host/resource-check: 200 when free, 409 with the taken ports', async () => {
    const free = await api('POST', '/host/resource-check', {
      ports: [
        { port: BASE + 2, proto: 'tcp' },
        { port: BASE + 2, proto: 'udp' },
      ],
    });
    expect([free.status, await free.json()]).toEqual([200, {}]);
    // Taken on this host's address: the API port itself, and one held here.
    held = createServer();
    await new Promise<void>((resolve) => held!.listen(BASE + 3, IP, resolve));
    const taken = await api('POST', '/host/resource-check', {
      ports: [{ port: API }, { port: BASE + 2, proto: 'tcp' }, { port: BASE + 3, proto: 'tcp' }],
    });
    expect(taken.status).toBe(409);
    expect(await taken.json()).toEqual({
      code: 'conflict',
      message: 'Conflicting resources found',
      retry: false,
      detail: {
        ports: [
          { port: API, proto: 'tcp' },
          { port: BASE + 3, proto: 'tcp' },
        ],
      },
    });
    expect((await api('POST', '/host/resource-check', { ports: [{ port: 0 }] })).status).toBe(400);
    held.close();
    held = undefined;
  });

  it('starts the omni jobs it lacks, counts a crash-looping one, and never doubles one', async () => {
    // An app of two omni types from a tarball: one that runs, one that exits at once.
    const src = join(dir, 'omni-src');
    mkdirSync(join(src, 'bin'), { recursive: true });
    writeFileSync(join(src, 'bin/run.js'), 'setInterval(() => {}, 1000);\n');
    writeFileSync(join(src, 'bin/crash.js'), 'process.exit(3);\n');
    const tarball = execFileSync('tar', ['-cz', '-f', '-', '.'], { cwd: src });
    const sha256 = createHash('sha256').update(tarball).digest('hex');
    expect(
      (
        await fetch(`http://${IP}:${API}/host/artifacts/${sha256}`, {
          method: 'PUT',
          body: tarball,
          headers: { authorization: `Bearer ${KEY}` },
        })
      ).ok,
    ).toBe(true);

    const client = new DiscoverdClient({ servers: [`http://${IP}:${DISCOVERD_PORT}`], clusterKey: KEY });
    try {
      const store = new AppStore(client.kv);
      const artifact = (a: Omit<Artifact, 'id' | 'meta' | 'created_at'>): Artifact =>
        ({ ...a, id: randomUUID(), meta: {}, created_at: new Date().toISOString() }) as Artifact;
      // discoverd as recorded: the job already running is its job (same app id and type).
      const d = await store.putApp('discoverd', { id: discoverdApp.id, meta: { [SYSTEM_APP_META]: 'true' } });
      const dArt = artifact({ type: 'builtin', uri: 'builtin:discoverd' });
      await store.putArtifact(dArt);
      const dRel = await store.createRelease(d, {
        artifacts: [dArt.id],
        env: { DISCOVERD_PEERS: `${IP}:${DISCOVERD_PORT},` },
        processes: { app: { args: ['bin/discoverd.js', '-addr', `:${DISCOVERD_PORT}`], omni: true } },
      });
      await store.switchRelease(await store.app('discoverd'), dRel.id, { app: 1 });
      const o = await store.createApp('omni');
      const oArt = artifact({ type: 'tar', uri: `sha256:${sha256}`, sha256, size: tarball.length });
      await store.putArtifact(oArt);
      const oRel = await store.createRelease(o, {
        artifacts: [oArt.id],
        env: {},
        processes: {
          app: { args: ['bin/run.js'], omni: true },
          crash: { args: ['bin/crash.js'], omni: true },
          off: { args: ['bin/run.js'], omni: true },
          plain: { args: ['bin/run.js'] },
        },
      });
      await store.switchRelease(await store.app('omni'), oRel.id, { app: 1, crash: 1, off: 0, plain: 1 });

      // The next pass (every 10 s) starts app and crash; not off (0) nor plain (not omni).
      // The log line follows the job into the list (pino writes asynchronously): wait for both.
      await waitFor(
        async () =>
          live(await jobs(), 'omni', 'crash').length === 1 &&
          live(await jobs(), 'omni').length === 1 &&
          logged('omni: started the missing job').length === 2,
        {
          timeoutMs: 25_000,
          what: 'the omni jobs started by the reconciler',
        },
      );
      const started = logged('omni: started the missing job');
      expect(started.map((l) => `${l.app}/${l.type}`).sort()).toEqual(['omni/app', 'omni/crash']);

      // The crash job keeps crashing and waiting for its restart: still one, through later passes.
      await waitFor(async () => (await jobs()).some((j) => j.processType === 'crash' && j.restarts >= 2), {
        timeoutMs: 20_000,
        what: 'the crash job restarted twice',
      });

      // Restart the daemon: it re-adopts its jobs, and its first pass starts nothing.
      const [first] = procs.splice(0);
      await first!.kill('SIGTERM');
      await first!.close();
      daemon(configFile).start();
      await waitFor(() => logged('omni: first pass done').length === 2, {
        timeoutMs: 30_000,
        what: 'the restarted daemon’s first pass',
      });
      expect(logged('omni: first pass done')[1]).toMatchObject({ started: [] });
      const after = await jobs();
      expect([
        live(after, 'discoverd').length,
        live(after, 'omni').length,
        live(after, 'omni', 'crash').length,
      ]).toEqual([1, 1, 1]);
      expect(
        after.filter((j) => j.app.name === 'omni' && (j.processType === 'off' || j.processType === 'plain')),
      ).toEqual([]);
      expect(logged('omni: started the missing job')).toHaveLength(2);
    } finally {
      await client.close();
    }
  });
});

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { ManagedProcess, nextPortBlock, waitFor } from '@flynn-edge/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

// Two real flynn-host daemons (A and B, with a cluster key) and a one-node discoverd, all on
// 127.0.0.1 (build first): the artifact API, a job on B from a tarball PUT only to A (B fetches it
// from A), builtin artifacts from the installed tree, CLUSTER_KEY for system jobs only, and
// DELETE ?drain=.

const DAEMON = fileURLToPath(new URL('./fixtures/daemon.mjs', import.meta.url));
const KEY = 'artifact-test-cluster-key';
const auth = { authorization: `Bearer ${KEY}` };
const BASE = nextPortBlock(60);
const dir = mkdtempSync(join(tmpdir(), 'host-artifacts-'));
const discoverd = new DiscoverdProcessCluster({ size: 1, port: BASE, dnsPort: BASE + 1, dir });
let reader: DiscoverdClient;

interface Host {
  id: string;
  url: string;
  proc: ManagedProcess;
}

const hosts: Host[] = ['hostA', 'hostB'].map((id, i) => {
  const port = BASE + 2 + i;
  const jobPorts = `${BASE + 10 + i * 20}-${BASE + 29 + i * 20}`;
  const proc = new ManagedProcess({
    name: id,
    command: process.execPath,
    args: [
      DAEMON,
      '-id',
      id,
      '-external-ip',
      '127.0.0.1',
      '-api-port',
      String(port),
      '-state',
      join(dir, id, 'state'),
      '-log-dir',
      join(dir, id, 'logs'),
      '-no-volumes',
      '-job-port-range',
      jobPorts,
    ],
    env: { DISCOVERD: discoverd.addrs.join(','), CLUSTER_KEY: KEY },
    logFile: join(dir, `${id}.out`),
  });
  return { id, url: `http://127.0.0.1:${port}`, proc };
});
const [A, B] = hosts as [Host, Host];

function api(h: Host, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${h.url}${path}`, { ...init, headers: { ...auth, ...(init.headers as object) } });
}

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A directory tarball whose bin/report.js writes {cwd, argv1, key} to the file named by argv[2]. */
function appTarball(marker: string): Buffer {
  const d = mkdtempSync(join(dir, 'app-'));
  mkdirSync(join(d, 'bin'));
  writeFileSync(
    join(d, 'bin/report.js'),
    `require('fs').writeFileSync(process.argv[2], JSON.stringify({ marker: ${JSON.stringify(marker)}, cwd: process.cwd(), key: process.env.CLUSTER_KEY ?? null }))\n`,
  );
  return execFileSync('tar', ['-cz', '-f', '-', '-C', d, '.']);
}

async function readReport(file: string): Promise<Record<string, unknown>> {
  const text = await waitFor(() => existsSync(file) && readFileSync(file, 'utf8'), {
    what: `${file} written`,
  });
  return JSON.parse(text) as Record<string, unknown>;
}

const APP = { id: 'app-artifacts', name: 'artifacts' };

beforeAll(async () => {
  discoverd.start();
  await discoverd.leader(20_000);
  reader = new DiscoverdClient({ servers: discoverd.addrs, env: {} });
  for (const h of hosts) h.proc.start();
  await waitFor(async () => (await reader.instances('flynn-host').catch(() => [])).length === 2, {
    timeoutMs: 20_000,
    what: 'both daemons registered as flynn-host',
  });
}, 40_000);

// A failure shows what the daemons logged (the directory goes with afterAll).
afterEach((ctx) => {
  if (ctx.task.result?.state !== 'fail') return;
  for (const h of hosts) {
    const log = readFileSync(join(dir, `${h.id}.out`), 'utf8')
      .split('\n')
      .slice(-30)
      .join('\n');
    console.error(`--- ${h.id}.out (last lines) ---\n${log}`);
  }
});

afterAll(async () => {
  for (const h of hosts) {
    const jobs = (await (await api(h, '/host/jobs').catch(() => null))?.json().catch(() => [])) ?? [];
    for (const j of jobs as Array<{ id: string; state: string }>) {
      if (j.state === 'running')
        await api(h, `/host/jobs/${j.id}?grace=500`, { method: 'DELETE' }).catch(() => {});
    }
    await h.proc.kill('SIGTERM');
    await h.proc.close();
  }
  await reader?.close();
  await discoverd.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the artifact API', () => {
  it('stores a tarball by sha256 for any content type, once, and serves it back', async () => {
    const body = appTarball('put-get');
    const id = sha(body);
    expect((await fetch(`${A.url}/host/artifacts/${id}`, { method: 'PUT', body })).status).toBe(401);
    const put = await api(A, `/host/artifacts/${id}`, {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(put.status).toBe(201);
    expect(await put.json()).toEqual({ sha256: id, size: body.length });
    for (const type of ['application/gzip', 'application/x-gzip', undefined]) {
      const again = await api(A, `/host/artifacts/${id}`, {
        method: 'PUT',
        body,
        headers: type ? { 'content-type': type } : {},
      });
      expect(again.status).toBe(200);
      await again.arrayBuffer();
    }
    const got = await api(A, `/host/artifacts/${id}`);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/gzip');
    expect(Buffer.from(await got.arrayBuffer())).toEqual(body);
    const head = await api(A, `/host/artifacts/${id}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(body.length));
    const other = sha(Buffer.from('absent'));
    const absent = await api(A, `/host/artifacts/${other}`);
    expect(absent.status).toBe(404);
    expect(await json(absent)).toMatchObject({ code: 'object_not_found' });
    expect((await api(A, `/host/artifacts/${other}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('answers 400 for a bad id, a sha256 mismatch, a body that is no gzip tarball and an unsafe member', async () => {
    const body = appTarball('bad');
    const badId = await api(A, '/host/artifacts/not-a-sha', { method: 'PUT', body });
    expect(badId.status).toBe(400);
    expect(await json(badId)).toMatchObject({ code: 'validation_error' });
    const want = sha(Buffer.from('other'));
    const mismatch = await api(A, `/host/artifacts/${want}`, { method: 'PUT', body });
    expect(mismatch.status).toBe(400);
    expect(await json(mismatch)).toMatchObject({
      code: 'validation_error',
      message: `artifact sha256 mismatch: got ${sha(body)}, want ${want}`,
    });
    const junk = Buffer.from('this is not gzip');
    const corrupt = await api(A, `/host/artifacts/${sha(junk)}`, { method: 'PUT', body: junk });
    expect(corrupt.status).toBe(400);
    expect((await json(corrupt)).message).toMatch(/^artifact is not a gzip tarball: /);
    // A member named ../escaped.txt (GNU tar keeps it with -P).
    const work = mkdtempSync(join(dir, 'evil-'));
    mkdirSync(join(work, 'in'));
    writeFileSync(join(work, 'escaped.txt'), 'x');
    symlinkSync('/etc', join(work, 'in', 'etc'));
    for (const args of [['-P', '../escaped.txt'], ['etc']]) {
      const evil = execFileSync('tar', ['-cz', '-f', '-', ...args], { cwd: join(work, 'in') });
      const res = await api(A, `/host/artifacts/${sha(evil)}`, { method: 'PUT', body: evil });
      expect(res.status).toBe(400);
      expect(await json(res)).toMatchObject({
        code: 'validation_error',
        message: expect.stringMatching(/^artifact refused: /),
      });
      expect((await api(A, `/host/artifacts/${sha(evil)}`, { method: 'HEAD' })).status).toBe(404);
    }
  });
});

describe('jobs from artifacts', () => {
  it('runs on B a job whose tarball was PUT only to A: B fetches it, checks it, runs it', async () => {
    const body = appTarball('from-a');
    const id = sha(body);
    expect((await api(A, `/host/artifacts/${id}`, { method: 'PUT', body })).status).toBe(201);
    expect((await api(B, `/host/artifacts/${id}`, { method: 'HEAD' })).status).toBe(404);
    const out = join(dir, 'from-a.json');
    const res = await api(B, '/host/jobs', {
      method: 'POST',
      body: JSON.stringify({
        app: APP,
        cmd: 'bin/report.js',
        args: [out],
        artifact: { type: 'tar', sha256: id },
      }),
    });
    expect({ status: res.status, job: await json(res) }).toMatchObject({
      status: 200,
      job: { state: 'running', artifact: { type: 'tar', sha256: id } },
    });
    expect(await readReport(out)).toEqual({
      marker: 'from-a',
      cwd: join(dir, 'hostB', 'state', 'artifacts', id),
      key: null,
    });
    const copy = await api(B, `/host/artifacts/${id}`);
    expect(copy.status).toBe(200);
    expect(Buffer.from(await copy.arrayBuffer())).toEqual(body);
  });

  it('refuses a job whose tarball no host has, leaving no job', async () => {
    const before = (await (await api(B, '/host/jobs')).json()) as unknown[];
    const id = sha(Buffer.from('nowhere'));
    const res = await api(B, '/host/jobs', {
      method: 'POST',
      body: JSON.stringify({ app: APP, cmd: 'bin/report.js', artifact: { type: 'tar', sha256: id } }),
    });
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({
      code: 'validation_error',
      message: `artifact ${id} is not available on any host`,
      retry: false,
      detail: { field: 'artifact' },
    });
    expect(((await (await api(B, '/host/jobs')).json()) as unknown[]).length).toBe(before.length);
  });

  it('runs a builtin from the installed tree, and gives CLUSTER_KEY to system jobs only', async () => {
    const script = (file: string) =>
      `require('fs').writeFileSync(${JSON.stringify(file)}, JSON.stringify({ cwd: process.cwd(), key: process.env.CLUSTER_KEY ?? null }))`;
    const installed = fileURLToPath(new URL('../../status', import.meta.url));
    const outs = { system: join(dir, 'system.json'), plain: join(dir, 'plain.json') };
    const ids: Record<string, string> = {};
    for (const [name, file] of Object.entries(outs)) {
      const res = await api(A, '/host/jobs', {
        method: 'POST',
        body: JSON.stringify({
          app: APP,
          cmd: 'node',
          args: ['-e', script(file)],
          artifact: { type: 'builtin', name: 'status' },
          ...(name === 'system' ? { system: true } : {}),
        }),
      });
      expect(res.status).toBe(200);
      ids[name] = (await json(res)).id as string;
    }
    expect(await readReport(outs.system)).toEqual({ cwd: installed, key: KEY });
    expect(await readReport(outs.plain)).toEqual({ cwd: installed, key: null });
    const listed = await (await api(A, `/host/jobs/${ids.system}?reveal=true`)).text();
    expect(listed).toContain('"system":true');
    expect(listed).not.toContain(KEY);
    const missing = await api(A, '/host/jobs', {
      method: 'POST',
      body: JSON.stringify({ app: APP, cmd: 'bin/x.js', artifact: { type: 'builtin', name: 'nosuchapp' } }),
    });
    expect(missing.status).toBe(400);
    expect(await json(missing)).toMatchObject({ detail: { field: 'artifact' } });
  });

  it('DELETE ?drain= takes the job out of discoverd before SIGTERM', async () => {
    const server = `require('net').createServer().listen(+process.env.PORT, '127.0.0.1'); process.on('SIGTERM', () => process.exit(0))`;
    const res = await api(A, '/host/jobs', {
      method: 'POST',
      body: JSON.stringify({
        app: APP,
        cmd: process.execPath,
        args: ['-e', server],
        ports: 1,
        service: 'art-drain',
      }),
    });
    const job = await json(res);
    await waitFor(async () => (await reader.instances('art-drain')).length === 1, { what: 'registered' });
    expect((await api(A, `/host/jobs/${job.id}?drain=x`, { method: 'DELETE' })).status).toBe(400);
    const t0 = Date.now();
    const stopping = api(A, `/host/jobs/${job.id}?drain=1500&grace=1000`, { method: 'DELETE' });
    await waitFor(async () => (await reader.instances('art-drain')).length === 0, { what: 'deregistered' });
    expect(() => process.kill(job.pid as number, 0)).not.toThrow();
    const stopped = await stopping;
    expect(stopped.status).toBe(200);
    expect(await json(stopped)).toMatchObject({ state: 'done' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
  });
});

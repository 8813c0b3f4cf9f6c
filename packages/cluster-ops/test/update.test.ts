import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { requireHealthy } from '../src/update/cluster-status.js';
import { openRelease, type ReleaseFile, readTarball } from '../src/update/release-file.js';
import { runUpdate } from '../src/update/run.js';
import { appIsCurrent, UPDATED_FOR } from '../src/update/system-apps.js';
import { compareReleases, planHosts, UpdateError } from '../src/update/versions.js';

// flynn-host update's plan (flynn-ops.md §5.2) against fake hosts: real HTTP servers on
// 127.0.0.x that answer /host/status, PUT /host/releases/<v> (checking the sha256 header) and
// POST /host/update (the "new daemon" answers with a new pid and version a moment later). No
// cluster: the system apps are left out (no deployer) and the status check is a function.

const A = '0.1.0-aaaaaaa';
const B = '0.2.0-bbbbbbb';
const C = '0.3.0-ccccccc';

const work = mkdtempSync(join(tmpdir(), 'update-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A release tarball as scripts/release.mjs lays one out. */
function makeTarball(version: string, pkg: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(work, 'rel-'));
  const top = join(dir, `flynn-edge-${version}`);
  mkdirSync(top);
  writeFileSync(join(top, 'VERSION'), `${version}\n`);
  writeFileSync(join(top, 'package.json'), JSON.stringify({ name: 'flynn-edge', version, ...pkg }));
  writeFileSync(join(top, 'SHA256SUMS'), '');
  const file = join(dir, `flynn-edge-${version}.tar.gz`);
  execFileSync('tar', ['-czf', file, `flynn-edge-${version}`], { cwd: dir });
  return file;
}

interface FakeHost {
  id: string;
  addr: string;
  version: string;
  pid: number;
  flags: string[];
  calls: string[];
  updateArgs?: string[];
  /** PUT answers this status (default 200 after checking the sha256). */
  putStatus?: number;
  /** POST /host/update accepted, but the daemon never comes back on the new version. */
  stuck?: boolean;
  server: Server;
}

const servers: Server[] = [];
let nextPid = 1000;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function listen(ip: string, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, ip, resolve));
  servers.push(server);
  return { server, addr: `${ip}:${(server.address() as AddressInfo).port}` };
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function fakeHost(n: number, version: string): Promise<FakeHost> {
  const h = {
    id: `h${n}`,
    version,
    pid: nextPid++,
    flags: ['--id', `h${n}`],
    calls: [],
  } as unknown as FakeHost;
  const { server, addr } = await listen(`127.0.0.${n + 1}`, async (req, res) => {
    h.calls.push(`${req.method} ${req.url}`);
    const data = await body(req);
    if (req.method === 'GET' && req.url === '/host/status')
      return json(res, 200, { id: h.id, version: h.version, pid: h.pid, flags: h.flags });
    const put = /^\/host\/releases\/([^/]+)$/.exec(req.url ?? '');
    if (req.method === 'PUT' && put) {
      if (h.putStatus) return json(res, h.putStatus, { code: 'unknown_error', message: 'disk full' });
      const sum = createHash('sha256').update(data).digest('hex');
      if (sum !== req.headers['flynn-release-sha256'])
        return json(res, 400, { code: 'validation_error', message: 'sha256 mismatch' });
      const v = decodeURIComponent(put[1]);
      return json(res, 200, { version: v, path: `/var/lib/flynn/releases/${v}` });
    }
    if (req.method === 'POST' && req.url === '/host/update') {
      const { path, args } = JSON.parse(data.toString()) as { path: string; args: string[] };
      h.updateArgs = args;
      const pid = nextPid++;
      json(res, 200, { path, args, pid });
      if (!h.stuck) {
        const v = /releases\/(.+)$/.exec(path)?.[1] ?? '?';
        setTimeout(() => {
          h.version = v;
          h.pid = pid;
        }, 100);
      }
      return;
    }
    json(res, 404, { code: 'not_found', message: 'not found' });
  });
  h.server = server;
  h.addr = addr;
  return h;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function waitUntil(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!ok()) throw new Error('condition not met within 5 s');
}

function hostCalls(hosts: FakeHost[], method: string): string[] {
  return hosts.flatMap((h) => h.calls.filter((c) => c.startsWith(method)).map((c) => `${h.id} ${c}`));
}

async function update(
  release: ReleaseFile,
  hosts: FakeHost[],
  extra: { unhealthy?: boolean; handoverTimeoutMs?: number; signal?: AbortSignal } = {},
) {
  const lines: string[] = [];
  let checked = 0;
  const run = runUpdate({
    release,
    hosts: hosts.map((h) => ({ id: h.id, addr: h.addr })),
    requireHealthy: async () => {
      checked++;
      if (extra.unhealthy) throw new UpdateError('cluster is unhealthy: logaggregator: down');
    },
    say: (l) => lines.push(l),
    handoverTimeoutMs: extra.handoverTimeoutMs ?? 5000,
    signal: extra.signal,
  });
  return { run, lines, checked: () => checked };
}

describe('versions', () => {
  it('orders releases by their semver part, commits aside', () => {
    expect(compareReleases(A, B)).toBeLessThan(0);
    expect(compareReleases('0.10.0-x', '0.9.1-y')).toBeGreaterThan(0);
    expect(compareReleases('0.2.0-aaa', '0.2.0-bbb')).toBe(0);
    expect(compareReleases('0.2.0', '0.2.0-bbb')).toBe(0);
  });

  it('plans: done, refused downgrade, refused below min_update_from, the rest in id order', () => {
    expect(planHosts([{ id: 'h1', version: B }], B)).toEqual({ kind: 'current', message: `already at ${B}` });
    expect(() =>
      planHosts(
        [
          { id: 'h1', version: A },
          { id: 'h2', version: C },
        ],
        B,
      ),
    ).toThrow(`refusing to downgrade h2 from ${C} to ${B}`);
    expect(() => planHosts([{ id: 'h1', version: A }], B, '0.1.5')).toThrow(
      `Versions prior to 0.1.5 cannot be updated in-place to this version of Flynn. In order to update to this version a cluster backup/restore is required. (h1 is at ${A})`,
    );
    const plan = planHosts(
      [
        { id: 'h3', version: A },
        { id: 'h1', version: B },
        { id: 'h2', version: '0.2.0-other' },
      ],
      B,
      '0.1.0',
    );
    expect(plan.kind === 'update' && plan.pending.map((h) => h.id)).toEqual(['h2', 'h3']);
    expect(() => planHosts([], B)).toThrow('no hosts found');
  });
});

describe('the release file', () => {
  it("reads a tarball's VERSION and min_update_from", () => {
    const file = makeTarball(B, { min_update_from: '0.1.0' });
    const r = readTarball(file);
    expect(r.version).toBe(B);
    expect(r.minUpdateFrom).toBe('0.1.0');
    expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('packs an unpacked release tree under flynn-edge-<version>/, and refuses other directories', () => {
    const tree = join(work, 'tree', B);
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'VERSION'), `${B}\n`);
    writeFileSync(join(tree, 'SHA256SUMS'), '');
    const r = openRelease(tree);
    try {
      expect(r.version).toBe(B);
      const listing = execFileSync('tar', ['-tzf', r.file], { encoding: 'utf8' });
      expect(listing.split('\n')[0]).toBe(`flynn-edge-${B}/`);
    } finally {
      r.dispose();
    }
    const empty = mkdtempSync(join(work, 'empty-'));
    expect(() => openRelease(empty)).toThrow(/neither a release tree .* nor a flynn-edge checkout/);
    expect(() => openRelease(join(work, 'missing.tar.gz'))).toThrow('no such file or directory');
  });
});

describe('runUpdate against fake hosts', () => {
  it('all hosts on the release: already at, nothing sent', async () => {
    const hosts = await Promise.all([fakeHost(1, B), fakeHost(2, B)]);
    const u = await update(readTarball(makeTarball(B)), hosts);
    expect(await u.run).toBe('current');
    expect(u.lines).toEqual([`already at ${B}`]);
    expect(hostCalls(hosts, 'PUT')).toEqual([]);
  });

  it('a host newer than the release: refused before anything', async () => {
    const hosts = await Promise.all([fakeHost(1, A), fakeHost(2, C)]);
    const u = await update(readTarball(makeTarball(B)), hosts);
    await expect(u.run).rejects.toThrow(`refusing to downgrade h2 from ${C} to ${B}`);
    expect(u.checked()).toBe(0);
    expect(hostCalls(hosts, 'PUT')).toEqual([]);
  });

  it('an unhealthy cluster: refused before any release is sent', async () => {
    const hosts = await Promise.all([fakeHost(1, A)]);
    const u = await update(readTarball(makeTarball(B)), hosts, { unhealthy: true });
    await expect(u.run).rejects.toThrow('cluster is unhealthy: logaggregator: down');
    expect(hostCalls(hosts, 'PUT')).toEqual([]);
  });

  it('sends to all, then hands each daemon over in turn with its own flags', async () => {
    const hosts = await Promise.all([fakeHost(1, A), fakeHost(2, A), fakeHost(3, A)]);
    const pids = hosts.map((h) => h.pid);
    const u = await update(readTarball(makeTarball(B)), hosts);
    expect(await u.run).toBe('updated');
    expect(hosts.map((h) => h.version)).toEqual([B, B, B]);
    expect(hosts.map((h) => h.updateArgs)).toEqual(hosts.map((h) => h.flags));
    expect(u.lines[0]).toBe(`sending release ${B} to h1, h2, h3`);
    expect(u.lines.slice(1)).toEqual([
      `host h1: ${A} → ${B} (pid ${pids[0]} → ${hosts[0].pid})`,
      `host h2: ${A} → ${B} (pid ${pids[1]} → ${hosts[1].pid})`,
      `host h3: ${A} → ${B} (pid ${pids[2]} → ${hosts[2].pid})`,
      'update complete',
    ]);
  });

  it('a host refusing the release: exit naming it, no daemon restarted', async () => {
    const hosts = await Promise.all([fakeHost(1, A), fakeHost(2, A), fakeHost(3, A)]);
    hosts[2].putStatus = 500;
    const u = await update(readTarball(makeTarball(B)), hosts);
    await expect(u.run).rejects.toThrow(
      `host h3: release ${B} refused: 500 disk full (no daemon was restarted)`,
    );
    expect(hostCalls(hosts, 'PUT')).toHaveLength(3);
    expect(hostCalls(hosts, 'POST')).toEqual([]);
  });

  it('a bad sha256 (the tarball changed after it was read): no daemon restarted', async () => {
    const hosts = await Promise.all([fakeHost(1, A), fakeHost(2, A)]);
    const release = readTarball(makeTarball(B));
    release.sha256 = '0'.repeat(64);
    const u = await update(release, hosts);
    await expect(u.run).rejects.toThrow(/host h1: release .* refused: 400 sha256 mismatch/);
    expect(hostCalls(hosts, 'POST')).toEqual([]);
  });

  it('interrupted (Ctrl-C): the hand-over under way finishes, then it stops; a rerun goes on', async () => {
    const hosts = await Promise.all([fakeHost(1, A), fakeHost(2, A), fakeHost(3, A)]);
    const interrupted = new AbortController();
    const u = await update(readTarball(makeTarball(B)), hosts, { signal: interrupted.signal });
    // Interrupted while host 1 hands over.
    await waitUntil(() => hosts[0].calls.some((c) => c.startsWith('POST')));
    interrupted.abort();
    const err = await u.run.catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      `interrupted; hosts: h1 ${B}, h2 ${A}, h3 ${A}; run the same command again to go on`,
    );
    expect(hosts.map((h) => h.version)).toEqual([B, A, A]);
    const again = await update(readTarball(makeTarball(B)), hosts);
    expect(await again.run).toBe('updated');
    expect(hosts.map((h) => h.version)).toEqual([B, B, B]);
  });

  it('a daemon that does not come back: stops there and reports every host', async () => {
    const hosts = await Promise.all([fakeHost(1, A), fakeHost(2, A), fakeHost(3, A)]);
    hosts[1].stuck = true;
    const u = await update(readTarball(makeTarball(B)), hosts, { handoverTimeoutMs: 1000 });
    await expect(u.run).rejects.toThrow(
      `host h2 is not on ${B} after 1s (last: ${A} pid ${hosts[1].pid}); hosts: h1 ${B}, h2 ${A}, h3 ${A}`,
    );
    expect(hostCalls(hosts, 'POST').map((c) => c.split(' ')[0])).toEqual(['h1', 'h2']);
  });

  it('a rerun resumes: hosts already on the release are neither sent it nor restarted', async () => {
    const hosts = await Promise.all([fakeHost(1, B), fakeHost(2, A), fakeHost(3, A)]);
    const u = await update(readTarball(makeTarball(B)), hosts);
    expect(await u.run).toBe('updated');
    expect(hostCalls(hosts, 'PUT').map((c) => c.split(' ')[0])).toEqual(['h2', 'h3']);
    expect(hostCalls(hosts, 'POST').map((c) => c.split(' ')[0])).toEqual(['h2', 'h3']);
    expect(hosts[0].calls.filter((c) => !c.startsWith('GET'))).toEqual([]);
  });
});

describe('the status check through discoverd', () => {
  it('names the unhealthy components on one line', async () => {
    const status = await listen('127.0.0.1', (_req, res) =>
      json(res, 500, {
        data: {
          status: 'unhealthy',
          detail: {
            discoverd: { status: 'healthy' },
            logaggregator: { status: 'unhealthy', reason: 'no instance' },
          },
        },
      }),
    );
    const discoverd = await listen('127.0.0.1', (req, res) =>
      req.url === '/services/status-web/instances'
        ? json(res, 200, [{ id: 'x', addr: status.addr, proto: 'http' }])
        : json(res, 404, { code: 'not_found', message: 'not found' }),
    );
    const client = new DiscoverdClient({ servers: [`http://${discoverd.addr}`] });
    try {
      await expect(requireHealthy(client, 500)).rejects.toThrow(
        'cluster is unhealthy: logaggregator: no instance',
      );
    } finally {
      await client.close();
    }
  });
});

describe('which system apps a rerun skips', () => {
  const release = { id: 'r2', app_id: 'a', artifacts: [], env: {}, processes: {}, created_at: '' };
  const job = (rel: string, state: 'running' | 'done' = 'running') =>
    ({
      id: 'j',
      state,
      app: { id: 'a', name: 'router' },
      processType: 'app',
      createdAt: '',
      registered: true,
      stopRequested: false,
      restarts: 0,
      meta: { FLYNN_RELEASE_ID: rel },
    }) as const;

  it('current only when its release was made for this version and every live job runs it', () => {
    const marked = { ...release, meta: { [UPDATED_FOR]: B } };
    expect(appIsCurrent(marked, [job('r2'), job('r1', 'done')], B)).toBe(true);
    expect(appIsCurrent(marked, [job('r2'), job('r1')], B)).toBe(false);
    expect(appIsCurrent({ ...release, meta: { [UPDATED_FOR]: A } }, [job('r2')], B)).toBe(false);
    expect(appIsCurrent({ ...release, meta: {} }, [job('r2')], B)).toBe(false);
    // Scaled to 0: nothing left to move once its release is marked.
    expect(appIsCurrent(marked, [], B)).toBe(true);
  });
});

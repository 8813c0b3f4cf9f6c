import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { FLYNN_BIN, runCli, runFlynn, runUntilFirstLine } from '@flynn-edge/cli/testing';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { localHostDaemon } from '@flynn-edge/local-cluster';
import { nextPortBlock } from '@flynn-edge/process-kit';
import { ManagedProcess, waitFor } from '@flynn-edge/testkit';
import { zfsReachable } from '@flynn-edge/zfs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// End to end on 127.0.0.51-53: one discoverd, a flynn-host daemon on each of three addresses
// (own state and log dirs, no volumes), and a logaggregator. A job writes numbered lines;
// `flynn-host log` (from the host's files) and `flynn -a APP log` (from the aggregator) both
// see every line, in order. `ps` and `list` see the hosts and the job. A discoverd proxy runs on
// 127.0.0.52 (a host without a Raft seat); 127.0.0.53 has no discoverd at all.

const HOSTS = ['127.0.0.51', '127.0.0.52', '127.0.0.53'];
const BASE = nextPortBlock(400);
const API_PORT = BASE + 13;
const AGG_BIN = fileURLToPath(new URL('../../apps/logaggregator/bin/logaggregator.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'hosts-e2e-'));
// With ZFS answering (CI starts zfs-fuse), each daemon gets its own pool on a sparse file:
// zfs-fuse is one daemon per machine, so pool names carry the run's tag.
const zfs = await zfsReachable();
const POOL = `e2e${randomUUID().slice(0, 8)}`;
const poolOf = (i: number) => `${POOL}-host${i + 1}`;
const discoverd = new DiscoverdProcessCluster({ size: 1, port: BASE, dnsPort: BASE + 1, dir, firstHost: 51 });
const DISCOVERD = discoverd.addrs.join(',');
// 127.0.0.52: a discoverd proxy (started with the peer, never promoted).
discoverd.addHost();
const env = { DISCOVERD };
const daemons = HOSTS.map((ip, i) =>
  localHostDaemon({
    n: i + 1,
    ip,
    apiPort: API_PORT,
    dir,
    jobPorts: { start: BASE + 100 + i * 100, end: BASE + 199 + i * 100 },
    pool: zfs ? poolOf(i) : undefined,
    env,
  }),
);
const aggregator = new ManagedProcess({
  name: 'logaggregator',
  command: process.execPath,
  args: [AGG_BIN, '-syslog-addr', `${HOSTS[0]}:${BASE + 14}`, '-api-addr', `${HOSTS[0]}:${BASE + 15}`],
  env,
  logFile: join(dir, 'logaggregator.out'),
});

beforeAll(async () => {
  discoverd.start();
  await discoverd.leader(20_000);
  for (const d of daemons) d.start();
  aggregator.start();
  // Each daemon registers in the background, in any order: wait for all three, not the last one.
  await waitFor(
    async () => {
      const r = await runCli(['list', '--json'], env);
      return r.code === 0 && (JSON.parse(r.stdout) as unknown[]).length === HOSTS.length;
    },
    { timeoutMs: 30_000, what: 'three hosts registered' },
  );
}, 60_000);

afterAll(async () => {
  await aggregator.close();
  await Promise.all(daemons.map((d) => d.close()));
  await discoverd.close();
  if (zfs) {
    for (let i = 0; i < HOSTS.length; i++) {
      // zfs-fuse sometimes answers "pool is busy" right after use: retry a few times.
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          execFileSync('zpool', ['destroy', '-f', poolOf(i)], { stdio: 'ignore' });
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
  }
});

async function runJob(hostIp: string, body: unknown, id: string): Promise<Response> {
  return fetch(`http://${hostIp}:${API_PORT}/host/jobs/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('flynn-host daemons, logs and the aggregator', { timeout: 60_000 }, () => {
  it('lists every host with its Raft role', async () => {
    const r = await runCli(['list', '--json'], env);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { id: string; raft: string }[];
    expect(rows.map((x) => x.id)).toEqual(['host1', 'host2', 'host3']);
    // The Raft member runs on 127.0.0.51, a proxy on .52, and nothing on .53.
    expect(rows.map((x) => x.raft)).toEqual(['peer (leader)', 'proxy', 'none']);
    const table = await runCli(['list'], env);
    expect(table.stdout).toMatch(/^host3\s+127\.0\.0\.53:\d+\s+none\s+\S+$/m);
  });

  it('reports its log disk and its pool health in /host/status (what the status service checks)', async () => {
    const status = (await (await fetch(`http://${HOSTS[0]}:${API_PORT}/host/status`)).json()) as {
      log_disk: { total_bytes: number; free_bytes: number };
      volumes: { enabled: boolean; pool?: string; health?: string; reason?: string };
    };
    expect(status.log_disk.total_bytes).toBeGreaterThan(0);
    expect(status.log_disk.free_bytes).toBeGreaterThan(0);
    expect(status.log_disk.free_bytes).toBeLessThanOrEqual(status.log_disk.total_bytes);
    if (zfs) expect(status.volumes).toEqual({ enabled: true, pool: poolOf(0), health: 'ONLINE' });
    else expect(status.volumes).toMatchObject({ enabled: false, reason: expect.any(String) });
  });

  it.skipIf(!zfs)('moves a volume snapshot from one host to another (each host its own pool)', async () => {
    const host = (i: number) => `${HOSTS[i]}:${API_PORT}`;
    const created = await runCli(['volume', 'create', '--host', host(0)], env);
    expect(created.code, created.stderr).toBe(0);
    const src = created.stdout.trim();
    const mountOf = (pool: string, id: string) =>
      execFileSync('zfs', ['get', '-H', '-o', 'value', 'mountpoint', `${pool}/data/${id}`], {
        encoding: 'utf8',
      }).trim();
    writeFileSync(join(mountOf(poolOf(0), src), 'hello.txt'), 'from host1');
    const snap = (await runCli(['volume', 'snapshot', src, '--host', host(0)], env)).stdout.trim();

    const dst = (await runCli(['volume', 'create', '--host', host(1)], env)).stdout.trim();
    const pulled = await fetch(`http://${host(1)}/storage/volumes/${dst}/pull_snapshot`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ host_id: 'host1', snapshot_id: snap }),
    });
    expect(pulled.status, await pulled.clone().text()).toBe(200);
    expect(readFileSync(join(mountOf(poolOf(1), dst), 'hello.txt'), 'utf8')).toBe('from host1');

    const list = JSON.parse((await runCli(['volume', 'list', '--json', '--host', host(1)], env)).stdout) as {
      id: string;
    }[];
    expect(list.map((v) => v.id)).toContain(dst);
  });

  it('sees every line of a job, in order, through flynn-host log and flynn log', async () => {
    const appId = randomUUID();
    const jobId = `host2-${randomUUID()}`;
    const N = 200;
    const script = `for (let i = 0; i < ${N}; i++) console.log('line ' + i); console.error('done');`;
    const res = await runJob(
      HOSTS[1],
      {
        app: { id: appId, name: 'e2e-app' },
        processType: 'worker',
        cmd: process.execPath,
        args: ['-e', script],
      },
      jobId,
    );
    expect(res.status).toBe(200);
    const want = Array.from({ length: N }, (_, i) => `line ${i}`);

    // From the host's files: -f ends once the job has finished.
    const hostLog = await runCli(['log', '-f', jobId], env);
    expect(hostLog.code, hostLog.stderr).toBe(0);
    expect(hostLog.stdout.split('\n').filter((l) => l.startsWith('line '))).toEqual(want);
    expect(hostLog.stdout).toContain('done');
    // The last lines: plain text from the host; with --split-stderr and --init, NDJSON split by stream.
    const last = await runCli(['log', '--lines', '3', jobId], env);
    expect(last.stdout).toBe('line 198\nline 199\ndone\n');
    const split = await runCli(['log', '-n', '3', '--split-stderr', jobId], env);
    expect([split.stdout, split.stderr]).toEqual(['line 198\nline 199\n', 'done\n']);
    const init = await runCli(['log', '-n', '1', '--init', jobId], env);
    expect([init.stdout, init.stderr]).toEqual(['', 'exited with status 0\n']);
    const bad = await fetch(`http://${HOSTS[1]}:${API_PORT}/host/jobs/${jobId}/log?format=xml`);
    expect(bad.status).toBe(400);

    // From the aggregator, by app name (the daemon recorded apps/e2e-app in the cluster store).
    const agg = await waitFor(
      async () => {
        const r = await runFlynn(['-a', 'e2e-app', 'log', '-r', '-n', '1000'], env);
        const lines = r.stdout.split('\n').filter((l) => l.startsWith('line '));
        return lines.length === N && lines;
      },
      { timeoutMs: 20_000, what: 'every line at the aggregator' },
    );
    expect(agg).toEqual(want);

    const metrics = await (await fetch(`http://${HOSTS[1]}:${API_PORT}/metrics`)).text();
    expect(metrics).toMatch(/^flynn_host_log_lines_total ([2-9]\d\d|\d{4,})$/m);
    expect(metrics).toMatch(/^flynn_host_log_dropped_lines_total 0$/m);
    expect(metrics).toMatch(/^flynn_host_jobs\{state="done"\} 1$/m);

    const ps = await runCli(['ps', '-a', '--json'], env);
    const jobs = JSON.parse(ps.stdout) as { id: string; state: string }[];
    expect(jobs.find((j) => j.id === jobId)?.state).toBe('done');
    const q = await runCli(['ps', '-q'], env);
    expect(q.stdout).not.toContain(jobId);

    // The debug tarball holds the daemon's log, the job table and the job's own log.
    const tarball = join(dir, 'debug.tar.gz');
    const dbg = await runCli(
      ['collect-debug-info', '--log-dir', join(dir, 'host2', 'logs'), '--filename', tarball],
      env,
    );
    expect(dbg.code, dbg.stderr).toBe(0);
    expect(dbg.stdout.trim()).toBe(tarball);
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(listing).toEqual(
      expect.arrayContaining(['0-debug-output.log', 'flynn-host.log', '1-jobs.log', 'raft.json']),
    );
    const jobLog = listing.find((n) => n.includes(jobId));
    expect(jobLog).toBeDefined();
    const content = execFileSync('tar', ['-xzOf', tarball, jobLog!], { encoding: 'utf8' });
    expect(content).toContain('line 199');
  });

  it('ends quietly with status 0 when its output pipe closes (log, flynn log, -f)', async () => {
    // Enough history (3000 lines of ~160 bytes) that the CLI is still writing when the reader
    // goes, then a line every 50 ms for the followers.
    const appId = randomUUID();
    const jobId = `host2-${randomUUID()}`;
    const script = `const pad = 'x'.repeat(150);
      for (let i = 0; i < 3000; i++) console.log('line ' + i + ' ' + pad);
      setInterval(() => console.log('tick ' + Date.now()), 50);`;
    const body = { app: { id: appId, name: 'chatty' }, processType: 'worker', cmd: process.execPath };
    expect((await runJob(HOSTS[1], { ...body, args: ['-e', script] }, jobId)).status).toBe(200);
    try {
      await waitFor(
        async () => {
          const r = await runFlynn(['-a', 'chatty', 'log', '-r', '-n', '2500'], env);
          return r.stdout.split('\n').filter(Boolean).length >= 2500;
        },
        { timeoutMs: 30_000, what: '2500 lines at the aggregator' },
      );
      const runs = {
        'flynn-host log': await runUntilFirstLine(['log', jobId], env),
        'flynn-host log -f': await runUntilFirstLine(['log', '-f', jobId], env),
        'flynn log -n 2000': await runUntilFirstLine(['-a', 'chatty', 'log', '-n', '2000'], env, FLYNN_BIN),
        'flynn log -f': await runUntilFirstLine(['-a', 'chatty', 'log', '-f'], env, FLYNN_BIN),
      };
      for (const [what, r] of Object.entries(runs)) {
        expect({ what, code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({
          what,
          code: 0,
          signal: null,
          stderr: '',
        });
        expect(r.stdout).toMatch(
          what.startsWith('flynn-host') ? /^line 0 x+\n$/ : /^\S+ chatty\[worker\.host2-.+\n$/,
        );
      }
    } finally {
      await fetch(`http://${HOSTS[1]}:${API_PORT}/host/jobs/${jobId}?grace=100`, { method: 'DELETE' });
    }
  });

  it('keeps secret env values out of ps, inspect, the host API and the debug tarball', async () => {
    // Fixed, recognisable values: any of them in an output is a leak.
    const secrets = {
      CLUSTER_KEY: 'ck-0b1d6a5e9f5c4e2b',
      AUTH_KEY: 'ak-5e3f2c1d0a9b8c7d',
      COOKIE_KEY: 'cookie-9c8b7a6d5e4f',
      DB_PASSWORD: 'pw-1a2b3c4d5e6f',
      GITHUB_TOKEN: 'tok-6f5e4d3c2b1a',
    };
    const urlSecret = 'urlpw-3c2b1a0f';
    const argSecret = 'argtok-7d6c5b4a';
    const values = [...Object.values(secrets), urlSecret, argSecret];
    const jobId = `host3-${randomUUID()}`;
    const res = await runJob(
      HOSTS[2],
      {
        app: { id: randomUUID(), name: 'secretive' },
        processType: 'web',
        cmd: process.execPath,
        args: ['-e', 'setInterval(() => {}, 1000)', '--', '--api-token', argSecret],
        env: { ...secrets, DATABASE_URL: `postgres://app:${urlSecret}@db/app`, GREETING: 'hello' },
      },
      jobId,
    );
    expect(res.status).toBe(200);
    const leaks = (what: string, text: string) =>
      values.filter((v) => text.includes(v)).map((v) => `${what}: ${v}`);
    try {
      const hostApi = `http://${HOSTS[2]}:${API_PORT}/host/jobs`;
      const listed = await (await fetch(hostApi)).text();
      const one = await (await fetch(`${hostApi}/${jobId}`)).text();
      const ps = await runCli(['ps', '-a', '--json'], env);
      const inspect = await runCli(['inspect', jobId], env);
      expect(ps.code, ps.stderr).toBe(0);
      expect(inspect.code, inspect.stderr).toBe(0);
      expect([
        ...leaks('GET /host/jobs', listed),
        ...leaks('GET /host/jobs/:id', one),
        ...leaks('ps --json', ps.stdout),
        ...leaks('inspect', inspect.stdout),
      ]).toEqual([]);
      // The names stay, with the ordinary values.
      const job = (JSON.parse(ps.stdout) as { id: string; env: Record<string, string> }[]).find(
        (j) => j.id === jobId,
      );
      expect(job?.env).toMatchObject({ CLUSTER_KEY: '<masked>', GREETING: 'hello' });
      expect(job?.state).toBe('running');
      expect(job?.env.DATABASE_URL).toBe('postgres://app:<masked>@db/app');
      expect(inspect.stdout).toMatch(/^ENV\[AUTH_KEY\]\s+<masked>$/m);

      // Asked for explicitly: one value, or all of them.
      const value = await runCli(['inspect', '--env-value', 'DB_PASSWORD', jobId], env);
      expect([value.code, value.stdout]).toEqual([0, `${secrets.DB_PASSWORD}\n`]);
      const revealed = await (await fetch(`${hostApi}/${jobId}?reveal=true`)).json();
      expect((revealed as { env: Record<string, string> }).env).toMatchObject(secrets);
      expect((await fetch(`${hostApi}?reveal=maybe`)).status).toBe(400);

      // The debug tarball, --include-env with the operator's own CLUSTER_KEY in the environment.
      const tarball = join(dir, 'secrets.tar.gz');
      const dbg = await runCli(['collect-debug-info', '--include-env', '--filename', tarball], {
        ...env,
        CLUSTER_KEY: secrets.CLUSTER_KEY,
        SOME_SECRET: secrets.AUTH_KEY,
      });
      expect(dbg.code, dbg.stderr).toBe(0);
      const gz = readFileSync(tarball);
      const raw = gunzipSync(gz);
      expect([
        ...leaks('tarball', raw.toString('latin1')),
        ...leaks('tar.gz', gz.toString('latin1')),
      ]).toEqual([]);
      // …while it does hold the job and the env names.
      const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
      const jobFile = listing.find((n) => n.includes(jobId));
      expect(jobFile).toBeDefined();
      expect(execFileSync('tar', ['-xzOf', tarball, jobFile!], { encoding: 'utf8' })).toContain(
        '"CLUSTER_KEY": "<masked>"',
      );
      expect(execFileSync('tar', ['-xzOf', tarball, 'env.log'], { encoding: 'utf8' })).toMatch(
        /^CLUSTER_KEY=<masked>$/m,
      );
    } finally {
      await fetch(`http://${HOSTS[2]}:${API_PORT}/host/jobs/${jobId}?grace=100`, { method: 'DELETE' });
    }
  });

  it("collect-debug-info finds each host's log directory, and says which one is missing", async () => {
    const tarball = join(dir, 'found.tar.gz');
    const dbg = await runCli(['collect-debug-info', '--filename', tarball], env);
    expect(dbg.code, dbg.stderr).toBe(0);
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(listing).toEqual(
      expect.arrayContaining(['flynn-host-host1.log', 'flynn-host-host2.log', 'flynn-host-host3.log']),
    );
    const host2 = execFileSync('tar', ['-xzOf', tarball, 'flynn-host-host2.log'], { encoding: 'utf8' });
    expect(host2).toContain('"host":"host2"');

    const missingDir = join(dir, 'no-such-dir');
    const other = join(dir, 'missing.tar.gz');
    const r = await runCli(['collect-debug-info', '--log-dir', missingDir, '--filename', other], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`${missingDir} is not on this machine`);
    const output = execFileSync('tar', ['-xzOf', other, '0-debug-output.log'], { encoding: 'utf8' });
    expect(output).toContain(`${missingDir} is not on this machine`);
  });
});

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd';
import { localHostDaemon } from '@flynn-edge/host';
import { ManagedProcess, waitFor } from '@flynn-edge/testkit';
import { zfsReachable } from '@flynn-edge/zfs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runFlynn } from './run-cli.js';

// End to end on 127.0.0.51-53: one discoverd, a flynn-host daemon on each of three addresses
// (own state and log dirs, no volumes), and a logaggregator. A job writes numbered lines;
// `flynn-host log` (from the host's files) and `flynn -a APP log` (from the aggregator) both
// see every line, in order. `ps` and `list` see the hosts and the job.

const HOSTS = ['127.0.0.51', '127.0.0.52', '127.0.0.53'];
const BASE = 23_000 + Math.floor(Math.random() * 50) * 20;
const API_PORT = BASE + 13;
const AGG_BIN = fileURLToPath(new URL('../../logaggregator/bin/logaggregator.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'hosts-e2e-'));
// With ZFS answering (CI starts zfs-fuse), each daemon gets its own pool on a sparse file:
// zfs-fuse is one daemon per machine, so pool names carry the run's tag.
const zfs = await zfsReachable();
const POOL = `e2e${randomUUID().slice(0, 8)}`;
const poolOf = (i: number) => `${POOL}-host${i + 1}`;
const discoverd = new DiscoverdProcessCluster({ size: 1, port: BASE, dnsPort: BASE + 1, dir, firstHost: 51 });
const DISCOVERD = discoverd.addrs.join(',');
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
    // discoverd runs on 127.0.0.51 only: host1 is the peer (and leader), the others proxies.
    expect(rows.map((x) => x.raft)).toEqual(['peer (leader)', 'proxy', 'proxy']);
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
});

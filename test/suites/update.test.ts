import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readProcStat } from '@flynn-edge/host-jobs';
import { netnsAvailable, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvWriter } from '../src/kv-writer.js';
import { LoadClient } from '../src/load-client.js';
import { OpsCluster, type OpsJob } from '../src/ops-cluster.js';
import { nextPatch, repackRelease } from '../src/release-repack.js';
import { webAppTarball } from '../src/web-app.js';

// Issue 16, judged: `flynn-host update` in place on three network-namespace hosts running the
// installed release A, with a demo app of two jobs under constant load through every router, a
// store writer and the jobs' own log writers (sequence numbers). B is A repacked under the next
// patch version (it differs only in its version). First the refusals, each with nothing switched:
// a downgrade, a tarball that fails its SHA256SUMS, a truncated tarball, status 500 (the
// logaggregator scaled to 0), a host cut off at the distribution step. Then the update A → B: no
// failed request, every user job with its pid and start time, no log line lost or repeated, no
// acknowledged write lost, every daemon and system job on B, a leader throughout. A rerun says
// `already at`. Last, B → C with host 1's daemon killed in the middle of its hand-over: the host
// comes back (on B or C, never neither) with its jobs, and a rerun finishes the update.

const { available } = netnsAvailable();
if (!available && process.env.CI === 'true') throw new Error('CI=true and network namespaces are missing');

const TAG = 176;
const DOMAIN = 'up.flynn-edge.test';
const DEMO = `demo.${DOMAIN}`;

// The demo app: answers with its job id and pid, and prints `seq <n> <job>` every 20 ms.
const SERVER = `
const http = require('node:http');
const job = process.env.FLYNN_JOB_ID;
let seq = 0;
setInterval(() => { seq++; process.stdout.write('seq ' + seq + ' ' + job + '\\n'); }, 20);
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  res.end(JSON.stringify({ job, pid: process.pid }));
}).listen(process.env.PORT, process.env.EXTERNAL_IP);
`;

let cluster: OpsCluster;
let work: string;
let A: string;
let B: string;
let C: string;
const tarballs: Record<string, string> = {};
let demoAppId: string;

const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const say = (line: string) => console.log(`[update ${since()}] ${line}`);

const env = () => cluster.clusterEnv();

async function flynn(args: string[]): Promise<string> {
  const r = await cluster.flynn(1, args, env());
  if (r.code !== 0) throw new Error(`flynn ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const update = (args: string[]) => cluster.flynnHost(1, ['update', ...args], env());

/** The process's start time (clock ticks after boot): with the pid, it names one process. */
const startTime = (pid: number) => readProcStat(pid)?.startTime;

/** A process's environment and command line, as /proc has them (empty once it is gone). */
function environOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function cmdlineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

const running = async (k: number) => (await cluster.jobs(k)).filter((j) => j.state === 'running');

/** What must not change when an update is refused or stopped before the daemons. */
interface Snapshot {
  daemons: Map<number, { version: string; pid: number }>;
  jobs: Map<string, { pid: number; start: number | undefined }>;
}

async function snapshot(): Promise<Snapshot> {
  const daemons = new Map<number, { version: string; pid: number }>();
  const jobs = new Map<string, { pid: number; start: number | undefined }>();
  for (const k of cluster.hosts) {
    const s = (await cluster.hostStatus(k)) as { version: string; pid: number };
    daemons.set(k, { version: s.version, pid: s.pid });
    for (const j of await running(k)) jobs.set(j.id, { pid: j.pid!, start: startTime(j.pid!) });
  }
  return { daemons, jobs };
}

/** Every daemon as it was (version, pid), `current` on `version` everywhere, every job untouched. */
async function expectNothingSwitched(before: Snapshot, version: string): Promise<void> {
  const now = await snapshot();
  expect(now.daemons).toEqual(before.daemons);
  for (const k of cluster.hosts)
    expect(readlinkSync(join(cluster.root(k), 'opt/flynn-edge/current')), `h${k} current`).toBe(
      `releases/${version}`,
    );
  for (const [id, j] of before.jobs) expect(now.jobs.get(id), `job ${id}`).toEqual(j);
}

let statusKey: string;

/** The status service, as an outside health check asks it (with its key) through host 1's router. */
async function clusterStatus(): Promise<number> {
  statusKey ??= (await flynn(['-a', 'status', 'env', 'get', 'AUTH_KEY'])).trim();
  const r = await cluster.fromPublic({
    url: `http://${cluster.ip(1)}/?key=${statusKey}`,
    headers: { host: `status.${DOMAIN}` },
    timeoutMs: 15_000,
  });
  return r.status;
}

/** The demo app's two jobs, with their hosts. */
async function demoJobs(): Promise<(OpsJob & { host: number })[]> {
  const all: (OpsJob & { host: number })[] = [];
  for (const k of cluster.hosts)
    for (const j of await running(k)) if (j.app.name === 'demo') all.push({ ...j, host: k });
  return all;
}

/** `seq <n>` numbers of job `id` in host k's per-app log file (and its rotated one). */
function seqLines(k: number, id: string): number[] {
  const dir = join(cluster.root(k), 'var/log/flynn');
  const out: number[] = [];
  for (const f of [`${demoAppId}.log.1`, `${demoAppId}.log`]) {
    const file = join(dir, f);
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = / seq (\d+) (\S+)$/.exec(line);
      if (m && m[2] === id) out.push(Number(m[1]));
    }
  }
  return out;
}

/** Gaps and repeats in a job's sequence numbers (both empty: no line lost or repeated). */
function seqProblems(seqs: number[]): { missing: number[]; repeated: number[] } {
  const seen = new Set<number>();
  const repeated: number[] = [];
  for (const n of seqs) {
    if (seen.has(n)) repeated.push(n);
    seen.add(n);
  }
  const missing: number[] = [];
  const max = Math.max(...seqs);
  for (let n = Math.min(...seqs); n <= max && missing.length < 20; n++) if (!seen.has(n)) missing.push(n);
  return { missing, repeated: repeated.slice(0, 20) };
}

/** Polls each host's /raft/leader; the longest time no host named a leader. */
class LeaderWatch {
  longestGapMs = 0;
  samples = 0;
  private stopped = false;
  private done: Promise<void> | undefined;
  start(): void {
    this.done = (async () => {
      let gapSince: number | undefined;
      while (!this.stopped) {
        const leaders = await Promise.all(
          cluster.hosts.map(async (k) => {
            try {
              const r = await fetch(`http://${cluster.ip(k)}:1111/raft/leader`, {
                headers: { authorization: `Bearer ${cluster.clusterKey}` },
                signal: AbortSignal.timeout(500),
              });
              return r.ok ? ((await r.json()) as { host?: string }).host : undefined;
            } catch {
              return undefined;
            }
          }),
        );
        this.samples++;
        const now = Date.now();
        if (leaders.some(Boolean)) {
          if (gapSince !== undefined) this.longestGapMs = Math.max(this.longestGapMs, now - gapSince);
          gapSince = undefined;
        } else gapSince ??= now;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** `flynn-host list --json` every 500 ms: the versions each host showed, in order. */
class ListWatch {
  readonly seen = new Map<string, string[]>();
  private stopped = false;
  private done: Promise<void> | undefined;
  start(): void {
    this.done = (async () => {
      while (!this.stopped) {
        const r = await cluster.flynnHost(1, ['list', '--json'], env());
        try {
          for (const h of JSON.parse(r.stdout) as { id: string; version: string }[]) {
            const versions = this.seen.get(h.id) ?? [];
            if (versions.at(-1) !== h.version) versions.push(h.version);
            this.seen.set(h.id, versions);
          }
        } catch {
          // a list during a discoverd restart may fail: the next one counts
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

beforeAll(async () => {
  if (!available) return;
  cluster = await OpsCluster.create({ tag: TAG, hosts: 3, domain: DOMAIN });
  work = join(cluster.dir, 'work');
  mkdirSync(work, { recursive: true });
  A = cluster.version;
  B = nextPatch(A);
  C = nextPatch(B);
  tarballs.B = repackRelease(cluster.tarball, B, { dir: work });
  tarballs.C = repackRelease(cluster.tarball, C, { dir: work });
  tarballs.tampered = repackRelease(cluster.tarball, B, { dir: work, tamper: true });
  tarballs.old = repackRelease(cluster.tarball, '0.0.1-old', { dir: work });
  tarballs.truncated = join(work, 'truncated.tar.gz');
  const whole = readFileSync(tarballs.B);
  writeFileSync(tarballs.truncated, whole.subarray(0, Math.floor(whole.length / 2)));

  await cluster.initAll();
  await cluster.start();
  const boot = await cluster.bootstrap({ args: ['--job-timeout', '120'] });
  if (boot.code !== 0) throw new Error(`bootstrap: ${boot.stderr.slice(-3000)}`);
  say(`bootstrapped on ${A} in ${boot.ms} ms`);

  const demoTarball = webAppTarball(work, 'demo', SERVER, { service: 'demo-web' });
  await flynn(['create', 'demo']);
  await flynn(['-a', 'demo', 'release', 'add', demoTarball]);
  await flynn(['-a', 'demo', 'scale', 'web=2']);
  const demo = await waitFor(async () => ((await demoJobs()).length === 2 ? demoJobs() : undefined), {
    timeoutMs: 60_000,
    what: "the demo app's two jobs",
  });
  demoAppId = demo[0]!.app.id!;
  // Served by every router before the load starts.
  for (const k of cluster.hosts) {
    await waitFor(
      async () =>
        (await cluster.fromPublic({ url: `http://${cluster.ip(k)}/`, headers: { host: DEMO } })).status ===
        200,
      { timeoutMs: 60_000, what: `the demo app through h${k}'s router` },
    );
  }
  await waitFor(async () => (await clusterStatus()) === 200, { timeoutMs: 60_000, what: 'status 200' });
}, 600_000);

afterAll(async () => {
  await cluster?.destroy();
}, 120_000);

describe.skipIf(!available)('flynn-host update in place (three network-namespace hosts)', () => {
  it('refuses a downgrade and a bad tarball, with nothing switched', async () => {
    const before = await snapshot();
    const down = await update(['--from', tarballs.old!, '--yes']);
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(`flynn-host: refusing to downgrade h1 from ${A} to 0.0.1-old\n`);

    const tampered = await update(['--from', tarballs.tampered!, '--yes']);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/checksum mismatch in the release tree: .*packaging\/install\.sh/);
    expect(tampered.stderr).toMatch(/\(no daemon was restarted\)\n$/);

    const truncated = await update(['--from', tarballs.truncated!, '--yes']);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/^flynn-host: .*tar/);
    await expectNothingSwitched(before, A);
  }, 300_000);

  it('refuses a cluster whose status is 500 (the logaggregator scaled to 0)', async () => {
    const before = await snapshot();
    await flynn(['-a', 'logaggregator', 'scale', 'app=0']);
    try {
      await waitFor(async () => (await clusterStatus()) === 500, { timeoutMs: 60_000, what: 'status 500' });
      const r = await update(['--from', tarballs.B!, '--yes']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^flynn-host: cluster is unhealthy: .*logaggregator/);
    } finally {
      await flynn(['-a', 'logaggregator', 'scale', 'app=2']);
    }
    await waitFor(async () => (await clusterStatus()) === 200, {
      timeoutMs: 60_000,
      what: 'status 200 again',
    });
    // The logaggregator's jobs were replaced by the scaling; nothing else changed.
    const now = await snapshot();
    expect(now.daemons).toEqual(before.daemons);
    for (const j of await demoJobs())
      expect(now.jobs.get(j.id), `demo job ${j.id}`).toEqual(before.jobs.get(j.id));
  }, 300_000);

  it('stops at the distribution step when a host is cut off there, with nothing switched', async () => {
    const before = await snapshot();
    // Asked to confirm, the command has read every host; host 3 goes away before the answer.
    const cmd = spawn(cluster.bin(1, 'flynn-host'), ['update', '--from', tarballs.B!], {
      env: { ...process.env, ...env(), NODE: process.execPath },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    cmd.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => cmd.once('exit', (code) => r(code)));
    await waitFor(() => /Update 3 host\(s\) from .* to .*\?/.test(stderr), {
      timeoutMs: 60_000,
      what: 'the confirmation prompt',
    });
    cluster.net.cut(3);
    try {
      cmd.stdin.end('y\n');
      expect(await exited).toBe(1);
      expect(stderr).toMatch(/host h3: sending the release failed: .*\(no daemon was restarted\)\n$/);
    } finally {
      cluster.net.heal(3);
    }
    await waitFor(() => cluster.hostStatus(3), { timeoutMs: 30_000, what: 'host 3 back' });
    await expectNothingSwitched(before, A);
    await waitFor(async () => (await clusterStatus()) === 200, {
      timeoutMs: 60_000,
      what: 'status 200 again',
    });
  }, 300_000);

  it('updates A → B under load: no failed request, jobs, logs and writes kept, all on B', async () => {
    const before = await snapshot();
    const demo = await demoJobs();
    expect(demo).toHaveLength(2);
    const load = LoadClient.start(cluster, cluster.hosts, DEMO, join(work, 'load-ab.json'));
    const writer = new KvWriter(cluster, cluster.hosts, 'update');
    writer.start();
    const leader = new LeaderWatch();
    leader.start();
    const list = new ListWatch();
    list.start();
    await waitFor(() => writer.acked.size >= 20, { timeoutMs: 20_000, what: 'the writer going' });

    const started = Date.now();
    const r = await update(['--from', tarballs.B!, '--yes']);
    const updateMs = Date.now() - started;
    say(`update A → B exit ${r.code} in ${updateMs} ms:\n${r.stderr}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/update complete\n$/);

    // A little more load and writing on B, then everything stops.
    const n = writer.acked.size;
    await waitFor(() => writer.acked.size >= n + 20, { timeoutMs: 30_000, what: 'writes after the update' });
    const result = await load.stop();
    await writer.stop();
    await leader.stop();
    await list.stop();
    say(
      `load: ${result.ok} ok, ${result.failures.length} failed, ${result.retried} resent on a closed keep-alive ` +
        `connection, p50 ${result.p50} ms, p99 ${result.p99} ms, max ${result.max} ms over ${result.ms} ms; ` +
        `per router ${JSON.stringify(result.byTarget)}`,
    );
    say(
      `store writer: ${writer.acked.size} acknowledged, ${writer.failures} failed attempts, longest pause ${writer.maxGapMs} ms`,
    );
    say(`leader: longest time without one ${leader.longestGapMs} ms over ${leader.samples} samples`);
    say(`flynn-host list saw: ${JSON.stringify(Object.fromEntries(list.seen))}`);

    expect(result.failures).toEqual([]);
    expect(result.ok).toBeGreaterThan(100);
    for (const k of cluster.hosts) expect(result.byTarget[cluster.ip(k)], `h${k}`).toBeGreaterThan(10);
    expect(leader.longestGapMs).toBeLessThan(1000);
    for (const k of cluster.hosts) expect(list.seen.get(`h${k}`)?.at(-1), `h${k} listed`).toBe(B);

    // Every user job kept its process.
    const after = await demoJobs();
    expect(after.map((j) => [j.id, j.pid, startTime(j.pid!)])).toEqual(
      demo.map((j) => [j.id, j.pid, before.jobs.get(j.id)!.start]),
    );
    // No log line lost or repeated across the switch: each job's numbers run without a gap.
    for (const j of after) {
      const seqs = seqLines(j.host, j.id);
      expect(seqs.length, `job ${j.id}`).toBeGreaterThan(100);
      expect(seqProblems(seqs), `job ${j.id} on h${j.host}`).toEqual({ missing: [], repeated: [] });
    }
    // No acknowledged write lost.
    expect(await writer.missing(2)).toEqual([]);

    // Every daemon on B (a new process), `current` and `flynn-host version` too.
    for (const k of cluster.hosts) {
      const s = (await cluster.hostStatus(k)) as { version: string; pid: number };
      expect(s.version, `h${k}`).toBe(B);
      expect(s.pid).not.toBe(before.daemons.get(k)!.pid);
      expect(readlinkSync(join(cluster.root(k), 'opt/flynn-edge/current'))).toBe(`releases/${B}`);
      expect((await cluster.flynnHost(k, ['version'])).stdout.trim()).toBe(B);
    }
    // Every system job on B: the redeployed apps run releases made for B, started after the
    // switch; every router's workers say B.
    for (const name of ['discoverd', 'controller', 'logaggregator', 'status']) {
      const release = JSON.parse(await flynn(['-a', name, 'release', 'show', '--json'])) as {
        id: string;
        meta?: Record<string, string>;
      };
      expect(release.meta?.['flynn-edge.update-version'], name).toBe(B);
      for (const k of cluster.hosts)
        for (const j of (await running(k)).filter((x) => x.app.name === name))
          expect(j.meta?.FLYNN_RELEASE_ID, `${name} job ${j.id}`).toBe(release.id);
    }
    for (const k of cluster.hosts) {
      const router = (await running(k)).find((j) => j.app.name === 'router')!;
      const full = (await (
        await fetch(`${cluster.url(k)}/host/jobs/${router.id}`, {
          headers: { authorization: `Bearer ${cluster.clusterKey}` },
        })
      ).json()) as { args: string[] };
      // The shipped manifest gives the router -api-port 5000.
      const apiPort = full.args[full.args.indexOf('-api-port') + 1];
      const s = (await (
        await fetch(`http://${cluster.ip(k)}:${apiPort}/router/status`, {
          headers: { authorization: `Bearer ${cluster.clusterKey}` },
        })
      ).json()) as { workers: { version: string }[] };
      expect(
        s.workers.map((w) => w.version),
        `h${k} router workers`,
      ).toEqual(s.workers.map(() => B));
    }
    expect(await clusterStatus()).toBe(200);
  }, 600_000);

  it('a rerun on B has nothing to do', async () => {
    const r = await update(['--from', tarballs.B!, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`already at ${B}\n`);
  }, 120_000);

  it('a daemon killed in the middle of its hand-over comes back with its jobs; a rerun finishes', async () => {
    const before = await snapshot();
    const oldPid = before.daemons.get(1)!.pid;
    const jobs1 = [...(await running(1))].map((j) => [j.id, j.pid]);
    const cmd = update(['--from', tarballs.C!, '--yes']);
    // Host 1 goes first: its successor (the new daemon, FLYNN_HANDOVER=1 in its environment) is
    // started; the old daemon dies before handing over.
    const successor = await waitFor(
      () => cluster.net.pids(1).find((pid) => pid !== oldPid && environOf(pid).includes('FLYNN_HANDOVER=1')),
      { timeoutMs: 120_000, intervalMs: 10, what: "host 1's successor daemon" },
    );
    process.kill(oldPid, 'SIGKILL');
    say(`killed h1's daemon ${oldPid} with its successor ${successor} starting`);
    const r = await cmd;
    say(`update B → C with the kill: exit ${r.code}\n${r.stderr}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/host h1/);
    // As systemd would: the unit's main process died, so it starts the daemon again unless the
    // successor serves (it exits when its old daemon goes before handing over).
    const serving = await cluster.hostStatus(1).catch(() => undefined);
    if (!serving) cluster.startDaemon(1);
    const back = (await cluster.waitHost(1, 60_000)) as { version: string; pid: number };
    say(`h1 back on ${back.version} (pid ${back.pid}); it was ${serving ? 'the successor' : 'restarted'}`);
    expect([B, C]).toContain(back.version);
    expect(readlinkSync(join(cluster.root(1), 'opt/flynn-edge/current'))).toBe(`releases/${back.version}`);
    // One daemon in the namespace (a successor that was still starting leaves once it sees its
    // old daemon gone), and every job of the host with its process.
    const daemons = () =>
      cluster.net.pids(1).filter((pid) => {
        const argv = cmdlineOf(pid);
        return argv.some((a) => a.endsWith('flynn-host.js')) && argv.includes('daemon');
      });
    await waitFor(() => daemons().length === 1, { timeoutMs: 15_000, what: 'one flynn-host daemon on h1' });
    expect(daemons()).toEqual([back.pid]);
    await waitFor(
      async () => {
        const now = (await running(1)).map((j) => [j.id, j.pid]);
        return jobs1.every(([id, pid]) => now.some(([i, p]) => i === id && p === pid));
      },
      { timeoutMs: 30_000, what: "host 1's jobs re-adopted" },
    );

    const rerun = await update(['--from', tarballs.C!, '--yes']);
    say(`rerun B → C: exit ${rerun.code}\n${rerun.stderr}`);
    expect(rerun.code, rerun.stderr).toBe(0);
    for (const k of cluster.hosts)
      expect(((await cluster.hostStatus(k)) as { version: string }).version).toBe(C);
    await waitFor(async () => (await clusterStatus()) === 200, {
      timeoutMs: 60_000,
      what: 'status 200 on C',
    });
    // Through the kill, the restart and the second update, still no log line lost or repeated.
    for (const j of await demoJobs())
      expect(seqProblems(seqLines(j.host, j.id)), `job ${j.id} on h${j.host}`).toEqual({
        missing: [],
        repeated: [],
      });
  }, 600_000);
});

// bench/discoverd: discoverd side by side with etcd 3.4 (Debian), one run, on 127.0.0.1–3.
//   1. committed writes/s: a new instance per request vs an etcd put per request, 1 and 64 clients
//   2. failover: SIGKILL the leader, time to the first acknowledged write, 20 kills
//   3. watch fan-out: 1,000 SSE subscribers, time from a write to the last delivery
//   4. DNS: A queries/s with dnsperf
// Every server is its own process; load comes from separate processes (load.mjs, watch.mjs,
// dnsperf) except the failover probe, which runs here. Writes bench/results/discoverd.md.
// Usage: npm run bench:discoverd [-- --seconds 10 --kills 20 --subscribers 1000 --quick]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  fdatasyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { ensureDnsperf, runDnsperf } from './dns.mjs';
import { EtcdCluster, ensureEtcd } from './etcd.mjs';
import { measureFailover } from './failover.mjs';
import { cpuSeconds, instanceBody, md5Id, request, sleep, summary, write } from './lib.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : dflt);
const quick = argv.includes('--quick');
const cfg = {
  seconds: opt('seconds', quick ? 3 : 10),
  oneClientSeconds: opt('one-client-seconds', quick ? 2 : 5),
  warmupSeconds: 1,
  prewarmSeconds: 2,
  concurrency: 64,
  kills: opt('kills', quick ? 3 : 20),
  subscribers: opt('subscribers', 1000),
  watchWrites: opt('watch-writes', quick ? 5 : 20),
  dnsSeconds: opt('dns-seconds', quick ? 3 : 10),
  fastElection: !argv.includes('--no-fast-election'),
};
const here = fileURLToPath(new URL('.', import.meta.url));
const out = fileURLToPath(new URL('../results/discoverd.md', import.meta.url));
const t0 = Date.now();
const log = (s) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${s}\n`);
const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
const randomPort = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo));

/** Runs a bench helper script in its own process; resolves with its last JSON line. */
function runChild(script, config, { onLine, timeoutMs } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, script), JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(child);
    let buf = '';
    let last;
    child.stdout.on('data', (d) => {
      buf += d;
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
        if (!line.trim()) continue;
        last = JSON.parse(line);
        onLine?.(last);
      }
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs ?? 120_000);
    child.on('exit', (code, sig) => {
      clearTimeout(guard);
      children.delete(child);
      code === 0 && last ? resolve(last) : reject(new Error(`${script} exited ${code ?? sig}`));
    });
  });
}
const children = new Set();

/** Leader fsyncs so far, from its /metrics (discoverd's raft histogram or etcd's WAL histogram). */
async function leaderFsyncs(metricsUrl) {
  try {
    const r = await request('GET', metricsUrl, { timeoutMs: 5000 });
    const get = (re) => Number(re.exec(r.text)?.[1] ?? Number.NaN);
    return {
      count: get(
        /^(?:flynn_discoverd_raft_duration_seconds_count\{kind="fsync"\}|etcd_disk_wal_fsync_duration_seconds_count) (\S+)$/m,
      ),
      sum: get(
        /^(?:flynn_discoverd_raft_duration_seconds_sum\{kind="fsync"\}|etcd_disk_wal_fsync_duration_seconds_sum) (\S+)$/m,
      ),
    };
  } catch {
    return { count: Number.NaN, sum: Number.NaN };
  }
}

/**
 * One load run. Server CPU (all 3 processes, from /proc) and the leader's fsyncs (from /metrics)
 * are sampled when the load generator says measuring starts, and again when it exits.
 */
async function load(config, serverPids, metricsUrl) {
  let cpuStart;
  let fsyncStart;
  const r = await runChild('load.mjs', config, {
    onLine: (l) => {
      if (l.phase !== 'measuring') return;
      cpuStart = serverPids.reduce((a, p) => a + cpuSeconds(p), 0);
      if (metricsUrl) fsyncStart = leaderFsyncs(metricsUrl);
    },
    timeoutMs: (config.warmupSeconds + (config.maxSeconds ?? config.seconds) + 60) * 1000,
  });
  const cpuEnd = serverPids.reduce((a, p) => a + cpuSeconds(p), 0);
  if (cpuStart !== undefined && r.acknowledged > 0)
    r.serverCpuUsPerWrite = Math.round(((cpuEnd - cpuStart) / r.acknowledged) * 1e6);
  r.serverCpuCores =
    cpuStart !== undefined ? Math.round(((cpuEnd - cpuStart) / r.seconds) * 100) / 100 : null;
  if (fsyncStart) {
    const [a, b] = [await fsyncStart, await leaderFsyncs(metricsUrl)];
    const n = b.count - a.count;
    if (n > 0) {
      r.leaderFsyncs = n;
      r.writesPerLeaderFsync = Math.round((r.acknowledged / n) * 10) / 10;
      r.leaderFsyncMeanMs = Math.round(((b.sum - a.sum) / n) * 1e5) / 100;
    }
  }
  log(
    `  ${config.prewarm ? 'prewarm, not measured: ' : ''}${r.kind} ×${r.concurrency}: ${r.acknowledged} acknowledged, ${r.perSecond}/s, p50 ${r.p50} ms, p99 ${r.p99} ms` +
      `${r.leaderFsyncs ? `, ${r.writesPerLeaderFsync} writes per leader fsync (mean ${r.leaderFsyncMeanMs} ms)` : ''}` +
      `${r.socketErrors || Object.keys(r.statuses).some((s) => s !== '200') ? `, statuses ${JSON.stringify(r.statuses)} socket errors ${r.socketErrors} ${r.firstError ?? ''}` : ''}`,
  );
  return r;
}

/** fdatasync floor of the data dir's disk right now: 300 appends of 128 bytes, each synced. */
function fsyncFloor(dir) {
  const f = join(dir, 'fsync-probe');
  const fd = openSync(f, 'a');
  const buf = Buffer.alloc(128, 1);
  const lat = [];
  try {
    for (let i = 0; i < 300; i++) {
      const t = process.hrtime.bigint();
      writeSync(fd, buf);
      fdatasyncSync(fd);
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  } finally {
    closeSync(fd);
    rmSync(f, { force: true });
  }
  return summary(lat);
}

function machine(dir) {
  const sh = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  const lscpuModel = sh('lscpu', []).match(/Model name:\s+(.*)/)?.[1];
  return {
    cpu: lscpuModel ?? cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: `Linux ${release()}`,
    node: process.version,
    dataDir: sh('df', ['--output=source,fstype', dir]).split('\n').pop().replace(/\s+/g, ' '),
    os: sh('sh', ['-c', '. /etc/os-release && echo "$PRETTY_NAME"']),
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

const tmp = mkdtempSync(join(tmpdir(), 'bench-discoverd-'));
const clusters = [];
function discoverdCluster(name, args = []) {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const c = new DiscoverdProcessCluster({ dir, args, port: randomPort(20_000, 40_000) });
  clusters.push(c);
  c.start();
  return c;
}
async function closeCluster(c) {
  await c.close();
  clusters.splice(clusters.indexOf(c), 1);
}

const results = { config: cfg };
let ok = false;
try {
  results.machine = machine(tmp);
  results.machine.fdatasync128BytesMsAtStart = fsyncFloor(tmp);
  const etcdBin = ensureEtcd(log);
  results.etcdVersion = etcdBin.version;
  results.etcdInstalledByThisRun = etcdBin.installed;
  log(`etcd ${etcdBin.version}`);
  results.dnsperfVersion = ensureDnsperf(log);

  // ---- 1. committed writes/s: discoverd, then etcd doing the same number of puts ----
  // Instances never heartbeat here, so their TTL is long: the bench measures commits, and a 100k-
  // instance expiry batch mid-run is another benchmark. Everything else is the default (fsync on).
  log('writes: discoverd, 3 nodes');
  const dw = discoverdCluster('writes', ['-instance-ttl', '10m']);
  const dl = await dw.leader(30_000);
  const cs = await write('PUT', dw.url(dl, '/services/bench'), { body: '{}' });
  if (cs.status !== 200) throw new Error(`create service: ${cs.status} ${cs.text}`);
  const dPids = dw.procs.map((p) => p.pid);
  const base = { warmupSeconds: cfg.warmupSeconds };
  // Each fresh cluster first gets the same unmeasured burst (JIT, connections, page cache).
  const prewarm = (kind, url, pids) =>
    load(
      {
        kind,
        base: url,
        concurrency: cfg.concurrency,
        seconds: cfg.prewarmSeconds,
        warmupSeconds: 0,
        tag: 3,
        prewarm: true,
      },
      pids,
    );
  results.prewarm = [await prewarm('discoverd', dw.url(dl), dPids)];
  const d1 = await load(
    { ...base, kind: 'discoverd', base: dw.url(dl), concurrency: 1, seconds: cfg.oneClientSeconds, tag: 1 },
    dPids,
    dw.url(dl, '/metrics'),
  );
  const d64 = await load(
    {
      ...base,
      kind: 'discoverd',
      base: dw.url(dl),
      concurrency: cfg.concurrency,
      seconds: cfg.seconds,
      tag: 2,
    },
    dPids,
    dw.url(dl, '/metrics'),
  );
  const dStillLeader = (await dw.leader(5000)) === dl;
  await closeCluster(dw);

  log('writes: etcd, 3 members, the same number of puts');
  mkdirSync(join(tmp, 'etcd'));
  const clientPort = randomPort(41_000, 50_000);
  const etcd = new EtcdCluster({
    dir: join(tmp, 'etcd'),
    hosts: HOSTS,
    clientPort,
    peerPort: clientPort + 1,
  });
  clusters.push(etcd);
  etcd.start();
  const el = await etcd.leader(30_000);
  results.etcdServerVersion = el.version;
  results.prewarm.push(await prewarm('etcd', etcd.url(el.index), etcd.pids));
  const e1 = await load(
    {
      ...base,
      kind: 'etcd',
      base: etcd.url(el.index),
      concurrency: 1,
      seconds: cfg.oneClientSeconds * 3,
      maxSeconds: cfg.oneClientSeconds * 3,
      total: d1.acknowledged,
      tag: 1,
    },
    etcd.pids,
    etcd.url(el.index, '/metrics'),
  );
  const e64 = await load(
    {
      ...base,
      kind: 'etcd',
      base: etcd.url(el.index),
      concurrency: cfg.concurrency,
      seconds: cfg.seconds * 3,
      maxSeconds: cfg.seconds * 3,
      total: d64.acknowledged,
      tag: 2,
    },
    etcd.pids,
    etcd.url(el.index, '/metrics'),
  );
  const eStillLeader = (await etcd.leader(5000)).index === el.index;
  await etcd.close();
  clusters.splice(clusters.indexOf(etcd), 1);
  results.writes = {
    discoverd: [d1, d64],
    etcd: [e1, e64],
    leaderUnchanged: { discoverd: dStillLeader, etcd: eStillLeader },
  };

  // ---- 2. failover ----
  results.failover = [];
  const rows = [['500ms (default)', []]];
  if (cfg.fastElection) rows.push(["1s (Flynn's)", ['-election-timeout', '1s']]);
  for (const [label, args] of rows) {
    log(`failover: -election-timeout ${label}, ${cfg.kills} kills`);
    const fc = discoverdCluster(`failover-${results.failover.length}`, args);
    const f = await measureFailover(fc, { kills: cfg.kills, log, tag: 20 + results.failover.length });
    results.failover.push({ electionTimeout: label, ...f });
    log(`  p50 ${f.p50} ms, p99 ${f.p99} ms, max ${f.max} ms`);
    await closeCluster(fc);
  }

  // ---- 3. watch fan-out and 4. DNS, on one fresh default cluster ----
  log(`watch: ${cfg.subscribers} SSE subscribers over 3 nodes`);
  const sc = discoverdCluster('watch-dns');
  const sl = await sc.leader(30_000);
  for (const s of ['watched', 'dnsbench']) {
    const r = await write('PUT', sc.url(sl, `/services/${s}`), { body: '{}' });
    if (r.status !== 200) throw new Error(`create service ${s}: ${r.status} ${r.text}`);
  }
  results.watch = await runChild(
    'watch.mjs',
    {
      nodes: sc.addrs.map((_, i) => sc.url(i)),
      leader: sc.url(sl),
      service: 'watched',
      subscribers: cfg.subscribers,
      writes: cfg.watchWrites,
      gapMs: 200,
    },
    { timeoutMs: 180_000 },
  );
  log(
    `  last subscriber after ack: p50 ${results.watch.lastFromAck.p50} ms, p99 ${results.watch.lastFromAck.p99} ms, max ${results.watch.lastFromAck.max} ms`,
  );

  log('dns: dnsperf, A query, one node');
  const dnsAddrs = ['10.1.0.1:80', '10.1.0.2:80', '10.1.0.3:80'];
  const heartbeat = async () => {
    for (const a of dnsAddrs) {
      const r = await write('PUT', sc.url(sl, `/services/dnsbench/instances/${md5Id('tcp', a)}`), {
        body: instanceBody(a),
      });
      if (r.status !== 200) throw new Error(`register ${a}: ${r.status} ${r.text}`);
    }
  };
  await heartbeat();
  const beat = setInterval(() => heartbeat().catch(() => {}), 3000);
  const dnsNode = (sl + 1) % 3; // a follower: DNS is answered from local state on every node
  const dnsServer = sc.hosts[dnsNode];
  try {
    // The instances are applied on the follower before we measure.
    for (let i = 0; i < 50; i++) {
      const dig = spawnSync(
        'dig',
        [
          `@${dnsServer}`,
          '-p',
          String(sc.dnsPort),
          'dnsbench.discoverd',
          'A',
          '+short',
          '+time=1',
          '+tries=1',
        ],
        { encoding: 'utf8' },
      );
      results.digAnswer = dig.stdout.trim().split('\n').filter(Boolean);
      if (results.digAnswer.length === 3) break;
      await sleep(100);
    }
    results.dns = await runDnsperf({
      dir: tmp,
      server: dnsServer,
      port: sc.dnsPort,
      name: 'dnsbench.discoverd',
      seconds: cfg.dnsSeconds,
    });
    results.dns.node = `${dnsServer} (follower)`;
  } finally {
    clearInterval(beat);
  }
  log(`  ${results.dns.qps} queries/s, avg ${results.dns.avgLatencyMs} ms, lost ${results.dns.lost}`);
  await closeCluster(sc);

  results.totalSeconds = Math.round((Date.now() - t0) / 1000);
  results.machine.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  results.machine.fdatasync128BytesMsAtEnd = fsyncFloor(tmp);
  writeFileSync(out, markdown(results));
  log(`wrote ${out}`);
  ok = true;
} finally {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(clusters.map((c) => c.close().catch(() => {})));
  rmSync(tmp, { recursive: true, force: true });
  if (!ok) process.exitCode = 1;
}

/** JSON with nesting broken over lines only where the compact form would be longer than 110 characters. */
function compactJson(v, indent = '') {
  const flat = JSON.stringify(v);
  if (flat.length + indent.length <= 110 || v === null || typeof v !== 'object') return flat;
  const inner = `${indent}  `;
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + compactJson(x, inner)).join(',\n')}\n${indent}]`;
  const body = Object.entries(v).map(([k, x]) => `${inner}${JSON.stringify(k)}: ${compactJson(x, inner)}`);
  return `{\n${body.join(',\n')}\n${indent}}`;
}

function markdown(r) {
  const m = r.machine;
  const f = (x, d = 2) => (x === null || x === undefined ? '–' : Number(x).toFixed(d));
  const int = (x) => (x === null || x === undefined ? '–' : Math.round(x).toLocaleString('en'));
  const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '–');
  const [d1, d64] = r.writes.discoverd;
  const [e1, e64] = r.writes.etcd;
  const errs = (x) =>
    x.socketErrors + Object.entries(x.statuses).reduce((a, [s, n]) => a + (s === '200' ? 0 : n), 0);
  const wrow = (name, x) =>
    `| ${name} | ${x.concurrency} | ${int(x.acknowledged)} | ${f(x.seconds)} | **${int(x.perSecond)}** | ${f(x.p50, 3)} | ${f(x.p99, 3)} | ${f(x.max, 1)} | ${int(x.serverCpuUsPerWrite)} | ${f(x.serverCpuCores)} | ${f(x.clientCpuCores)} | ${errs(x)} |`;
  const goalRate = d64.perSecond >= e64.perSecond;
  const goalP99 = d64.p99 <= e64.p99;
  const w = r.watch;
  const fo = r.failover;
  return `# discoverd: side by side with etcd 3.4

Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench:discoverd\` (that is \`npm run build && node bench/discoverd/run.mjs\`; one run, ${r.totalSeconds} s in all).

- Machine: ${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.kernel}, ${m.os}, Node ${m.node}; data directories on ${m.dataDir} (a temp dir, removed afterwards).
  One append of 128 bytes plus \`fdatasync\` in that directory took ${f(m.fdatasync128BytesMsAtStart.p50, 3)} ms at p50 (p99 ${f(m.fdatasync128BytesMsAtStart.p99, 3)}) at the start and ${f(m.fdatasync128BytesMsAtEnd.p50, 3)} ms (p99 ${f(m.fdatasync128BytesMsAtEnd.p99, 3)}) at the end (300 appends, this process alone).
  Load average (1, 5, 15 min) ${m.loadAverageAtStart.join(', ')} at the start and ${m.loadAverageAtEnd.join(', ')} at the end: the machine is shared, and anything above ~0 at the start is other work competing for the ${m.cores} cores.
- discoverd: 3 processes on 127.0.0.1–3 (\`DiscoverdProcessCluster\`, \`bin/discoverd\`), one port each for HTTP and Raft, fsync on (the default), 100 ms Raft tick.
- etcd: ${r.etcdVersion} (Debian package \`etcd-server\`${r.etcdInstalledByThisRun ? ', installed by this run with `apt-get install -y etcd-server`' : ''}, cluster version ${r.etcdServerVersion}), 3 members on 127.0.0.1–3, one data dir each, its defaults (fsync on, 100 ms heartbeat, 1 s election timeout), client requests through its JSON gateway.
- Load: separate Node processes (\`bench/discoverd/load.mjs\`, \`watch.mjs\`) and \`dnsperf\` ${r.dnsperfVersion}; the servers and the load share the ${m.cores} cores, so the server CPU per write is the figure least affected by that sharing.

## Summary

| measure | discoverd | etcd 3.4 | discoverd / etcd | goal (issue 3) |
|---|---|---|---|---|
| committed writes/s, ${r.config.concurrency} clients | ${int(d64.perSecond)} | ${int(e64.perSecond)} | **${ratio(d64.perSecond, e64.perSecond)}** | ≥ 1.0× — ${goalRate ? 'met' : 'not met'} |
| write p99 ms, ${r.config.concurrency} clients | ${f(d64.p99, 1)} | ${f(e64.p99, 1)} | ${ratio(d64.p99, e64.p99)} | within etcd's — ${goalP99 ? 'met' : 'not met'} |
| write p50 / p99 ms, 1 client | ${f(d1.p50, 2)} / ${f(d1.p99, 1)} | ${f(e1.p50, 2)} / ${f(e1.p99, 1)} | ${ratio(d1.p50, e1.p50)} / ${ratio(d1.p99, e1.p99)} | reported |
${fo.map((x) => `| failover p50 / p99 ms, \`-election-timeout ${x.electionTimeout}\` | ${int(x.p50)} / ${int(x.p99)} | – | – | p99 ≤ 1,500 — ${x.p99 <= 1500 ? 'met' : 'not met'} |`).join('\n')}
| watch: last of ${int(w.subscribers)} subscribers after the ack, p99 ms | ${f(w.lastFromAck.p99, 1)} | – | – | reported |
| DNS A queries/s (one node) | ${int(r.dns.qps)} | – | – | reported |

## Committed writes

Closed loop: each client sends one write to the leader over a keep-alive connection and waits for the acknowledgement before the next.

- discoverd: \`PUT /services/bench/instances/<md5>\` with \`{"id","addr","proto":"tcp"}\`, a new addr every time, so every request is a new instance and a Raft log entry. It ran for a fixed time (${r.config.oneClientSeconds} s with 1 client, ${r.config.seconds} s with ${r.config.concurrency}), each run after a ${r.config.warmupSeconds} s warm-up at its own concurrency.
- etcd: \`POST /v3/kv/put\` with \`{"key": base64("bench/<run>/<n>"), "value": base64(100 bytes)}\`, a new key every time, sent to the leader (found with \`POST /v3/maintenance/status\`). It did the same number of puts as discoverd acknowledged, after the same warm-up.
- Each fresh cluster first took an unmeasured ${r.config.prewarmSeconds} s burst at ${r.config.concurrency} clients (JIT, connections, page cache), the same for both.
- The instances never heartbeat, so this cluster ran with \`-instance-ttl 10m\` to keep an expiry batch of ~100k instances out of the measurement; the write path does not depend on the TTL.
- Leader unchanged through the runs: discoverd ${r.writes.leaderUnchanged.discoverd ? 'yes' : 'no'}, etcd ${r.writes.leaderUnchanged.etcd ? 'yes' : 'no'}.

| server | clients | writes acknowledged | seconds | writes/s | p50 ms | p99 ms | max ms | server CPU µs/write (3 nodes) | server CPU cores busy | load generator CPU cores | errors |
|---|---|---|---|---|---|---|---|---|---|---|---|
${wrow('discoverd', d1)}
${wrow('etcd 3.4', e1)}
${wrow('discoverd', d64)}
${wrow('etcd 3.4', e64)}

Group commit, from each leader's own metrics over the measured run (discoverd: \`flynn_discoverd_raft_duration_seconds{kind="fsync"}\`; etcd: \`etcd_disk_wal_fsync_duration_seconds\`):

| server | clients | leader fsyncs | writes per leader fsync | leader fsync mean ms |
|---|---|---|---|---|
${[
  ['discoverd', d1],
  ['etcd 3.4', e1],
  ['discoverd', d64],
  ['etcd 3.4', e64],
]
  .map(
    ([n, x]) =>
      `| ${n} | ${x.concurrency} | ${int(x.leaderFsyncs)} | ${f(x.writesPerLeaderFsync, 1)} | ${f(x.leaderFsyncMeanMs, 2)} |`,
  )
  .join('\n')}

| clients | rate discoverd / etcd | p50 discoverd / etcd | p99 discoverd / etcd | CPU per write discoverd / etcd |
|---|---|---|---|---|
| 1 | **${ratio(d1.perSecond, e1.perSecond)}** | ${ratio(d1.p50, e1.p50)} | ${ratio(d1.p99, e1.p99)} | ${ratio(d1.serverCpuUsPerWrite, e1.serverCpuUsPerWrite)} |
| ${r.config.concurrency} | **${ratio(d64.perSecond, e64.perSecond)}** | ${ratio(d64.p50, e64.p50)} | ${ratio(d64.p99, e64.p99)} | ${ratio(d64.serverCpuUsPerWrite, e64.serverCpuUsPerWrite)} |

Goal from the issue (${r.config.concurrency} clients): at least 1.0× etcd's rate — **${goalRate ? 'met' : 'not met'}**; p99 within etcd's — **${goalP99 ? 'met' : 'not met'}**.

## Failover

SIGKILL of the discoverd leader, then one probe loop per node (all 3, the dead one included) registering a new instance
every 10 ms until one is acknowledged by a live node: 300 ms timeout per hop, 307s followed by hand.
The figure is the time from the SIGKILL to that acknowledgement, measured in the bench's main process. Between kills the
node is restarted and waits until its applied index reaches the leader's. Default flags otherwise (TTL 10 s, tick 100 ms);
the election timeout is randomised between 1× and 2× the flag.

| \`-election-timeout\` | kills | p50 ms | p99 ms | max ms | min ms | goal p99 ≤ 1,500 ms |
|---|---|---|---|---|---|---|
${fo.map((x) => `| ${x.electionTimeout} | ${x.kills} | **${int(x.p50)}** | **${int(x.p99)}** | ${int(x.max)} | ${int(Math.min(...x.samples.map((s) => s.ms)))} | ${x.p99 <= 1500 ? 'met' : 'not met'} |`).join('\n')}

With ${r.config.kills} kills, p99 is the slowest kill (nearest-rank). Anchor (notes): Flynn's discoverd takes 3–4 s here.

## Watch fan-out

${w.subscribers} SSE subscribers (\`GET /services/watched\`, \`Accept: text/event-stream\`), spread round-robin over the
3 nodes (~${Math.round(w.subscribers / 3)} each), all held by one client process, which also sends the writes so both ends use
one clock. Each stream first gets its \`current\` marker (all ${w.subscribers} connected in ${int(w.connectMs)} ms); then
${w.writes} writes, one at a time 200 ms apart, each registering a new instance on the leader; the \`up\` event is timed
on every stream. "From ack" starts when the write's 200 arrives; "from start" when the write is sent.

| | p50 ms | p99 ms | max ms |
|---|---|---|---|
| write acknowledged (from start) | ${f(w.ack.p50)} | ${f(w.ack.p99)} | ${f(w.ack.max)} |
| **last subscriber, from ack** | ${f(w.lastFromAck.p50)} | **${f(w.lastFromAck.p99)}** | ${f(w.lastFromAck.max)} |
| last subscriber, from start | ${f(w.lastFromStart.p50)} | ${f(w.lastFromStart.p99)} | ${f(w.lastFromStart.max)} |
| first subscriber, from ack | ${f(w.firstFromAck.p50)} | ${f(w.firstFromAck.p99)} | ${f(w.firstFromAck.max)} |
| every delivery (${int(w.everyDeliveryFromAck.n)}), from ack | ${f(w.everyDeliveryFromAck.p50)} | ${f(w.everyDeliveryFromAck.p99)} | ${f(w.everyDeliveryFromAck.max)} |

Writes delivered to every subscriber: ${w.writesFullyDelivered}/${w.writes}; deliveries missed: ${w.missedDeliveries}; streams ended early: ${w.streamsEndedEarly}.
The writer shares its process with the ${int(w.subscribers)} streams, so it reads its acknowledgement only after handling the
events that arrived before it (hence the negative "first subscriber" figures): "from ack" is the lower bound of the
fan-out time, "from start" (which includes the commit) the upper bound.
The percentiles of "last subscriber" are over ${w.writes} writes, so p99 is the slowest write.

## DNS

\`${r.dns.command.replace(/-d \S+/, '-d <file>')}\`, one query repeated: \`${r.dns.query}\` (the service has 3 instances; answer ${JSON.stringify(r.digAnswer)}), UDP, to node ${r.dns.node}.
The instances heartbeat every 3 s during the run.

| query | node | queries/s | avg latency ms | sent | completed | lost | response codes |
|---|---|---|---|---|---|---|---|
| A \`dnsbench.discoverd\` | ${r.dns.node} | **${int(r.dns.qps)}** | ${f(r.dns.avgLatencyMs, 3)} | ${int(r.dns.sent)} | ${int(r.dns.completed)} | ${int(r.dns.lost)} | ${r.dns.responseCodes} |

## Raw results

\`\`\`json
${compactJson(r)}
\`\`\`
`;
}

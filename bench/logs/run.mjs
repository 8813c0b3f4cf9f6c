// bench/logs — issue 5 "Speed": host log ingest, `flynn-host log --lines 10000` over 200 MB of
// history, and the aggregator's last-10,000-lines query. Plain Node ESM, run after `npm run build`.
// Every process started here is killed by pid at the end (also on failure); data goes to a temp dir.

import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { LogStore } from '@flynn-edge/logstore';
import { freePort, waitFor } from '@flynn-edge/process-kit';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOST_BIN = join(ROOT, 'apps/cli/bin/flynn-host.js');
const EXTRA_CA_TAG = ", with this machine's NODE_EXTRA_CA_CERTS";
const AGG_BIN = join(ROOT, 'apps/logaggregator/bin/logaggregator.js');
const DISCOVERD_BIN = join(ROOT, 'apps/discoverd/bin/discoverd.js');

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
function opt(name, def) {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = argv[i + 1];
  return typeof def === 'number' ? Number(v) : v;
}
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(`usage: node bench/logs/run.mjs [options]
  --only ingest,tail,aggregator   scenarios to run (default all; aggregator needs ingest's data)
  --jobs 50           ingest: writer jobs
  --duration 5        ingest: seconds each job writes (paced run)
  --max-duration 1    ingest: seconds each job writes in the as-fast-as-it-can run
  --rate 0            ingest: lines/s per job (0 = as fast as it can); --paced-rate adds a paced run
  --paced-rate 4000   ingest: lines/s per job of the second, paced run (0 = no paced run)
  --drain-timeout 120 ingest: seconds to wait for the file/aggregator to catch up
  --history-mb 200    tail: MB of synthetic history
  --max-mb 100        tail: rotation size of the tail daemon / LogStore
  --tail-runs 10      tail: runs per measurement
  --queries 200       aggregator: GET /log/<app>?lines=10000 queries
  --out bench/results/logs.md   the report (- for stdout only)
  --keep              keep the temp dir`);
  process.exit(0);
}
const O = {
  only: new Set(opt('only', 'ingest,tail,aggregator').split(',')),
  jobs: opt('jobs', 50),
  duration: opt('duration', 5),
  maxDuration: opt('max-duration', 1),
  rate: opt('rate', 0),
  pacedRate: opt('paced-rate', 4000),
  drainTimeout: opt('drain-timeout', 120),
  historyMb: opt('history-mb', 200),
  maxMb: opt('max-mb', 100),
  tailRuns: opt('tail-runs', 10),
  queries: opt('queries', 200),
  out: opt('out', join(ROOT, 'bench/results/logs.md')),
  keep: argv.includes('--keep'),
};
if (O.only.has('aggregator')) O.only.add('ingest');

// ---------------------------------------------------------------- processes
const TMP = mkdtempSync(join(tmpdir(), 'bench-logs-'));
const procs = [];
const say = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

function start(name, args, env = {}) {
  const out = openSync(join(TMP, `${name}.out`), 'a');
  // BENCH_CPU_PROF=<dir>: V8 CPU profiles of the daemons and the aggregator (written when they exit).
  const prof = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const p = spawn(process.execPath, [...prof, ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', out, out],
    detached: true,
  });
  closeSync(out);
  procs.push({ name, p });
  p.on('exit', (code, sig) => {
    if (!p.benchStopping) say(`${name} (pid ${p.pid}) exited: ${code ?? sig}`);
  });
  return p;
}

async function stop(p, grace = 3000) {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.benchStopping = true;
  const done = new Promise((r) => p.once('exit', r));
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {}
  const t = setTimeout(() => {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }, grace);
  await done;
  clearTimeout(t);
}

const daemonUrls = new Set();
async function cleanup() {
  // Jobs outlive their daemon: kill every job still running on our daemons, by pid.
  for (const url of daemonUrls) {
    try {
      const r = await fetch(`${url}/host/jobs`, { signal: AbortSignal.timeout(2000) });
      const body = await r.json();
      const jobs = Array.isArray(body) ? body : (body.jobs ?? []);
      for (const j of jobs)
        if (j.pid && (j.state === 'running' || j.state === 'starting')) jobPids.add(j.pid);
    } catch {}
  }
  for (const { p } of procs.reverse()) await stop(p);
  // Jobs run in their own process groups, started by the daemons: kill each one we started by pid.
  for (const pid of jobPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  if (!O.keep) rmSync(TMP, { recursive: true, force: true });
  else say(`kept ${TMP}`);
}
const jobPids = new Set();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function getText(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.text();
}
function metric(text, name) {
  let sum = 0;
  let found = false;
  for (const l of text.split('\n')) {
    if (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) {
      sum += Number(l.slice(l.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  return found ? sum : undefined;
}
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

// ---------------------------------------------------------------- cluster
const IP = { discoverd: '127.0.0.61', host: '127.0.0.62', agg: '127.0.0.63', tailHost: '127.0.0.64' };
let DISCOVERD;

async function startDiscoverd() {
  const port = await freePort(IP.discoverd);
  const dns = await freePort(IP.discoverd);
  DISCOVERD = `${IP.discoverd}:${port}`;
  start('discoverd', [
    DISCOVERD_BIN,
    '-data-dir',
    join(TMP, 'discoverd'),
    '-host',
    IP.discoverd,
    '-addr',
    DISCOVERD,
    '-dns-addr',
    `${IP.discoverd}:${dns}`,
    '-peers',
    DISCOVERD,
  ]);
  await waitFor(async () => (await fetch(`http://${DISCOVERD}/raft/leader`)).ok, {
    what: 'discoverd leader',
    timeoutMs: 30_000,
    intervalMs: 100,
  });
}

async function startDaemon(name, id, ip, extra = []) {
  const apiPort = await freePort(ip);
  const base = 40_000 + Math.floor(Math.random() * 200) * 100;
  const dir = join(TMP, name);
  const p = start(
    name,
    [
      HOST_BIN,
      'daemon',
      '-id',
      id,
      '-external-ip',
      ip,
      '-api-port',
      String(apiPort),
      '-state',
      join(dir, 'state'),
      '-log-dir',
      join(dir, 'logs'),
      '-no-volumes',
      '-job-port-range',
      `${base}-${base + 99}`,
      ...extra,
    ],
    { DISCOVERD },
  );
  const url = `http://${ip}:${apiPort}`;
  daemonUrls.add(url);
  await waitFor(async () => (await fetch(`${url}/host/status`)).ok, {
    what: `${name} API`,
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  return { p, url, dir, logDir: join(dir, 'logs'), restart: () => startDaemonAgain(name, p, url, apiPort) };
}
async function startDaemonAgain(name, old, url) {
  const args = old.spawnargs.slice(1).filter((a) => !a.startsWith('--cpu-prof'));
  await stop(old);
  const p = start(`${name}-2`, args, { DISCOVERD });
  await waitFor(async () => (await fetch(`${url}/host/status`)).ok, {
    what: `${name} API again`,
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  return p;
}

async function runJob(daemon, id, spec) {
  const r = await fetch(`${daemon.url}/host/jobs/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(spec),
  });
  if (!r.ok) throw new Error(`run job ${id}: ${r.status} ${await r.text()}`);
  const j = await r.json().catch(() => ({}));
  if (j?.pid) jobPids.add(j.pid);
}
async function jobState(daemon, id) {
  const r = await fetch(`${daemon.url}/host/jobs/${id}`);
  return r.ok ? r.json() : undefined;
}

// ---------------------------------------------------------------- ingest
// A writer job: 100-byte lines `w<idx> <seq> xxx…\n` (seq from 0), batches of 100 lines, from
// startAt until endAt (ms since the epoch), optionally paced; its count goes to stderr and a file.
const WRITER = `
const [countFile, startAt, endAt, idx, rate] = process.argv.slice(1).map((x, i) => i === 0 ? x : Number(x));
const fs = require('node:fs');
const pad = 'x'.repeat(100);
let n = 0;
function batch() {
  let s = '';
  for (let i = 0; i < 100; i++) { const h = 'w' + idx + ' ' + n++ + ' '; s += h + pad.slice(0, 99 - h.length) + '\\n'; }
  return s;
}
async function main() {
  while (Date.now() < startAt) await new Promise((r) => setTimeout(r, Math.min(50, startAt - Date.now())));
  for (;;) {
    const now = Date.now();
    if (now >= endAt) break;
    if (rate > 0 && n >= rate * (now - startAt) / 1000) { await new Promise((r) => setTimeout(r, 5)); continue; }
    if (!process.stdout.write(batch())) await new Promise((r) => process.stdout.once('drain', r));
  }
  fs.writeFileSync(countFile, String(n));
  process.stderr.write('wrote ' + n + '\\n');
}
main();
`;

/** Counts writer lines in an app's log files (rotated + current): per writer, count and order. */
function countFile(logDir, appId) {
  const files = readdirSync(logDir)
    .filter((f) => f.startsWith(appId) && f.endsWith('.log'))
    .sort((a, b) => (a === `${appId}.log` ? 1 : b === `${appId}.log` ? -1 : a.localeCompare(b)));
  const per = new Map(); // idx -> {count, next, outOfOrder}
  let frames = 0;
  let other = 0;
  let bad = 0;
  for (const f of files) {
    const fd = openSync(join(logDir, f), 'r');
    const size = statSync(join(logDir, f)).size;
    const CH = 8 << 20;
    let buf = Buffer.alloc(0);
    let pos = 0;
    while (pos < size || buf.length > 0) {
      if (pos < size) {
        const chunk = Buffer.allocUnsafe(Math.min(CH, size - pos));
        const n = readSync(fd, chunk, 0, chunk.length, pos);
        pos += n;
        buf = buf.length ? Buffer.concat([buf, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      }
      let i = 0;
      for (;;) {
        const sp = buf.indexOf(0x20, i);
        if (sp < 0 || sp - i > 6) break;
        const len = Number(buf.toString('latin1', i, sp));
        const end = sp + 1 + len;
        if (end > buf.length) break;
        const body = buf.toString('latin1', sp + 1, end);
        i = buf[end] === 0x0a ? end + 1 : end;
        frames++;
        // <PRI>1 TS HOST APP PROCID MSGID [flynn seq="N"] MSG
        const f6 = nth(body, ' ', 6);
        const msgId = body.slice(nth(body, ' ', 5) + 1, f6);
        const m = body.indexOf('"] ', f6);
        const msg = m < 0 ? '' : body.slice(m + 3);
        if (msgId !== 'ID1' || msg[0] !== 'w') {
          other++;
          continue;
        }
        const s1 = msg.indexOf(' ');
        const s2 = msg.indexOf(' ', s1 + 1);
        const idx = Number(msg.slice(1, s1));
        const seq = Number(msg.slice(s1 + 1, s2));
        if (!Number.isInteger(idx) || !Number.isInteger(seq) || msg.length !== 99) {
          bad++;
          continue;
        }
        let e = per.get(idx);
        if (!e) {
          // first: the job's oldest line still on disk (older ones may have been rotated away)
          e = { count: 0, first: seq, next: seq, outOfOrder: 0 };
          per.set(idx, e);
        }
        e.count++;
        if (seq !== e.next) e.outOfOrder++;
        e.next = seq + 1;
      }
      buf = buf.subarray(i);
      if (pos >= size) {
        if (buf.length) bad++;
        break;
      }
    }
    closeSync(fd);
  }
  return { files, frames, other, bad, per };
}
function nth(s, ch, n) {
  let i = -1;
  for (let k = 0; k < n; k++) {
    i = s.indexOf(ch, i + 1);
    if (i < 0) return -1;
  }
  return i;
}

async function ingest(host, aggUrl, label, rate, duration) {
  const appId = randomUUID().replaceAll('-', '');
  const appName = `bench-ingest-${label}`;
  const countsDir = join(TMP, `counts-${label}`);
  mkdirSync(countsDir);
  const hostMetrics = async () =>
    metric(await getText(`${host.url}/metrics`), 'flynn_host_log_lines_total') ?? 0;
  const hostDropped = async () =>
    metric(await getText(`${host.url}/metrics`), 'flynn_host_log_dropped_lines_total') ?? 0;
  const hostRotations = async () =>
    metric(await getText(`${host.url}/metrics`), 'flynn_host_log_rotations_total') ?? 0;
  const r0 = await hostRotations();
  const aggIngested = async () =>
    metric(await getText(`${aggUrl}/metrics`), 'flynn_logaggregator_messages_ingested_total') ?? 0;
  const h0 = await hostMetrics();
  const d0 = await hostDropped();
  const a0 = await aggIngested();
  const startAt = Date.now() + 1000 + O.jobs * 40;
  const endAt = startAt + duration * 1000;
  const ids = [];
  for (let i = 0; i < O.jobs; i++) {
    const id = `h1-${randomUUID()}`;
    ids.push(id);
    await runJob(host, id, {
      app: { id: appId, name: appName },
      processType: 'writer',
      cmd: process.execPath,
      args: [
        '-e',
        WRITER,
        join(countsDir, String(i)),
        String(startAt),
        String(endAt),
        String(i),
        String(rate),
      ],
    });
  }
  if (Date.now() > startAt) say(`warning: starting ${O.jobs} jobs took past the common start time`);
  say(`ingest ${label}: ${O.jobs} jobs write from +${startAt - Date.now()} ms for ${duration} s`);
  // Samples of the host's file count and the aggregator's count over time.
  const samples = [];
  let maxScrapeMs = 0;
  let scrapeErrors = 0;
  const sample = async () => {
    for (;;) {
      const t = Date.now();
      try {
        const [h, a, d] = await Promise.all([hostMetrics(), aggIngested(), hostDropped()]);
        maxScrapeMs = Math.max(maxScrapeMs, Date.now() - t);
        samples.push({ t: t - startAt, host: h - h0, agg: a - a0, dropped: d - d0 });
        return samples.at(-1);
      } catch (err) {
        // A daemon busy with a flood of lines may reset the connection: count it and try again.
        scrapeErrors++;
        maxScrapeMs = Math.max(maxScrapeMs, Date.now() - t);
        if (scrapeErrors > 200) throw err;
        await sleep(250);
      }
    }
  };
  while (Date.now() < endAt) await sleep(Math.min(250, endAt - Date.now()));
  const atEnd = await sample();
  await sleep(Math.max(0, endAt + 1000 - Date.now()));
  const atEnd1 = await sample();
  // The jobs' own counts (written when they finish).
  await waitFor(() => ids.every((_, i) => existsSync(join(countsDir, String(i)))), {
    what: 'writer counts',
    timeoutMs: 120_000,
    intervalMs: 200,
  });
  const counts = ids.map((_, i) => Number(readFileSync(join(countsDir, String(i)), 'utf8')));
  const written = counts.reduce((a, b) => a + b, 0);
  // Catch up: until the file and the aggregator hold every line, or every line is either in the
  // file or counted as dropped and the aggregator has stopped moving, or the drain timeout.
  const deadline = Date.now() + O.drainTimeout * 1000;
  let hostDoneAt;
  let aggDoneAt;
  let accountedAt;
  let still = { agg: -1, since: Date.now() };
  for (;;) {
    const s = await sample();
    if (hostDoneAt === undefined && s.host >= written) hostDoneAt = s.t;
    if (aggDoneAt === undefined && s.agg >= written) aggDoneAt = s.t;
    if (accountedAt === undefined && s.host + s.dropped >= written) accountedAt = s.t;
    if (s.agg !== still.agg) still = { agg: s.agg, since: Date.now() };
    if (hostDoneAt !== undefined && aggDoneAt !== undefined) break;
    if (accountedAt !== undefined && Date.now() - still.since > 5000) break;
    if (Date.now() > deadline) break;
    await sleep(250);
  }
  const dropped = (await hostDropped()) - d0;
  const file = countFile(host.logDir, appId);
  // Rotation keeps one old file: after two or more rotations of the app's file the oldest lines
  // are deleted by design. A job's lines before its oldest one on disk count as rotated away then
  // (and all of a job's lines when none is left); every other absent line is missing (a gap, or
  // the end never written). Cross-check: the daemon's count of lines written to files.
  const rotations = (await hostRotations()) - r0;
  let inFile = 0;
  let outOfOrder = 0;
  let missing = 0;
  let rotatedAway = 0;
  for (let i = 0; i < O.jobs; i++) {
    const e = file.per.get(i);
    if (!e) {
      if (rotations >= 2) rotatedAway += counts[i];
      else missing += counts[i];
      continue;
    }
    inFile += e.count;
    outOfOrder += e.outOfOrder;
    const before = rotations >= 2 ? e.first : 0;
    rotatedAway += before;
    missing += counts[i] - e.count - before;
  }
  const last = samples.at(-1);
  // The first sample (the two at the end of writing included) at which the file held every line;
  // the metric also counts a few init/stderr lines, taken off as counted in the files.
  const extraLines = accountedAt !== undefined ? Math.max(0, last.host - inFile - rotatedAway) : 0;
  const fileDone = samples.find((x) => x.host - extraLines >= written);
  if (fileDone && missing === 0) hostDoneAt = fileDone.t;
  const aggDone = samples.find((x) => x.agg >= written);
  if (aggDone) aggDoneAt = aggDone.t;
  return {
    label,
    rate,
    duration,
    appId,
    appName,
    written,
    perJobMin: Math.min(...counts),
    perJobMax: Math.max(...counts),
    atEnd,
    atEnd1,
    hostDoneAt,
    aggDoneAt,
    accountedAt,
    maxScrapeMs,
    scrapeErrors,
    drainedInTime: accountedAt !== undefined,
    hostFinal: last.host,
    aggFinal: last.agg,
    inFile,
    outOfOrder,
    missing,
    rotatedAway,
    rotations,
    badFrames: file.bad,
    files: file.files.length,
    dropped,
    samples,
  };
}

// ---------------------------------------------------------------- tail
async function tailScenario() {
  const d = await startDaemon('tailhost', 'h2', IP.tailHost, [
    '-log-max-size',
    String(O.maxMb * 1024 * 1024),
  ]);
  const appId = randomUUID().replaceAll('-', '');
  const jobId = `h2-${randomUUID()}`;
  const others = Array.from({ length: 4 }, () => `h2-${randomUUID()}`);
  // A real short job, so the daemon knows the job, its app and its process type.
  await runJob(d, jobId, {
    app: { id: appId, name: 'bench-tail' },
    processType: 'web',
    cmd: process.execPath,
    args: ['-e', 'console.log("real line")'],
  });
  await waitFor(async () => (await jobState(d, jobId))?.state === 'done', {
    what: 'tail job done',
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  await waitFor(() => existsSync(join(d.logDir, `${appId}.log`)), {
    what: 'tail job log file',
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  // Stop the daemon so that only one writer appends to the app's file, then add the history.
  await stop(d.p);
  say(`tail: writing ${O.historyMb} MB of history (LogStore, maxBytes ${O.maxMb} MB)`);
  const store = new LogStore({
    dir: d.logDir,
    hostId: 'h2',
    maxBytes: O.maxMb * 1024 * 1024,
    maxQueueBytes: 64 << 20,
  });
  const target = O.historyMb * 1e6;
  const pad = 'y'.repeat(200);
  const onDisk = () =>
    readdirSync(d.logDir)
      .filter((f) => f.startsWith(appId))
      .reduce((a, f) => a + statSync(join(d.logDir, f)).size, 0);
  let bytes = 0;
  let n = 0;
  let mainLines = 0;
  let minorLines = 0;
  // 80 % of the lines from the job, 20 % from 4 others, interleaved; msg 60-140 bytes.
  while (bytes < target) {
    for (let k = 0; k < 10_000; k++) {
      const r = n % 20;
      const who = r < 16 ? jobId : others[r - 16];
      if (who === jobId) mainLines++;
      else if (who === others[0]) minorLines++;
      const msg = `history ${n} ${pad.slice(0, 60 + (n % 80))}`;
      const out = store.write(appId, { procId: `web.${who}`, msgId: n % 10 === 9 ? 'ID2' : 'ID1', msg });
      if (out.length !== 1) throw new Error('history line dropped');
      n++;
    }
    await store.flush();
    bytes = onDisk();
  }
  await store.flush();
  const st = store.stats(appId);
  await store.close();
  if (st.dropped) throw new Error(`history: ${st.dropped} lines dropped`);
  const files = readdirSync(d.logDir)
    .filter((f) => f.startsWith(appId))
    .map((f) => ({ f, size: statSync(join(d.logDir, f)).size }));
  say(
    `tail: ${fmt(n)} lines, files ${files.map((x) => `${x.f.length > 40 ? 'rotated' : 'current'} ${fmt(x.size / 1e6, 1)} MB (${fmt(x.size)} bytes)`).join(', ')}`,
  );
  const p2 = await startDaemonAgain('tailhost', d.p, d.url);
  d.p = p2;

  const results = [];
  // 1. LogStore.tail in this process (a fresh store each run: nothing cached).
  const filters = [
    ['main job (80 % of lines)', jobId],
    ['minor job (5 % of lines)', others[0]],
  ];
  for (const [what, job] of filters) {
    const filter = { jobId: job, streams: ['ID1', 'ID2'] };
    const xs = [];
    let got = 0;
    for (let i = 0; i < O.tailRuns; i++) {
      const s = new LogStore({ dir: d.logDir, hostId: 'bench' });
      const t0 = performance.now();
      const out = await s.tail(appId, 10_000, filter);
      xs.push(performance.now() - t0);
      got = out.length;
      await s.close();
    }
    results.push({ what: `LogStore.tail(10000), ${what}`, xs, got });
  }
  // 2. The daemon's HTTP API alone, and 3. the CLI end to end (process start included).
  for (const [what, job] of filters) {
    const xs = [];
    let got = 0;
    for (let i = 0; i < O.tailRuns; i++) {
      const t0 = performance.now();
      const body = await getText(`${d.url}/host/jobs/${job}/log?lines=10000`).catch((e) => {
        if (job !== jobId) return ''; // the minor job never ran on the daemon: unknown to the API
        throw e;
      });
      xs.push(performance.now() - t0);
      got = body ? body.split('\n').filter(Boolean).length : 0;
    }
    if (got) results.push({ what: `GET /host/jobs/:id/log?lines=10000, ${what}`, xs, got });
  }
  // This machine's environment sets NODE_EXTRA_CA_CERTS to the system CA bundle, which makes every
  // Node process parse ~140 certificates before running anything (+~50 ms a start, measured with
  // hyperfine: node -e 0 takes ~75 ms with it, ~27 ms without). The CLI speaks plain HTTP and
  // never uses them. The goal's row runs without it; the row with it is shown too.
  const cliEnvs = [{ tag: '', env: { ...process.env, DISCOVERD } }];
  if (process.env.NODE_EXTRA_CA_CERTS) {
    delete cliEnvs[0].env.NODE_EXTRA_CA_CERTS;
    cliEnvs.push({ tag: EXTRA_CA_TAG, env: { ...process.env, DISCOVERD } });
  }
  for (const { tag, env } of cliEnvs) {
    const xs = [];
    let got = 0;
    for (let i = 0; i < O.tailRuns; i++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [HOST_BIN, 'log', '--lines', '10000', jobId], {
        env,
        maxBuffer: 64 << 20,
        encoding: 'utf8',
      });
      xs.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(`flynn-host log: ${r.status} ${r.stderr}`);
      got = r.stdout.split('\n').filter(Boolean).length;
    }
    results.push({
      what: `\`flynn-host log --lines 10000 JOB_ID\` (end to end, new process)${tag}`,
      xs,
      got,
    });
  }
  for (const { tag, env } of cliEnvs) {
    const xs = [];
    for (let i = 0; i < O.tailRuns; i++) {
      const t0 = performance.now();
      spawnSync(process.execPath, ['-e', '0'], { env });
      xs.push(performance.now() - t0);
    }
    results.push({ what: `\`node -e 0\` (process start alone, for reference)${tag}`, xs, got: 0 });
  }
  return { lines: n, mainLines, minorLines, files, results, jobId };
}

// ---------------------------------------------------------------- aggregator
async function aggScenario(aggUrl, appId) {
  const xs = [];
  let got = 0;
  let bytes = 0;
  for (let i = 0; i < 5; i++) await getText(`${aggUrl}/log/${appId}?lines=10000`); // warm-up
  for (let i = 0; i < O.queries; i++) {
    const t0 = performance.now();
    const body = await getText(`${aggUrl}/log/${appId}?lines=10000`);
    xs.push(performance.now() - t0);
    got = body.split('\n').filter(Boolean).length;
    bytes = body.length;
  }
  return { xs, got, bytes };
}

// ---------------------------------------------------------------- report
function machine() {
  const c = cpus();
  return { cpu: c[0]?.model ?? '?', cores: c.length, node: process.version };
}

async function main() {
  const m = machine();
  const load0 = loadavg();
  const startedAt = new Date().toISOString();
  say(
    `machine: ${m.cpu}, ${m.cores} cores, node ${m.node}, load ${load0.map((x) => x.toFixed(2)).join(' ')}; tmp ${TMP}`,
  );
  await startDiscoverd();
  const out = { ingest: [], tail: undefined, agg: undefined };
  let aggUrl;
  if (O.only.has('ingest')) {
    const host = await startDaemon('host', 'h1', IP.host);
    const sys = await freePort(IP.agg);
    const api = await freePort(IP.agg);
    aggUrl = `http://${IP.agg}:${api}`;
    start('logaggregator', [AGG_BIN, '-syslog-addr', `${IP.agg}:${sys}`, '-api-addr', `${IP.agg}:${api}`], {
      DISCOVERD,
    });
    await waitFor(async () => (await fetch(`${aggUrl}/.well-known/status`)).ok, {
      what: 'aggregator',
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    // The host ships once it has found the aggregator in discoverd: wait for a first line to arrive.
    const probeApp = randomUUID().replaceAll('-', '');
    await runJob(host, `h1-${randomUUID()}`, {
      app: { id: probeApp, name: 'bench-probe' },
      cmd: process.execPath,
      args: ['-e', 'console.log("probe")'],
    });
    await waitFor(async () => (await getText(`${aggUrl}/log/${probeApp}?lines=10`)).includes('probe'), {
      what: 'shipping to the aggregator',
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    // Paced first (and the aggregator queries on its app) while the host is quiet; the unpaced
    // run can leave the daemon busy long after its writers have stopped.
    if (O.pacedRate > 0 && O.rate === 0)
      out.ingest.push(await ingest(host, aggUrl, 'paced', O.pacedRate, O.duration));
    const queries = async () => {
      say(`aggregator: ${O.queries} queries`);
      out.agg = await aggScenario(aggUrl, out.ingest[0].appId);
    };
    if (O.only.has('aggregator') && out.ingest.length) await queries();
    out.ingest.push(
      await ingest(host, aggUrl, O.rate ? 'fixed' : 'max', O.rate, O.rate ? O.duration : O.maxDuration),
    );
    if (O.only.has('aggregator') && !out.agg) await queries();
    // Stop them before the tail scenario, so a daemon still draining does not share the CPU.
    for (const { name, p } of procs) if (name === 'host' || name === 'logaggregator') await stop(p);
  }
  if (O.only.has('tail')) out.tail = await tailScenario();
  const load1 = loadavg();
  const md = report({ m, load0, load1, startedAt, out });
  if (O.out !== '-') {
    writeFileSync(O.out, md);
    say(`wrote ${O.out}`);
  }
  console.log(md);
}

/**
 * The issue's ingest goal: ≥ 200,000 lines/s through the host with none lost or dropped. The paced
 * run writes exactly 200,000 lines/s, so it must also have every line in the file by the scrape
 * taken 1 s after writing ends. The unpaced run writes millions of lines in its one second; it
 * measures capacity: lines written ÷ time until the file held them all.
 */
function ingestGoalMet(r) {
  if (r.missing !== 0 || r.dropped !== 0 || r.hostDoneAt === undefined) return false;
  if (r.label === 'max') return r.written / (r.hostDoneAt / 1000) >= 200_000;
  return r.written / r.duration >= 200_000 && r.hostDoneAt <= r.atEnd1.t;
}

function summary(out) {
  const S = ['## Summary', '', '| scenario | goal | measured | |', '| --- | --- | --- | --- |'];
  for (const r of out.ingest) {
    const rate = r.written / r.duration;
    const ok = ingestGoalMet(r);
    const what =
      r.label === 'max'
        ? `ingest, ${O.jobs} jobs as fast as they can (${r.duration} s)`
        : `ingest, ${O.jobs} jobs at ${fmt(r.rate * O.jobs)} lines/s (${r.duration} s)`;
    S.push(
      `| ${what} | ≥ 200,000 lines/s into the file, none dropped | ${fmt(rate)} lines/s written; all in the files ${r.hostDoneAt !== undefined ? `${fmt(r.hostDoneAt / 1000, 2)} s after the start (${fmt(r.written / (r.hostDoneAt / 1000))} lines/s)` : 'never'}; ${fmt(r.inFile)} of ${fmt(r.written)} still on disk (${fmt(r.rotatedAway)} rotated away), ${fmt(r.missing)} missing, ${fmt(r.dropped)} dropped | ${ok ? 'met' : '**not met**'} |`,
    );
  }
  if (out.agg) {
    const p99 = pct(out.agg.xs, 99);
    S.push(
      `| aggregator, last 10,000 lines | p99 < 50 ms | p50 ${fmt(pct(out.agg.xs, 50), 1)} ms, p99 ${fmt(p99, 1)} ms | ${p99 < 50 ? 'met' : '**not met**'} |`,
    );
  }
  if (out.tail) {
    for (const r of out.tail.results) {
      if (r.what.startsWith('`node')) continue;
      const mx = Math.max(...r.xs);
      if (r.what.includes('minor job') || r.what.endsWith(EXTRA_CA_TAG)) {
        S.push(
          `| tail: ${r.what} | — (${r.what.endsWith(EXTRA_CA_TAG) ? 'the environment adds ~50 ms to every Node start; see the tail section' : 'the goal is for the job that wrote most'}) | p50 ${fmt(pct(r.xs, 50), 1)} ms, max ${fmt(mx, 1)} ms | |`,
        );
        continue;
      }
      S.push(
        `| tail: ${r.what} | < 150 ms | p50 ${fmt(pct(r.xs, 50), 1)} ms, max ${fmt(mx, 1)} ms | ${mx < 150 ? 'met' : pct(r.xs, 50) < 150 ? '**not met** (p50 met)' : '**not met**'} |`,
      );
    }
  }
  return S;
}

function report({ m, load0, load1, startedAt, out }) {
  const L = [];
  const la = (x) => x.map((v) => v.toFixed(2)).join(' / ');
  L.push('# Logs benchmark (issue 5, "Speed")', '');
  L.push(
    `Run ${startedAt}. Command: \`node bench/logs/run.mjs${argv.length ? ` ${argv.join(' ')}` : ''}\` (what \`npm run bench:logs\` runs after \`npm run build\`).`,
    '',
  );
  L.push(`- Machine: ${m.cpu}, ${m.cores} cores; Node ${m.node}`);
  L.push(`- Load average (1/5/15 min): start ${la(load0)}, end ${la(load1)}`);
  L.push(
    '- Everything on one machine: discoverd (127.0.0.61), the flynn-host daemon (127.0.0.62), the logaggregator (127.0.0.63), a second daemon for the tail (127.0.0.64), the writer jobs and the bench itself share the cores. Temp dirs on the local disk.',
  );
  L.push('');
  L.push(...summary(out), '');
  for (const r of out.ingest) {
    const secs = r.duration;
    const hostRate = r.hostDoneAt ? r.written / (r.hostDoneAt / 1000) : undefined;
    const aggRate = r.aggDoneAt ? r.written / (r.aggDoneAt / 1000) : undefined;
    const lost = r.missing;
    // The metric also counts the daemon's init notes and each job's final stderr line.
    const extra = r.drainedInTime ? Math.max(0, r.hostFinal - r.inFile - r.rotatedAway) : 0;
    const inFileAt = (v) => Math.max(0, v - extra);
    const pc = (v) => fmt((100 * v) / r.written, 1);
    const within1 = inFileAt(r.atEnd1.host) >= r.written && lost === 0;
    const writtenRate = r.written / secs;
    L.push(
      `## Ingest — ${r.label === 'max' ? `${O.jobs} jobs as fast as they can` : r.label === 'fixed' ? `${O.jobs} jobs at ≤ ${fmt(r.rate)} lines/s each` : `${O.jobs} jobs paced at ${fmt(r.rate)} lines/s each (${fmt(r.rate * O.jobs)} lines/s in all)`}`,
      '',
    );
    L.push('| figure | value |', '| --- | ---: |');
    L.push(
      `| lines written by the jobs (their own counts) in ${secs} s | ${fmt(r.written)} (**${fmt(writtenRate)} lines/s**; per job ${fmt(r.perJobMin)}–${fmt(r.perJobMax)}) |`,
    );
    L.push(
      `| writer lines in the app's log file at the end of writing | ${fmt(inFileAt(r.atEnd.host))} (${pc(inFileAt(r.atEnd.host))} %) |`,
    );
    L.push(
      `| writer lines in the app's log file 1 s after the end | ${fmt(inFileAt(r.atEnd1.host))} (${pc(inFileAt(r.atEnd1.host))} %) |`,
    );
    L.push(
      `| all lines in the file after (from the common start) | ${r.hostDoneAt ? `${fmt(r.hostDoneAt / 1000, 2)} s (${fmt(hostRate)} lines/s averaged over that time)` : `never: ${fmt(inFileAt(r.hostFinal))} reached the file${r.drainedInTime ? `, the rest was dropped (every line accounted for ${fmt(r.accountedAt / 1000, 1)} s after the start)` : `; drain timeout ${O.drainTimeout} s hit, the daemon was still reading the spools`}`} |`,
    );
    L.push(`| \`flynn_host_log_dropped_lines_total\` increase | ${fmt(r.dropped)} |`);
    L.push(
      `| file check: writer lines found / missing / out of order / unparsable frames | ${fmt(r.inFile)} / ${fmt(r.missing)} / ${fmt(r.outOfOrder)} / ${fmt(r.badFrames)} (${r.files} file${r.files > 1 ? 's' : ''}) |`,
      `| rotations of the app's file / writer lines rotated away (older than the oldest kept file) | ${fmt(r.rotations)} / ${fmt(r.rotatedAway)} (${pc(r.rotatedAway)} %; the daemon counted ${fmt(r.hostFinal)} lines written to files) |`,
    );
    L.push(
      `| ingested by the aggregator at the end / 1 s after | ${fmt(r.atEnd.agg)} / ${fmt(r.atEnd1.agg)} (${pc(r.atEnd1.agg)} %, init/stderr lines included) |`,
    );
    L.push(
      `| all lines at the aggregator after | ${r.aggDoneAt ? `${fmt(r.aggDoneAt / 1000, 2)} s (${fmt(aggRate)} lines/s averaged)` : `never (${fmt(r.aggFinal)} lines${r.drainedInTime ? '' : ` by the drain timeout`})`} |`,
    );
    L.push(
      `| slowest metrics scrape of the daemon + aggregator during the run | ${fmt(r.maxScrapeMs)} ms${r.scrapeErrors ? ` (${r.scrapeErrors} scrapes failed: connection reset or refused; retried)` : ''} |`,
    );
    const met = ingestGoalMet(r);
    L.push(
      `| **goal: ≥ 200,000 lines/s on the host, none dropped** | ${met ? '**met**' : '**not met**'} (${fmt(writtenRate)} lines/s written; ${r.hostDoneAt ? `${fmt(r.written / (r.hostDoneAt / 1000))} lines/s through the host; ` : ''}${fmt(lost)} missing from the file; all in the file within 1 s of the end: ${within1 ? 'yes' : 'no'}${r.label === 'max' ? ' — not asked of this run: it writes far more than 200,000 lines/s, so it measures how fast the host drains them' : ''}) |`,
    );
    L.push('');
    L.push(
      `Progress (ms after the common start → lines in the file / at the aggregator): ${r.samples
        .filter((_, i, a) => i < 3 || i === a.length - 1 || i % Math.max(1, Math.floor(a.length / 8)) === 0)
        .map((s) => `${s.t} → ${fmt(s.host)} / ${fmt(s.agg)}`)
        .join('; ')}`,
    );
    L.push('');
  }
  if (out.ingest.length) {
    L.push(
      'How: each job is `node -e <writer>` started through `PUT /host/jobs/:id` on the daemon; all wait for a common start time, then write 100-byte lines (`w<job> <seq> xxx…`, 99 bytes + `\\n`) to stdout in `write()` calls of 100 lines, awaiting `drain` when `write` returns false, until the common end time (paced runs sleep when ahead of the rate), and then write their line count to a file and stderr. Job stdout goes to the daemon\'s spool file, which the daemon reads and writes to `<log-dir>/<app id>.log`. "In the file" over time is the daemon\'s `flynn_host_log_lines_total` (lines actually written to the files, a few init/stderr lines included), and "at the aggregator" is its `flynn_logaggregator_messages_ingested_total`, both scraped every 250 ms after the end. Lines/s through the host = lines the jobs wrote ÷ time from the common start until the file held them all. At the end the log files are parsed frame by frame (RFC 6587 octet counting) and every job\'s sequence numbers checked for gaps and order. The daemon runs with the default 100 MB rotation, which keeps one old file: with two or more rotations (1,000,000 lines of ~250-byte frames are ~250 MB) the oldest lines are deleted by design; a job\'s lines older than its oldest one on disk are counted as "rotated away", and "missing" = the job\'s own count − its lines in the files − the lines rotated away (gaps, or lines that never reached a file). The daemon\'s count of lines written to files (`flynn_host_log_lines_total`) is the cross-check that rotated-away lines were written.',
      '',
    );
  }
  if (out.agg) {
    const a = out.agg;
    const p99 = pct(a.xs, 99);
    L.push('## Aggregator — `GET /log/<app>?lines=10000`', '');
    L.push('| figure | value |', '| --- | ---: |');
    L.push(
      `| queries | ${a.xs.length} sequential, after 5 warm-up; ${fmt(a.got)} lines, ${fmt(a.bytes / 1e6, 2)} MB each |`,
    );
    L.push(
      `| p50 / p99 / max | ${fmt(pct(a.xs, 50), 1)} / ${fmt(p99, 1)} / ${fmt(Math.max(...a.xs), 1)} ms |`,
    );
    L.push(`| **goal: p99 < 50 ms** | ${p99 < 50 ? '**met**' : '**not met**'} |`);
    L.push('');
    L.push(
      "How: the aggregator's buffer for the ingest app (full: 10,000 of the lines shipped by the host in the ingest scenario), queried one request at a time with `fetch` from the bench process after ingest had finished; each time is request sent → whole NDJSON body read.",
      '',
    );
  }
  if (out.tail) {
    const t = out.tail;
    L.push('## Tail — `flynn-host log --lines 10000` over 200 MB of history', '');
    L.push(
      `History: ${fmt(t.lines)} lines (${fmt(t.mainLines)} from the job, 4 other jobs of the app 5 % each, interleaved; 10 % on stderr), files: ${t.files.map((x) => `${x.f.length > 40 ? 'rotated' : 'current'} ${fmt(x.size / 1e6, 1)} MB (${fmt(x.size)} bytes)`).join(', ')}.`,
      '',
    );
    L.push(`| what | lines | p50 ms | max ms | runs |`, '| --- | ---: | ---: | ---: | ---: |');
    for (const r of t.results)
      L.push(
        `| ${r.what} | ${fmt(r.got)} | ${fmt(pct(r.xs, 50), 1)} | ${fmt(Math.max(...r.xs), 1)} | ${r.xs.length} |`,
      );
    const cli = t.results.find((r) => r.what.startsWith('`flynn-host log'));
    const api = t.results.find((r) => r.what.startsWith('GET'));
    L.push('');
    L.push(
      `**Goal: under 150 ms** — end to end (\`flynn-host log\`, max of ${cli.xs.length} runs): ${Math.max(...cli.xs) < 150 ? '**met**' : '**not met**'} (p50 ${fmt(pct(cli.xs, 50))} ms); the daemon's answer alone (HTTP, max): ${api && Math.max(...api.xs) < 150 ? '**met**' : '**not met**'}.`,
      '',
    );
    L.push(
      `How: a second daemon (127.0.0.64, \`-log-max-size ${O.maxMb * 1024 * 1024}\`) ran one real short job (\`web\` type); the daemon was stopped, ${O.historyMb} MB of history for that job's app was appended with \`LogStore.write\` (maxBytes ${O.maxMb} MB, so one rotated file plus the current one), and the daemon restarted on the same state and log dir. Times: \`LogStore.tail(app, 10000, {jobId, streams: [ID1, ID2]})\` in the bench process with a new LogStore per run (the files are in the page cache after the first run; nothing else is cached); \`GET /host/jobs/:id/log?lines=10000\` from the bench with \`fetch\`, whole body read; the CLI as a new \`node\` process (\`spawnSync\`, DISCOVERD set), which includes Node's start-up, the CLI's discoverd lookup of the host and printing 10,000 lines. The minor job never ran on the daemon, so it is measured through LogStore.tail only.${process.env.NODE_EXTRA_CA_CERTS ? " This machine's environment sets `NODE_EXTRA_CA_CERTS` (the system CA bundle), which makes every Node process parse it at start-up, before any of our code runs (+~50 ms); the CLI speaks plain HTTP and never uses it, so the goal's row runs the CLI without it, and the rows marked with it show the machine as it is." : ''}`,
      '',
    );
  }
  return L.join('\n');
}

process.on('SIGINT', () => {
  cleanup().finally(() => process.exit(130));
});
try {
  await main();
  await cleanup();
} catch (err) {
  console.error(err);
  await cleanup();
  process.exitCode = 1;
}

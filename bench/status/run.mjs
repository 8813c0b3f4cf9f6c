// bench/status — issue 6 "Speed": 1,000 requests/s from non-private client addresses with the key,
// p99 under 10 ms, compared with the static /livez of the same service; and the status process's
// CPU. Plain Node ESM, run after `npm run build` (`npm run bench:status`).
//
// A real cluster on 127.0.0.71–75 (discoverd, a router with PROXY protocol on, a logaggregator, a
// flynn-host daemon, the status process), so every check round is the real one. The client sends
// through the router: each keep-alive connection opens with a PROXY v1 line naming a public source
// in 198.18.0.0/15, so the status sees a non-private client and needs the key. The load is
// open-loop: requests are scheduled at a fixed rate and latency is measured from the scheduled
// time, so a stall is not hidden by the client waiting (no coordinated omission). Every process
// started here is killed by pid at the end, also on failure; data goes to a temp dir.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { STATUS_CLUSTER_IPS, STATUS_DOMAIN, StatusCluster } from '@flynn-edge/e2e';
import { waitFor } from '@flynn-edge/process-kit';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
function opt(name, def) {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = argv[i + 1];
  return typeof def === 'number' ? Number(v) : v;
}
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(`usage: node bench/status/run.mjs [options]
  --rate 1000        requests/s of each paced run
  --duration 10      measured seconds of each scenario (in alternating slices)
  --warmup 2         seconds of load before measuring (each scenario)
  --connections 32   keep-alive connections of the client
  --cache-ttl 1s     the status's -cache-ttl
  --slice 0.1        seconds of each alternating slice (keep it well under a quarter of the status
                     cache TTL, or slice switches find the cache expired and wait for a round)
  --base 24900       first port (24900–24920 are used)
  --out bench/results/status.md   the report (- for stdout only)
  --keep             keep the temp dir`);
  process.exit(0);
}
const O = {
  rate: opt('rate', 1000),
  duration: opt('duration', 10),
  warmup: opt('warmup', 2),
  connections: opt('connections', 32),
  slice: opt('slice', 0.1),
  cacheTtl: opt('cache-ttl', '1s'),
  base: opt('base', 24_900),
  out: opt('out', join(ROOT, 'bench/results/status.md')),
  keep: argv.includes('--keep'),
};

const KEY = 'bench-status-key';
const DOMAIN = STATUS_DOMAIN;
const { router: ROUTER_IP, status: STATUS_IP } = STATUS_CLUSTER_IPS;
const dir = mkdtempSync(join(tmpdir(), 'bench-status-'));

// ---------------------------------------------------------------- cluster
const cluster = new StatusCluster({
  base: O.base,
  dir,
  authKey: KEY,
  routerWorkers: 1,
  statusArgs: ['-cache-ttl', O.cacheTtl],
  statusEnv: { LOG_LEVEL: 'warn' },
});
const { status } = cluster;
const procs = cluster.procs;

async function cleanup() {
  await Promise.allSettled(procs.map((p) => p.close()));
  if (!O.keep) rmSync(dir, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => cleanup().then(() => process.exit(130)));

// ---------------------------------------------------------------- client
/** An agent whose every new connection first sends a PROXY v1 line naming a public source. */
class ProxyAgent extends http.Agent {
  n = 0;
  createConnection(options, cb) {
    const i = this.n++;
    const src = `198.18.${(i >> 8) & 255}.${i & 255 || 1}`;
    const sock = connect({ host: options.host, port: options.port });
    sock.write(`PROXY TCP4 ${src} ${ROUTER_IP} ${40_000 + (i % 20_000)} ${options.port}\r\n`);
    if (cb) sock.once('connect', () => cb(null, sock));
    return sock;
  }
}

function get(agent, target, headers) {
  return new Promise((resolve) => {
    const req = http.request(
      { agent, host: target.host, port: target.port, path: target.path, headers, timeout: 5000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
        res.on('error', () => resolve(0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}

function cpuSeconds(pid) {
  // /proc/<pid>/stat fields 14 and 15: utime and stime in clock ticks (100 per second here).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function pct(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** One scenario's accumulated measurements. */
function scenario(name, agent, target, headers) {
  return { name, agent, target, headers, lat: [], codes: new Map(), cpu: 0, wall: 0 };
}

/** Open-loop paced load for `seconds` at O.rate; when `measured`, adds latency, codes and CPU to `sc`. */
async function slice(sc, seconds, measured) {
  const total = Math.round(O.rate * seconds);
  const interval = 1000 / O.rate;
  const cpu0 = cpuSeconds(status.proc.pid);
  const start = performance.now();
  const pending = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    // Late: count from the scheduled time (no coordinated omission); early (timer slack): from now.
    const from = Math.min(due, performance.now());
    pending.push(
      get(sc.agent, sc.target, sc.headers).then((code) => {
        if (!measured) return;
        sc.lat.push(performance.now() - from);
        sc.codes.set(code, (sc.codes.get(code) ?? 0) + 1);
      }),
    );
  }
  await Promise.all(pending);
  if (measured) {
    sc.wall += (performance.now() - start) / 1000;
    sc.cpu += cpuSeconds(status.proc.pid) - cpu0;
  }
}

/**
 * The scenarios of a pair alternate in short slices (after a warm-up of each), so both see the
 * same background load on a shared machine. Slices stay much shorter than the status's refresh
 * window (the last quarter of the TTL): under steady traffic the cache never expires, and the
 * bench measures that.
 */
async function interleaved(pair) {
  for (const sc of pair) await slice(sc, O.warmup, false);
  const slices = Math.round(O.duration / O.slice);
  for (let s = 0; s < slices; s++) for (const sc of pair) await slice(sc, O.slice, true);
  return pair.map((sc) => {
    const lat = sc.lat.sort((a, b) => a - b);
    const n = lat.length;
    return {
      name: sc.name,
      n,
      achieved: n / sc.wall,
      p50: pct(lat, 50),
      p90: pct(lat, 90),
      p99: pct(lat, 99),
      max: lat[n - 1],
      codes: Object.fromEntries(sc.codes),
      cpuPct: (sc.cpu / sc.wall) * 100,
      cpuUsPerReq: (sc.cpu * 1e6) / n,
    };
  });
}

// ---------------------------------------------------------------- run
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');
try {
  await cluster.start();
  await waitFor(async () => (await fetch(`${status.url}/`)).status === 200, {
    timeoutMs: 20_000,
    what: 'a healthy cluster',
  });

  const viaRouter = new ProxyAgent({ keepAlive: true, maxSockets: O.connections });
  const direct = new http.Agent({ keepAlive: true, maxSockets: O.connections });
  const routed = (path) => ({ host: ROUTER_IP, port: cluster.httpPort, path });
  const straight = (path) => ({ host: STATUS_IP, port: status.opts.port, path });
  // Sanity: without the key a public source is refused.
  const denied = await get(viaRouter, routed('/'), { host: DOMAIN });
  if (denied !== 401) throw new Error(`expected 401 without the key through the router, got ${denied}`);

  const results = [];
  const pairs = [
    [
      scenario('status via router, public source + key', viaRouter, routed(`/?key=${KEY}`), { host: DOMAIN }),
      scenario('/livez via router, public source', viaRouter, routed('/livez'), { host: DOMAIN }),
    ],
    [
      scenario('status direct, loopback (no key)', direct, straight('/'), {}),
      scenario('/livez direct, loopback', direct, straight('/livez'), {}),
    ],
  ];
  for (const pair of pairs) {
    process.stderr.write(`running: ${pair.map((p) => p.name).join(' / ')} …\n`);
    results.push(...(await interleaved(pair)));
  }
  viaRouter.destroy();
  direct.destroy();

  // How long the check rounds took meanwhile (the status's own histogram).
  const metrics = await (await fetch(`${status.url}/metrics`)).text();
  const checkRows = [];
  for (const m of metrics.matchAll(
    /^flynn_status_check_duration_seconds_sum\{component="([^"]+)"\} (\S+)$/gm,
  )) {
    const count = Number(
      new RegExp(`^flynn_status_check_duration_seconds_count\\{component="${m[1]}"\\} (\\S+)$`, 'm').exec(
        metrics,
      )?.[1],
    );
    checkRows.push(`| ${m[1]} | ${count} | ${f((Number(m[2]) / count) * 1000)} |`);
  }

  const rows = results.map(
    (x) =>
      `| ${x.name} | ${f(x.achieved, 0)} | ${x.n} | ${f(x.p50)} | ${f(x.p90)} | ${f(x.p99)} | ${f(x.max)} | ${JSON.stringify(x.codes)} | ${f(x.cpuPct, 1)} % | ${f(x.cpuUsPerReq, 0)} |`,
  );
  const cpu = cpus();
  const report = `# bench/status

Issue 6 "Speed": ${O.rate} requests/s from non-private client addresses with the key, p99 under
10 ms, compared with \`/livez\` of the same service; CPU of the status process.

- Command: \`npm run bench:status\` (\`node bench/status/run.mjs --rate ${O.rate} --duration ${O.duration} --warmup ${O.warmup} --connections ${O.connections}\`)
- Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average before the run ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}
- Date: ${new Date().toISOString()}
- Cluster: one discoverd, one router (1 worker, PROXY protocol on), a logaggregator, a flynn-host
  daemon and the status process (cache TTL 1 s, every check real), all on 127.0.0.71–75. The
  client sends through the router: each keep-alive connection starts with a PROXY v1 line naming a
  source in 198.18.0.0/15, so the status sees a public client and checks the key (\`?key=\`).
- Open-loop load: requests are scheduled at a fixed rate and latency runs from the scheduled
  time (no coordinated omission). The status and \`/livez\` runs of each pair alternate in
  ${O.slice} s slices (${O.duration} s measured each, after ${O.warmup} s of warm-up each), so both
  see the same background load.
  Latency includes the Node client and, for the routed rows, the router.
- CPU is the status process's user + system time over the measured part (/proc/<pid>/stat), as a
  share of one core and per request.

| scenario | req/s | requests | p50 ms | p90 ms | p99 ms | max ms | codes | status CPU | status CPU µs/req |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Check rounds during the whole bench (from the status's \`flynn_status_check_duration_seconds\`):

| check | rounds | mean ms |
|---|---|---|
${checkRows.join('\n')}

Target: p99 < 10 ms for the first row (${results[0].p99 < 10 ? 'met' : 'NOT met'}: ${f(results[0].p99)} ms).
`;
  process.stdout.write(report);
  if (O.out !== '-') writeFileSync(O.out, report);
} finally {
  await cleanup();
}

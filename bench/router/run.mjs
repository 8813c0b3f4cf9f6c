#!/usr/bin/env node
// Router bench (issue 4, "Speed"): our router side by side with nginx and HAProxy against one
// nginx backend, alternating runs in one process. Writes bench/results/router.md.
//
//   node bench/router/run.mjs [--only http,1mb,https,tcp,propagation,scale] [--duration 5]
//        [--rounds 2] [--workers N] [--routers 2] [--domains 10000] [--certs 1000] [--writes 100]
//        [--no-router] [--out bench/results/router.md]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateSelfSigned, generateSelfSignedAsync } from '@flynn-edge/tls';
import { startBackend, startHaproxy, startNginxProxy, startNginxStream } from './anchors.mjs';
import {
  cpuDelta,
  cpuSnapshot,
  freePort,
  freeRange,
  machine,
  median,
  pinTree,
  rssBytes,
  startProcess,
  stopProcess,
  tcpReady,
  waitFor,
  wrk,
} from './lib.mjs';
import {
  addRoute,
  probeHost,
  rawProber,
  registerBackend,
  request,
  routerAvailable,
  startDiscoverd,
  startRouter,
} from './router.mjs';
import { tcpThroughput } from './tcp-client.mjs';

const SCENARIOS = ['http', '1mb', 'https', 'tcp', 'propagation', 'scale'];
const { values: opt } = parseArgs({
  options: {
    only: { type: 'string' },
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    // One worker: with the proxy pinned to one CPU, it is compared with nginx's 1 worker and
    // HAProxy's 1 thread ("the same number of workers"); more workers on one CPU only add switches.
    workers: { type: 'string', default: '1' },
    routers: { type: 'string', default: '2' },
    domains: { type: 'string', default: '10000' },
    certs: { type: 'string', default: '1000' },
    writes: { type: 'string', default: '100' },
    'no-router': { type: 'boolean', default: false },
    // Each proxy under test on CPU 0; the bench, wrk, the backend and discoverd on the last CPU.
    'no-pin': { type: 'boolean', default: false },
    out: { type: 'string', default: new URL('../results/router.md', import.meta.url).pathname },
  },
});
const only = new Set(opt.only ? opt.only.split(',') : SCENARIOS);
for (const s of only)
  if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (have ${SCENARIOS})`);
const cfg = {
  duration: Number(opt.duration),
  rounds: Number(opt.rounds),
  workers: Number(opt.workers),
  routers: Number(opt.routers),
  domains: Number(opt.domains),
  certs: Number(opt.certs),
  writes: Number(opt.writes),
};
const withRouter = !opt['no-router'] && routerAvailable();
// Unpinned, the figures swing by ±20 % with where the scheduler puts the proxy, wrk and the
// backend on 2 cores; pinned, repeated runs agree within a few percent.
const pinned =
  !opt['no-pin'] && os.cpus().length >= 2 && spawnSync('sh', ['-c', 'command -v taskset']).status === 0;
const loadCpu = String(os.cpus().length - 1);
if (pinned) pinTree(process.pid, loadCpu);
const log = (...a) => console.error(`[bench:router ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---- anchors from Debian ----------------------------------------------------------------------
function ensureAnchors() {
  const need = [];
  const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  if (!has('nginx')) need.push('nginx');
  if (spawnSync('sh', ['-c', 'test -f /usr/lib/nginx/modules/ngx_stream_module.so']).status !== 0) {
    need.push('libnginx-mod-stream');
  }
  if (!has('haproxy')) need.push('haproxy');
  if (!has('wrk')) need.push('wrk');
  if (need.length === 0) return;
  log('installing', need.join(' '));
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const r = spawnSync('apt-get', ['install', '-y', ...need], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    const again = spawnSync('apt-get', ['install', '-y', ...need], { stdio: 'inherit', env });
    if (again.status !== 0) throw new Error(`apt-get install ${need.join(' ')} failed`);
  }
}

// ---- set-up -------------------------------------------------------------------------------------
ensureAnchors();
const dir = mkdtempSync(join(os.tmpdir(), 'bench-router-'));
const stops = [];
const started = Date.now();
const loadAtStart = os
  .loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');

const backendPort = await freePort();
const backend = await startBackend(dir, backendPort);
stops.push(() => stopProcess(backend));
const backendAddr = `127.0.0.1:${backendPort}`;
log('backend nginx on', backendAddr);

const tls = generateSelfSigned({ names: ['127.0.0.1', 'bench.test'] });
const candidates = [];

if (withRouter) {
  const dv = await startDiscoverd(dir);
  stops.push(() => stopProcess(dv.proc));
  await registerBackend(dv.url, 'bench-backend', backendAddr);
  const routers = [];
  // Every router gets the same TCP range on its own loopback address, as on separate hosts: the
  // TCP route then exists on each of them without two routers fighting over one port.
  const tcpStart = await freeRange(4);
  for (let i = 0; i < Math.max(1, cfg.routers); i++) {
    const r = await startRouter({
      discoverdUrl: dv.url,
      workers: cfg.workers,
      name: `router-${i}`,
      tcpIp: `127.0.0.${i + 1}`,
      tcpStart,
    });
    stops.push(() => stopProcess(r.proc));
    routers.push(r);
  }
  const [r0] = routers;
  await addRoute(r0.api, { type: 'http', service: 'bench-backend', domain: 'bench.test' });
  // wrk sends the URL's host as SNI, and a router refuses a handshake for a name without a route.
  await addRoute(r0.api, { type: 'http', service: 'bench-backend', domain: '127.0.0.1' });
  await addRoute(r0.api, { type: 'tcp', service: 'bench-backend', port: tcpStart });
  for (const r of routers) {
    await waitFor(async () => (await probeHost(r.httpPort, 'bench.test')) === 200, {
      what: `${r.name} serving bench.test`,
      timeoutMs: 30_000,
    });
  }
  await waitFor(() => tcpReady(r0.tcpStart), { what: 'router TCP route' });
  candidates.push({
    name: `router (${cfg.workers}w)`,
    kind: 'router',
    pids: [r0.pid],
    http: `http://127.0.0.1:${r0.httpPort}/`,
    https: `https://127.0.0.1:${r0.httpsPort}/`,
    tcp: r0.tcpStart,
    cmd: r0.cmd,
  });
  candidates.routers = routers;
  candidates.discoverd = dv;
} else {
  log(opt['no-router'] ? 'router skipped (--no-router)' : 'apps/router is not built: anchors only');
}

const ports = {};
for (const k of ['n1', 'n1s', 'nN', 'nNs', 'hp', 'hps', 'hpt', 'st1', 'stN', 'pipe'])
  ports[k] = await freePort();
const n1 = await startNginxProxy(dir, {
  name: 'nginx-1',
  workers: 1,
  port: ports.n1,
  tlsPort: ports.n1s,
  backendPort,
  cert: tls.certPem,
  key: tls.keyPem,
});
stops.push(() => stopProcess(n1));
candidates.push({
  name: 'nginx (1w)',
  kind: 'nginx1',
  pids: [n1.pid],
  http: `http://127.0.0.1:${ports.n1}/`,
  https: `https://127.0.0.1:${ports.n1s}/`,
});
if (cfg.workers > 1) {
  const nN = await startNginxProxy(dir, {
    name: 'nginx-N',
    workers: cfg.workers,
    port: ports.nN,
    tlsPort: ports.nNs,
    backendPort,
    cert: tls.certPem,
    key: tls.keyPem,
  });
  stops.push(() => stopProcess(nN));
  candidates.push({
    name: `nginx (${cfg.workers}w)`,
    kind: 'nginxN',
    pids: [nN.pid],
    http: `http://127.0.0.1:${ports.nN}/`,
    https: `https://127.0.0.1:${ports.nNs}/`,
  });
}
const hp = await startHaproxy(dir, {
  port: ports.hp,
  tlsPort: ports.hps,
  tcpPort: ports.hpt,
  backendPort,
  cert: tls.certPem,
  key: tls.keyPem,
});
stops.push(() => stopProcess(hp));
candidates.push({
  name: 'HAProxy (1t)',
  kind: 'haproxy',
  pids: [hp.pid],
  http: `http://127.0.0.1:${ports.hp}/`,
  https: `https://127.0.0.1:${ports.hps}/`,
  tcp: ports.hpt,
});
const st1 = await startNginxStream(dir, { port: ports.st1, backendPort, workers: 1 });
stops.push(() => stopProcess(st1));
candidates.push({ name: 'nginx stream (1w)', kind: 'stream1', pids: [st1.pid], tcp: ports.st1 });
let stN;
if (cfg.workers > 1) {
  ports.stN2 = await freePort();
  stN = await startNginxStream(dir, { port: ports.stN2, backendPort, workers: cfg.workers });
  stops.push(() => stopProcess(stN));
  candidates.push({
    name: `nginx stream (${cfg.workers}w)`,
    kind: 'streamN',
    pids: [stN.pid],
    tcp: ports.stN2,
  });
}
const pipeScript = new URL('./node-pipe.mjs', import.meta.url).pathname;
const pipe = startProcess(process.execPath, [pipeScript, String(ports.pipe), backendAddr]);
stops.push(() => stopProcess(pipe));
await waitFor(() => tcpReady(ports.pipe), { what: 'node pipe' });
candidates.push({
  name: 'Node net pipe (router-tcp, 1 proc)',
  kind: 'pipe',
  pids: [pipe.pid],
  http: `http://127.0.0.1:${ports.pipe}/`,
  tcp: ports.pipe,
});
const httpProxyScript = new URL('./http-proxy.mjs', import.meta.url).pathname;
ports.httpProxy = await freePort();
const hpx = startProcess(process.execPath, [httpProxyScript, String(ports.httpProxy), backendAddr]);
stops.push(() => stopProcess(hpx));
await waitFor(() => tcpReady(ports.httpProxy), { what: 'http-proxy' });
candidates.push({
  name: 'http-proxy 1.18 (keep-alive agent, 1 proc)',
  kind: 'httpproxy',
  pids: [hpx.pid],
  http: `http://127.0.0.1:${ports.httpProxy}/`,
});
candidates.push({
  name: 'backend direct (no proxy)',
  kind: 'direct',
  pids: [],
  http: `http://127.0.0.1:${backendPort}/`,
  tcp: backendPort,
});

if (pinned) for (const c of candidates) for (const pid of c.pids) pinTree(pid, '0');

// ---- measurement --------------------------------------------------------------------------------
async function measure(cand, run) {
  const before = cpuSnapshot(cand.pids);
  const r = await run();
  const cpu = cpuDelta(before, cpuSnapshot(cand.pids));
  return { ...r, cpu, rss: rssBytes(cand.pids) };
}

/** Rounds of every candidate in turn (router and anchors alternate); the median round by rate. */
async function rounds(label, list, run, rateKey) {
  const results = new Map(list.map((c) => [c, []]));
  for (let i = 0; i < cfg.rounds; i++) {
    for (const c of i % 2 ? [...list].reverse() : list) {
      const r = await measure(c, () => run(c));
      results.get(c).push(r);
      log(
        `${label} round ${i + 1} ${c.name}: ${r[rateKey].toFixed(0)} ${rateKey}, cpu ${r.cpu.toFixed(2)} s`,
      );
    }
  }
  return list.map((c) => {
    const rs = results.get(c);
    const mid = median(rs.map((r) => r[rateKey]));
    return { cand: c, ...rs.find((r) => r[rateKey] === mid) };
  });
}

const report = { scenarios: [], notes: [] };

async function wrkScenario(id, title, { pathSuffix = '', connections = 50, headers = [], tlsOn = false }) {
  const list = candidates.filter((c) => (tlsOn ? c.https : c.http));
  for (const c of list) {
    await wrk({ url: (tlsOn ? c.https : c.http) + pathSuffix, connections, seconds: 1, headers }); // warm-up
  }
  const rows = await rounds(
    id,
    list,
    async (c) => {
      const r = await wrk({
        url: (tlsOn ? c.https : c.http) + pathSuffix,
        connections,
        seconds: cfg.duration,
        headers,
      });
      if (r.non2xx || r.socketErrors)
        log(`${id} ${c.name}: ${r.non2xx} non-2xx, ${r.socketErrors} socket errors`);
      return r;
    },
    'rps',
  );
  for (const r of rows) r.cpuPerReq = r.requests && r.cand.pids.length ? (r.cpu * 1e6) / r.requests : null;
  report.scenarios.push({ id, title, kind: 'wrk', rows, cmd: rows[0]?.cmd });
}

async function tcpScenario() {
  const list = candidates.filter((c) => c.tcp);
  for (const c of list) await tcpThroughput({ port: c.tcp, seconds: 0.5 });
  const rows = await rounds(
    'tcp',
    list,
    (c) => tcpThroughput({ port: c.tcp, seconds: cfg.duration }),
    'mbps',
  );
  for (const r of rows)
    r.cpuPerMB = r.bytes && r.cand.pids.length ? (r.cpu * 1e6) / (r.bytes / 2 ** 20) : null;
  report.scenarios.push({
    id: 'tcp',
    title: 'TCP route: 4 streams of GET /64mb over raw sockets (Node client), MB/s',
    kind: 'tcp',
    rows,
  });
}

/** API write on one router → every router serves the new domain; ms per write. */
async function propagation(label) {
  const routers = candidates.routers;
  const times = [];
  const acks = [];
  const afterAck = [];
  const tag = Date.now().toString(36);
  const probers = new Map(routers.map((r) => [r, rawProber(r.httpPort)]));
  for (let i = 0; i < cfg.writes; i++) {
    const domain = `prop-${tag}-${i}.test`;
    const api = routers[i % routers.length].api;
    const t0 = performance.now();
    const write = addRoute(api, { type: 'http', service: 'bench-backend', domain });
    // Probes 1 ms apart: back to back, they kept both CPUs busy and slowed the very write
    // they were timing (the store commit runs in discoverd on the same 2 cores).
    const served = routers.map(async (r) => {
      for (;;) {
        if ((await probers.get(r)(domain)) === 200) return performance.now();
        if (performance.now() - t0 > 10_000) throw new Error(`${r.name}: ${domain} not served after 10 s`);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    });
    await write;
    const ack = performance.now();
    acks.push(ack - t0);
    const done = Math.max(...(await Promise.all(served)));
    times.push(done - t0);
    afterAck.push(Math.max(0, done - ack));
  }
  for (const p of probers.values()) p.close();
  times.sort((a, b) => a - b);
  acks.sort((a, b) => a - b);
  afterAck.sort((a, b) => a - b);
  const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
  const res = {
    label,
    n: times.length,
    p50: q(times, 50),
    p99: q(times, 99),
    max: times.at(-1),
    ackP50: q(acks, 50),
    ackP99: q(acks, 99),
    lagP50: q(afterAck, 50),
    lagP99: q(afterAck, 99),
    routers: routers.length,
  };
  log(`propagation (${label}): p50 ${res.p50.toFixed(1)} ms, p99 ${res.p99.toFixed(1)} ms`);
  report.propagation = [...(report.propagation ?? []), res];
}

async function loadScale() {
  const [r0] = candidates.routers;
  const rssBefore = rssBytes([r0.pid]);
  const t0 = performance.now();
  const tasks = [];
  for (let i = 0; i < cfg.domains; i++) tasks.push(i);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      const domain = `d${i}.scale.test`;
      const route = { type: 'http', service: 'bench-backend', domain };
      if (i < cfg.certs) {
        const pair = await generateSelfSignedAsync({ names: [domain] });
        route.certificate = { cert: pair.certPem, key: pair.keyPem };
      }
      await addRoute(r0.api, route);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const loadMs = performance.now() - t0;
  const last = `d${cfg.domains - 1}.scale.test`;
  await waitFor(async () => (await probeHost(r0.httpPort, last)) === 200, { what: 'scale routes served' });
  const rssAfter = rssBytes([r0.pid]);
  const listed = await request('GET', `${r0.api}/routes`);
  report.scale = {
    domains: cfg.domains,
    certs: cfg.certs,
    loadMs,
    rssBefore,
    rssAfter,
    listStatus: listed.status,
  };
  log(`scale: ${cfg.domains} routes + ${cfg.certs} certs in ${(loadMs / 1000).toFixed(1)} s`);
}

/** Runs one scenario; a failure is reported in the results instead of ending the run. */
async function scenario(name, fn) {
  try {
    await fn();
  } catch (err) {
    log(`${name} failed:`, err.stack ?? err);
    report.notes.push(`Scenario **${name}** failed: ${String(err.message ?? err).slice(0, 400)}`);
  }
}

try {
  if (only.has('http')) {
    await scenario('http', () =>
      wrkScenario('http', 'HTTP keep-alive GET, 2-byte body (wrk -t2 -c50)', {
        headers: ['Host: bench.test'],
      }),
    );
  }
  if (only.has('1mb')) {
    await scenario('1mb', () =>
      wrkScenario('1mb', '1 MB response (wrk -t2 -c10)', {
        pathSuffix: '1mb',
        connections: 10,
        headers: ['Host: bench.test'],
      }),
    );
  }
  if (only.has('https')) {
    await scenario('https', () =>
      wrkScenario('https', 'HTTPS, a new TLS handshake per request (wrk -t2 -c50, Connection: close)', {
        headers: ['Connection: close'],
        tlsOn: true,
      }),
    );
  }
  if (only.has('tcp')) await scenario('tcp', tcpScenario);
  if (withRouter && only.has('propagation')) await scenario('propagation', () => propagation('small table'));
  if (withRouter && only.has('scale')) {
    await scenario('scale', async () => {
      await loadScale();
      const saved = candidates.splice(0);
      candidates.push(...saved.filter((c) => ['router', 'nginx1', 'nginxN'].includes(c.kind)));
      try {
        await wrkScenario(
          'scale',
          `HTTP keep-alive GET after loading ${cfg.domains} domains + ${cfg.certs} certificates`,
          { headers: ['Host: bench.test'] },
        );
      } finally {
        candidates.splice(0, candidates.length, ...saved);
      }
    });
    if (only.has('propagation') && report.scale) {
      await scenario('propagation (large table)', () => propagation(`${cfg.domains} domains loaded`));
    }
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}

// ---- report -------------------------------------------------------------------------------------
const m = machine();
const argsLine = process.argv.slice(2).join(' ');
const f0 = (v) => (v == null ? '—' : v.toFixed(0));
const f1 = (v) => (v == null ? '—' : v.toFixed(1));
const f2 = (v) => (v == null ? '—' : v.toFixed(2));
const mib = (b) => (b ? (b / 2 ** 20).toFixed(0) : '—');
const ratio = (a, b) => (a != null && b ? `${(a / b).toFixed(2)}×` : '—');
const find = (rows, kind) => rows.find((r) => r.cand.kind === kind);

let md = `# Router bench (issue 4, "Speed")

Generated by \`bench/router/run.mjs\` on ${new Date().toISOString()} (${((Date.now() - started) / 1000).toFixed(0)} s).

- Command: \`npm run bench:router${argsLine ? ` -- ${argsLine}` : ''}\` (= \`node bench/router/run.mjs${argsLine ? ` ${argsLine}` : ''}\`)
- Machine: ${m.cpu}, ${m.cores} cores, load average ${loadAtStart} at the start and ${m.load} at the end, Node ${m.node}, kernel ${m.kernel}
- Anchors: ${m.nginx}; ${m.haproxy}; ${m.wrk}
- Backend: one nginx worker (no master) on loopback, \`GET /\` → \`ok\`, static \`/1mb\` and \`/64mb\`.
- Proxies: nginx with \`keepalive 128\` upstream, \`proxy_http_version 1.1\`; HAProxy \`nbthread 1\`,
  \`http-reuse always\`; nginx \`stream\` for TCP; the router with \`-workers ${cfg.workers}\`${withRouter ? '' : ' (**not run: apps/router was not built**)'}.
- ${cfg.rounds} rounds of ${cfg.duration} s per candidate, candidates alternating (order reversed every other
  round); the row shown is the median round by rate. CPU is utime+stime from /proc over the run, summed
  over the proxy's whole process tree (nginx master + workers, router primary + workers); RSS at the end.
- CPUs: ${pinned ? `each proxy under test pinned to CPU 0 (taskset, workers included); the bench, wrk, the backend and discoverd on CPU ${loadCpu}` : 'not pinned (--no-pin)'}.
- HTTPS: wrk over https with \`Connection: close\`, so every request is a new TCP connection and a full
  TLS handshake (wrk keeps no session; nginx and HAProxy have session caches and tickets off).

`;

for (const s of report.scenarios) {
  const rateHead = s.kind === 'tcp' ? 'MB/s' : 'req/s';
  const cpuHead = s.kind === 'tcp' ? 'CPU µs/MB' : 'CPU µs/req';
  const rate = (r) => (s.kind === 'tcp' ? r.mbps : r.rps);
  const cpuOf = (r) => (s.kind === 'tcp' ? r.cpuPerMB : r.cpuPerReq);
  const ng1 = find(s.rows, s.kind === 'tcp' ? 'stream1' : 'nginx1');
  const ngN = find(s.rows, s.kind === 'tcp' ? 'streamN' : 'nginxN');
  const ha = find(s.rows, 'haproxy');
  md += `## ${s.title}\n\n`;
  if (s.cmd) md += `\`${s.cmd.replace(/http\S+/, 'URL')}\`\n\n`;
  md += `| proxy | ${rateHead} | p50 ms | p99 ms | ${cpuHead} | RSS MiB | rate vs nginx 1w | rate vs nginx ${cfg.workers}w | rate vs HAProxy | CPU vs nginx 1w | errors |\n`;
  md += '|---|---|---|---|---|---|---|---|---|---|---|\n';
  for (const r of s.rows) {
    const errs = s.kind === 'tcp' ? r.errors : r.non2xx + r.socketErrors;
    md += `| ${r.cand.name} | ${f0(rate(r))} | ${f2(r.p50)} | ${f2(r.p99)} | ${f1(cpuOf(r))} | ${mib(r.rss)} | ${ratio(rate(r), ng1 && rate(ng1))} | ${ratio(rate(r), ngN && rate(ngN))} | ${ratio(rate(r), ha && rate(ha))} | ${ratio(cpuOf(r), ng1 && cpuOf(ng1))} | ${errs} |\n`;
  }
  md += '\n';
}

if (report.scale) {
  const sc = report.scale;
  md += `## Route-table scale\n\n${sc.domains} HTTP routes (${sc.certs} with their own self-signed certificate) loaded through the API in ${(sc.loadMs / 1000).toFixed(1)} s; router RSS (all processes) ${mib(sc.rssBefore)} MiB before, ${mib(sc.rssAfter)} MiB after.\n\n`;
}
if (report.propagation) {
  md += `## Route propagation\n\nAPI write (POST /routes, alternating between routers) until every router answers 200 for the new Host.\n\n| table | routers | writes | p50 ms | p99 ms | max ms | API answer p50 / p99 ms | served after the answer p50 / p99 ms |\n|---|---|---|---|---|---|---|---|\n`;
  for (const p of report.propagation) {
    md += `| ${p.label} | ${p.routers} | ${p.n} | ${f1(p.p50)} | ${f1(p.p99)} | ${f1(p.max)} | ${f1(p.ackP50)} / ${f1(p.ackP99)} | ${f1(p.lagP50)} / ${f1(p.lagP99)} |\n`;
  }
  md +=
    '\nThe clock starts when the POST is sent; each router is polled every ~1 ms (a keep-alive GET with the new Host on a raw socket, cheaper for the bench than node:http) until it answers 200, so the figures carry about 1 ms of polling resolution. "API answer" is when the POST itself returned.\n';
  md += '\n';
}

if (report.notes.length) md += `## Notes\n\n${report.notes.map((n) => `- ${n}`).join('\n')}\n\n`;

// Goals from issue 4.
const goals = [];
const http = report.scenarios.find((s) => s.id === 'http');
const rt = http && find(http.rows, 'router');
if (rt) {
  const ng1 = find(http.rows, 'nginx1');
  const ngN = find(http.rows, 'nginxN') ?? ng1;
  const c = rt.cpuPerReq / ng1.cpuPerReq;
  goals.push(['HTTP: router CPU per request ≤ 1.8× nginx (1 worker)', `${c.toFixed(2)}×`, c <= 1.8]);
  const q = rt.rps / ngN.rps;
  goals.push([
    `HTTP: req/s ≥ 0.55× nginx with the same workers (${cfg.workers})`,
    `${q.toFixed(2)}×`,
    q >= 0.55,
  ]);
  // p99 is the noisiest figure on a shared machine: compare with the better of the two nginx runs.
  const best = Math.min(ng1.p99, ngN.p99);
  const p = rt.p99 / best;
  goals.push(['HTTP: p99 within 2× nginx (the lower of nginx 1w / Nw p99)', `${p.toFixed(2)}×`, p <= 2]);
}
const tcp = report.scenarios.find((s) => s.id === 'tcp');
const rtt = tcp && find(tcp.rows, 'router');
if (rtt) {
  const st = find(tcp.rows, 'streamN') ?? find(tcp.rows, 'stream1');
  const q = rtt.mbps / st.mbps;
  goals.push([`TCP: ≥ 0.85× nginx stream throughput (${st.cand.name})`, `${q.toFixed(2)}×`, q >= 0.85]);
}
for (const p of report.propagation ?? []) {
  goals.push([
    `Propagation p99 ≤ 20 ms (${p.label}, ${p.routers} routers)`,
    `${p.p99.toFixed(1)} ms`,
    p.p99 <= 20,
  ]);
}
md += '## Goals (issue 4)\n\n';
if (goals.length === 0) md += 'Not evaluated in this run (the router did not run).\n';
else {
  md += '| goal | measured | |\n|---|---|---|\n';
  for (const [g, v, ok] of goals) md += `| ${g} | ${v} | ${ok ? 'met' : '**not met**'} |\n`;
}
writeFileSync(opt.out, md);
log('wrote', opt.out);
process.exit(0);

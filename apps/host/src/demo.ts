import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDemo, waitFor } from '@flynn-edge/testkit';
import { zfsReachable } from '@flynn-edge/zfs';
import { localHostDaemon } from './local-host.js';

// `npm start`: the most complete local cluster so far, run the way Flynn runs one. Three
// flynn-host daemons on 127.0.0.1-3, and every other component is a job of theirs:
// discoverd on each host, a router and a logaggregator on host 1, and a demo app of two web
// jobs (health-checked before they are registered), routed at demo.localhost. Volumes are off
// (they need root and zfs-fuse). Ctrl-C stops the jobs, then the daemons.

const env = process.env;
const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
const discoverdPort = Number(env.DEMO_PORT ?? 1111);
const dnsPort = Number(env.DEMO_DNS_PORT ?? 5353);
const hostPort = Number(env.DEMO_HOST_PORT ?? 1113);
const httpPort = Number(env.DEMO_HTTP_PORT ?? 8080);
const httpsPort = Number(env.DEMO_HTTPS_PORT ?? 8443);
const apiPort = Number(env.DEMO_API_PORT ?? 5000);
const dir = mkdtempSync(join(tmpdir(), 'flynn-edge-demo-'));
const say = (msg = '') => process.stdout.write(`${msg}\n`);
const bin = (rel: string) => fileURLToPath(new URL(`../../${rel}`, import.meta.url));
const DISCOVERD = HOSTS.map((h) => `${h}:${discoverdPort}`).join(',');

// Volumes when ZFS answers (root and zfs-fuse, e.g. after .ci/zfs-setup.sh), one pool per host on
// a sparse file in the demo's directory; otherwise the daemons run with -no-volumes.
const zfs = await zfsReachable();
const poolOf = (i: number) => `demo${process.pid}-host${i + 1}`;

const daemons = HOSTS.map((ip, i) =>
  localHostDaemon({
    n: i + 1,
    ip,
    apiPort: hostPort,
    dir,
    jobPorts: { start: 20_000 + i * 1000, end: 20_999 + i * 1000 },
    pool: zfs ? poolOf(i) : undefined,
    env: { DISCOVERD },
    detached: true,
  }),
);

const apps = {
  discoverd: { id: randomUUID(), name: 'discoverd' },
  router: { id: randomUUID(), name: 'router' },
  logaggregator: { id: randomUUID(), name: 'logaggregator' },
  demo: { id: randomUUID(), name: 'demo' },
};

async function hostApi(i: number, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await fetch(`http://${HOSTS[i]}:${hostPort}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path} on host ${i + 1}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

function runJob(i: number, spec: Record<string, unknown>): Promise<{ id: string }> {
  return hostApi(i, 'POST', '/host/jobs', { restart: 'on-failure', ...spec }) as Promise<{ id: string }>;
}

/** GET / through the router with a Host header (fetch cannot set Host). */
function statusThroughRouter(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpGet(
      { host: HOSTS[0], port: httpPort, path: '/', headers: { host }, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// The demo app: answers with its job id, and logs every request (so `flynn -a demo log` shows them).
const DEMO_APP = `
const http = require('node:http');
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  console.log(req.method + ' ' + req.url + ' via ' + (req.headers['flynn-router-host'] || 'direct'));
  res.end('hello from ' + process.env.FLYNN_JOB_ID + '\\n');
}).listen(process.env.PORT, process.env.EXTERNAL_IP, () => console.log('listening on ' + process.env.PORT));
`;

async function main(): Promise<void> {
  say('flynn-edge demo: three flynn-host daemons on 127.0.0.1-3; everything else runs as their jobs');
  say(`state, logs and daemon output in ${dir}\n`);
  for (const d of daemons) d.start();
  await waitFor(
    async () => {
      for (let i = 0; i < HOSTS.length; i++) await hostApi(i, 'GET', '/host/status');
      return true;
    },
    { timeoutMs: 30_000, what: 'the host daemons' },
  );
  say(`1. flynn-host daemons serving on ${HOSTS.map((h) => `${h}:${hostPort}`).join(', ')}`);
  say(
    zfs
      ? `   volumes: one ZFS pool per host (${poolOf(0)}, …) on sparse files in ${dir}`
      : '   volumes: disabled (they need root and zfs-fuse: apt-get install zfs-fuse && zfs-fuse)',
  );

  for (let i = 0; i < HOSTS.length; i++) {
    await runJob(i, {
      app: apps.discoverd,
      processType: 'app',
      cmd: process.execPath,
      args: [
        bin('discoverd/bin/discoverd.js'),
        '-data-dir',
        join(dir, `host${i + 1}`, 'discoverd'),
        '-host',
        HOSTS[i],
        '-addr',
        `${HOSTS[i]}:${discoverdPort}`,
        '-dns-addr',
        `${HOSTS[i]}:${dnsPort}`,
        '-peers',
        DISCOVERD,
      ],
    });
  }
  await waitFor(
    async () => {
      const r = await fetch(`http://${HOSTS[0]}:${discoverdPort}/raft/leader`, {
        signal: AbortSignal.timeout(1000),
      });
      return r.ok;
    },
    { timeoutMs: 30_000, what: 'a discoverd leader' },
  );
  say('2. discoverd: one job per host, a Raft leader elected');

  await runJob(0, {
    app: apps.router,
    processType: 'app',
    cmd: process.execPath,
    args: [
      bin('router/bin/router.js'),
      '-http-port',
      String(httpPort),
      '-https-port',
      String(httpsPort),
      '-api-port',
      String(apiPort),
      '-workers',
      '2',
      '-host-name',
      'host1',
    ],
    env: { LISTEN_IP: HOSTS[0], COOKIE_KEY: randomBytes(32).toString('base64') },
  });
  await runJob(0, {
    app: apps.logaggregator,
    processType: 'app',
    cmd: process.execPath,
    args: [
      bin('logaggregator/bin/logaggregator.js'),
      '-syslog-addr',
      `${HOSTS[0]}:1514`,
      '-api-addr',
      `${HOSTS[0]}:1114`,
    ],
  });
  const demoJobs: string[] = [];
  for (const i of [1, 2]) {
    const job = await runJob(i, {
      app: apps.demo,
      processType: 'web',
      cmd: process.execPath,
      args: ['-e', DEMO_APP],
      ports: 1,
      service: 'demo-web',
      health: { kind: 'http', port: 0, path: '/healthz' },
    });
    demoJobs.push(job.id);
  }
  await waitFor(
    async () => {
      const r = await fetch(`http://${HOSTS[0]}:${apiPort}/routes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'http', service: 'demo-web', domain: 'demo.localhost' }),
        signal: AbortSignal.timeout(2000),
      });
      return r.ok || r.status === 409;
    },
    { timeoutMs: 60_000, what: 'the router API' },
  );
  await waitFor(async () => (await statusThroughRouter('demo.localhost')) === 200, {
    timeoutMs: 30_000,
    what: 'the demo app through the router',
  });
  say('3. jobs: a router and a logaggregator on host 1, the demo app (2 web jobs) on hosts 2 and 3');
  say('4. route: http demo.localhost -> demo-web\n');

  const cli = 'node apps/cli/bin';
  say(`Try it (Ctrl-C stops the jobs and the daemons; export DISCOVERD=${DISCOVERD} for the CLI):`);
  say(`  curl -s -H 'Host: demo.localhost' http://${HOSTS[0]}:${httpPort}/`);
  say(`  curl -sk --resolve demo.localhost:${httpsPort}:${HOSTS[0]} https://demo.localhost:${httpsPort}/`);
  say(`  ${cli}/flynn-host.js ps -a                      # every job on every host`);
  say(`  ${cli}/flynn-host.js list                       # hosts and their Raft role`);
  say(`  ${cli}/flynn-host.js log -f ${demoJobs[0]}`);
  say(`  ${cli}/flynn.js -a demo log -f                 # the app's lines from the aggregator`);
  say(`  curl -s http://${HOSTS[0]}:${apiPort}/metrics | grep flynn_router_requests_total`);
  if (zfs) say(`  ${cli}/flynn-host.js volume create --host ${HOSTS[1]}:${hostPort}`);
}

async function cleanup(): Promise<void> {
  // Jobs outlive their daemon on purpose: stop them first.
  for (let i = 0; i < HOSTS.length; i++) {
    try {
      const jobs = (await hostApi(i, 'GET', '/host/jobs')) as { id: string; state: string }[];
      await Promise.all(
        jobs
          .filter((j) => j.state === 'running' || j.state === 'starting')
          .map((j) => hostApi(i, 'DELETE', `/host/jobs/${j.id}?grace=5000`).catch(() => {})),
      );
    } catch {
      // that daemon is gone already
    }
  }
  await Promise.all(daemons.map((d) => d.kill('SIGTERM')));
  await Promise.all(daemons.map((d) => d.close()));
  if (zfs) {
    for (let i = 0; i < HOSTS.length; i++) {
      spawnSync('zpool', ['destroy', '-f', poolOf(i)], { stdio: 'ignore' });
    }
  }
}

runDemo(main, cleanup, dir);

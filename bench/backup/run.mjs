// bench/backup: `flynn cluster backup` and `flynn-host bootstrap --from-backup` of a cluster store
// holding 10,000 routes, 1,000 of them with their own certificate (issue 15, scenario 5). One
// host on 127.0.0.211 is filled through the router API and backed up; a fresh host on
// 127.0.0.212 restores the file. Each command runs under GNU time (wall seconds, peak RSS).
// Writes bench/results/backup.md. Usage: npm run build && node bench/backup/run.mjs [--routes N --certs N]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { consecutivePorts, httpGet, LocalCluster } from '@flynn-edge/local-cluster';
import { nextPortBlock } from '@flynn-edge/process-kit';
import { generateSelfSigned } from '@flynn-edge/tls';
import { zfsReachable } from '@flynn-edge/zfs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : dflt);
const ROUTES = opt('routes', 10_000);
const CERTS = opt('certs', 1_000);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const FLYNN = join(REPO, 'apps/cli/bin/flynn.js');
const dir = mkdtempSync(join(tmpdir(), 'bench-backup-'));
const timeFile = join(dir, 'time.txt');
const timed = ['/usr/bin/time', '-f', '%e %M', '-o', timeFile];
const readTime = () => {
  const [s, kb] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ');
  return { seconds: Number(s), rssMb: Number(kb) / 1024 };
};
const say = (s) => process.stderr.write(`${s}\n`);

function cluster(host, extra = {}) {
  const base = nextPortBlock(10 + 40);
  mkdirSync(join(dir, host), { recursive: true });
  return new LocalCluster({
    hosts: [host],
    dir: join(dir, host),
    ports: { ...consecutivePorts(base, base + 10), jobPortsPerHost: 40 },
    domain: 'bench.flynn-edge.test',
    ...extra,
  });
}

/** POSTs the routes through the router API, `parallel` at a time. */
async function fill(c) {
  const api = `http://${c.hosts[0]}:${c.ports.routerApi}/routes`;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${c.keys.clusterKey}` };
  let next = 0;
  const one = async () => {
    for (let i = next++; i < ROUTES; i = next++) {
      const domain = `r${i}.bench.test`;
      // One service per ten routes: routes of one service share a record, so parallel creates of
      // one service would only race each other.
      const route = { type: 'http', service: `bench${i % 1000}-web`, domain };
      if (i < CERTS) {
        const pair = generateSelfSigned({ names: [domain], keyType: 'ec' });
        route.certificate = { cert: pair.certPem, key: pair.keyPem };
      }
      const r = await fetch(api, { method: 'POST', headers, body: JSON.stringify(route) });
      if (r.status !== 200 && r.status !== 201)
        throw new Error(`route ${domain}: ${r.status} ${await r.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, one));
}

const rows = [];
const a = cluster('127.0.0.211');
let backupFile;
try {
  await a.start();
  let t0 = Date.now();
  await fill(a);
  say(`filled ${ROUTES} routes (${CERTS} with certificates) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  backupFile = join(dir, 'backup.tar');
  t0 = Date.now();
  const r = spawnSync(
    timed[0],
    [...timed.slice(1), process.execPath, FLYNN, 'cluster', 'backup', '--file', backupFile, '-q'],
    {
      env: { ...process.env, DISCOVERD: a.discoverd, CLUSTER_KEY: a.keys.clusterKey },
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`backup: ${r.stderr}`);
  rows.push({ what: '`flynn cluster backup`', ...readTime(), size: statSync(backupFile).size });
} finally {
  await a.close();
}
const b = cluster('127.0.0.212', { fromBackup: backupFile, cliPrefix: timed });
try {
  await b.start();
  // The last CLI run of start() is the bootstrap: its figures are in the time file.
  rows.push({ what: '`flynn-host bootstrap --from-backup` (1 host, whole restore)', ...readTime() });
  const routes = JSON.parse(await b.flynn(['kv', 'list', 'routes/', '--json']).catch(() => '[]'));
  say(`restored store lists ${Array.isArray(routes) ? routes.length : '?'} routes/ keys`);
} finally {
  await b.close();
}

// Memory against volume size: one app whose volume holds N MB of random data, backed up for each N.
const volumeRows = [];
const SIZES = (argv.includes('--volume-mb') ? argv[argv.indexOf('--volume-mb') + 1] : '0,64,256')
  .split(',')
  .map(Number);
if (await zfsReachable()) {
  const c = cluster('127.0.0.213', { zfsPoolPrefix: `bb${process.pid}` });
  try {
    await c.start();
    const app = join(dir, 'fill-app');
    mkdirSync(app, { recursive: true });
    writeFileSync(
      join(app, 'server.js'),
      `const fs = require('node:fs');
const crypto = require('node:crypto');
require('node:http').createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const mb = Number(new URL(req.url, 'http://x').searchParams.get('mb') || 0);
  const file = require('node:path').join(process.env.DATA_DIR, 'data.bin');
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < mb; i++) fs.writeSync(fd, crypto.randomBytes(1 << 20));
  fs.fsyncSync(fd); fs.closeSync(fd);
  res.end('ok');
}).listen(process.env.PORT, process.env.EXTERNAL_IP);`,
    );
    writeFileSync(
      join(app, 'release.json'),
      JSON.stringify({
        processes: {
          web: {
            args: ['server.js'],
            ports: [
              { proto: 'tcp', service: { name: 'fill-web', check: { type: 'http', path: '/healthz' } } },
            ],
            volumes: [{ path: '/data', env: 'DATA_DIR' }],
          },
        },
      }),
    );
    spawnSync('tar', ['-czf', join(dir, 'fill.tar.gz'), '-C', app, '.']);
    await c.flynn(['create', 'fill']);
    await c.flynn(['-a', 'fill', 'release', 'add', join(dir, 'fill.tar.gz')]);
    await c.flynn(['-a', 'fill', 'scale', 'web=1']);
    for (const mb of SIZES) {
      const answer = await httpGet(`${c.routerUrl}/?mb=${mb}`, { host: `fill.${c.domain}` }, 300_000);
      if (answer.status !== 200) throw new Error(`fill ${mb} MB: ${answer.status}`);
      const file = join(dir, `vol-${mb}.tar`);
      const r = spawnSync(
        timed[0],
        [...timed.slice(1), process.execPath, FLYNN, 'cluster', 'backup', '--file', file, '-q'],
        {
          env: { ...process.env, DISCOVERD: c.discoverd, CLUSTER_KEY: c.keys.clusterKey },
          encoding: 'utf8',
        },
      );
      if (r.status !== 0) throw new Error(`backup with ${mb} MB: ${r.stderr}`);
      volumeRows.push({ mb, ...readTime(), size: statSync(file).size });
      rmSync(file);
    }
  } finally {
    await c.close();
  }
}

const machine = `${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, Node ${process.version}; load ${loadavg()
  .map((x) => x.toFixed(2))
  .join(' ')}`;
const md = `# Backup and restore of a large store

Command: \`npm run build && node bench/backup/run.mjs --routes ${ROUTES} --certs ${CERTS}\` (${new Date().toISOString().slice(0, 10)})
Machine: ${machine}

The store: ${ROUTES} HTTP routes through the router API, ${CERTS} of them with their own EC certificate
(one certificate each), plus the system apps' records. Each command ran under GNU time; the restore
row is the whole \`bootstrap --from-backup\` on one fresh host (verify, discoverd, seed, every system
app started, status healthy, verify after).

| command | wall s | peak RSS MB | file MB |
|---|---|---|---|
${rows.map((r) => `| ${r.what} | ${r.seconds.toFixed(2)} | ${r.rssMb.toFixed(0)} | ${r.size ? (r.size / 1e6).toFixed(1) : ''} |`).join('\n')}
${
  volumeRows.length === 0
    ? '\n(zfs-fuse not running: the volume-size rows were skipped.)\n'
    : `
## Memory against volume size

A one-host cluster (127.0.0.213, zfs-fuse) with one app whose volume holds N MB of random data;
\`flynn cluster backup\` of the whole cluster for each N. The volume is streamed (zfs send → gzip →
a temp file → the archive), so the peak RSS should not follow N.

| volume MB | wall s | peak RSS MB | file MB |
|---|---|---|---|
${volumeRows.map((r) => `| ${r.mb} | ${r.seconds.toFixed(2)} | ${r.rssMb.toFixed(0)} | ${(r.size / 1e6).toFixed(1)} |`).join('\n')}
`
}`;
writeFileSync(join(REPO, 'bench/results/backup.md'), md);
process.stdout.write(md);
rmSync(dir, { recursive: true, force: true });

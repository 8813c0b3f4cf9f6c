import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { StickyCodec } from '@flynn-edge/router-proxy';
import { netnsAvailable, waitFor } from '@flynn-edge/testkit';
import { generateSelfSigned } from '@flynn-edge/tls';
import { zfsReachable } from '@flynn-edge/zfs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpsCluster } from '../src/ops-cluster.js';
import { webAppTarball } from '../src/web-app.js';

// Issue 15, judged on restores: a three-host cluster (network namespaces, the installed release,
// real ports, real zfs-fuse) with a user app whose tarball artifact serves a volume holding a
// 50 MB file, routes (the default one, one with its own RSA certificate and sticky sessions, one
// TCP), and a writer appending seq/000001, seq/000002, … while `flynn cluster backup` runs. The
// backup is checked with the real tar and sha256sum, then restored onto a one-host and onto a
// five-host cluster on other addresses (CLUSTER_DOMAIN different, and ignored): every router
// answers for the old domains with the same certificate, the file's sha256 matches, the old status
// key works, a sticky cookie sealed with the old COOKIE_KEY picks its backend, status 200. Then
// export and import, and the bad inputs, each refused before anything is created.

const { available } = netnsAvailable();
const zfs = await zfsReachable();
const ready = available && zfs;
if (!ready && process.env.CI === 'true')
  throw new Error('CI=true and network namespaces or zfs-fuse are missing');

const DOMAIN = 'bk.flynn-edge.test';
const SECURE = 'secure.shop.test';
const TCP_PORT = 3005;
const pid = process.pid;

let src: OpsCluster;
let work: string;
const acked: string[] = [];
let backupFile: string;
let statusKey: string;
let cookieKey: string;
let sourcePin: string;
let bigSum: string;

const SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const big = path.join(process.env.NOTES_DIR, 'big.bin');
const me = { job: process.env.FLYNN_JOB_ID, addr: process.env.EXTERNAL_IP + ':' + process.env.PORT };
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (req.method === 'POST' && req.url === '/fill') {
    const data = crypto.randomBytes(50 * 1024 * 1024);
    fs.writeFileSync(big, data);
    const fd = fs.openSync(big, 'r'); fs.fsyncSync(fd); fs.closeSync(fd);
    return res.end(JSON.stringify({ ...me, sum: crypto.createHash('sha256').update(data).digest('hex') }));
  }
  if (req.url === '/sum') {
    const sum = fs.existsSync(big) ? crypto.createHash('sha256').update(fs.readFileSync(big)).digest('hex') : null;
    return res.end(JSON.stringify({ ...me, sum }));
  }
  res.end(JSON.stringify(me));
}).listen(process.env.PORT, process.env.EXTERNAL_IP);
`;

const pools = (tag: number) => (k: number) => `bk${pid % 10000}t${tag}h${k}`;

/** A cluster of `n` fresh hosts: installed, init'ed, daemons up with a ZFS pool each. */
async function freshCluster(tag: number, n: number, domain: string): Promise<OpsCluster> {
  const c = await OpsCluster.create({ tag, hosts: n, domain });
  await c.initAll();
  for (const k of c.hosts) c.startDaemon(k, { zpool: pools(tag)(k) });
  await Promise.all(c.hosts.map((k) => c.waitHost(k)));
  return c;
}

const flynnIn = (c: OpsCluster, args: string[]) => c.flynn(1, args, c.clusterEnv());

async function ok(c: OpsCluster, args: string[]): Promise<string> {
  const r = await flynnIn(c, args);
  if (r.code !== 0) throw new Error(`flynn ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** GET through host k's router from the public namespace. */
async function viaRouter(
  c: OpsCluster,
  k: number,
  host: string,
  path = '/',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return c.fromPublic({ url: `http://${c.ip(k)}${path}`, headers: { host, ...headers } });
}

/** The job holding the 50 MB file answers /sum with it (jobs are round-robined: ask a few times). */
async function findSum(c: OpsCluster, k: number): Promise<string> {
  return waitFor(
    async () => {
      const r = await viaRouter(c, k, `notes.${DOMAIN}`, '/sum');
      if (r.status !== 200) return undefined;
      return (JSON.parse(r.body) as { sum: string | null }).sum ?? undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: 'the job with the volume file' },
  );
}

/** Every key of the backup's kv.ndjson.gz, in order. */
function backupKv(file: string, dir: string): { key: string; value: string }[] {
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xf', file, '-C', dir]);
  const [top] = execFileSync('ls', [dir]).toString().trim().split('\n');
  return gunzipSync(readFileSync(join(dir, top!, 'kv.ndjson.gz')))
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { key: string; value: string });
}

/** Puts seq/000001, seq/000002, … one after the other on the leader until stopped. */
class SeqWriter {
  private stopped = false;
  private done?: Promise<void>;
  constructor(private readonly c: OpsCluster) {}
  start(): void {
    this.done = (async () => {
      for (let i = 1; !this.stopped; i++) {
        const key = `seq/${String(i).padStart(6, '0')}`;
        for (;;) {
          if (await this.put(key)) break;
          if (this.stopped) return;
        }
        acked.push(key);
      }
    })();
  }
  private async put(key: string): Promise<boolean> {
    let url = `http://${this.c.ip(1)}:1111/kv/${key}`;
    try {
      for (let hop = 0; hop < 5; hop++) {
        const res = await fetch(url, {
          method: 'PUT',
          headers: { authorization: `Bearer ${this.c.clusterKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ value: key }),
          redirect: 'manual',
          signal: AbortSignal.timeout(3000),
        });
        if (res.status === 307) {
          url = new URL(res.headers.get('location')!, url).toString();
          continue;
        }
        return res.status === 200;
      }
    } catch {
      // retried
    }
    return false;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

beforeAll(async () => {
  if (!ready) return;
  src = await freshCluster(181, 3, DOMAIN);
  work = join(src.dir, 'work');
  mkdirSync(work, { recursive: true });
  const boot = await src.bootstrap({ args: ['--job-timeout', '120'] });
  if (boot.code !== 0) throw new Error(`bootstrap: ${boot.stderr.slice(-3000)}`);
  sourcePin = boot.pin!;

  // The user app: a tarball artifact, a volume, two jobs.
  const notesTarball = webAppTarball(work, 'notes', SERVER, {
    service: 'notes-web',
    volumes: [{ path: '/data', env: 'NOTES_DIR' }],
  });
  await ok(src, ['create', 'notes']);
  await ok(src, ['-a', 'notes', 'release', 'add', notesTarball]);
  await ok(src, ['-a', 'notes', 'scale', 'web=2']);
  const pair = generateSelfSigned({ names: [SECURE], keyType: 'rsa' });
  writeFileSync(join(work, 'cert.pem'), pair.certPem);
  writeFileSync(join(work, 'key.pem'), pair.keyPem);
  await ok(src, [
    '-a',
    'notes',
    'route',
    'add',
    'http',
    '-s',
    'notes-web',
    '--sticky',
    '-c',
    join(work, 'cert.pem'),
    '-k',
    join(work, 'key.pem'),
    SECURE,
  ]);
  await ok(src, ['-a', 'notes', 'route', 'add', 'tcp', '-s', 'notes-web', '-p', String(TCP_PORT)]);
  const fill = await waitFor(
    async () => {
      const r = await src.fromPublic({
        url: `http://${src.ip(1)}/fill`,
        method: 'POST',
        headers: { host: `notes.${DOMAIN}` },
        timeoutMs: 60_000,
      });
      return r.status === 200 ? (JSON.parse(r.body) as { sum: string }) : undefined;
    },
    { timeoutMs: 90_000, what: 'the 50 MB file written through the router' },
  );
  bigSum = fill.sum;
  statusKey = (await ok(src, ['-a', 'status', 'env', 'get', 'AUTH_KEY'])).trim();
  cookieKey = (await ok(src, ['-a', 'router', 'env', 'get', 'COOKIE_KEY'])).trim();

  // The backup, with a writer appending to the store all along.
  const writer = new SeqWriter(src);
  writer.start();
  await waitFor(() => acked.length >= 5, { timeoutMs: 30_000, what: 'the writer started' });
  const ackedBefore = acked.length;
  backupFile = join(work, 'b.tar');
  const t0 = Date.now();
  const r = await flynnIn(src, ['cluster', 'backup', '--file', backupFile]);
  const ms = Date.now() - t0;
  await writer.stop();
  if (r.code !== 0) throw new Error(`backup: exit ${r.code}: ${r.stderr}`);
  console.log(
    `backup-restore: backup of the fixture (${(statSync(backupFile).size / 1e6).toFixed(1)} MB) took ${(ms / 1000).toFixed(1)} s; ${ackedBefore} seq writes before it started`,
  );
  (globalThis as { ackedBefore?: number }).ackedBefore = ackedBefore;
}, 900_000);

afterAll(async () => {
  await src?.destroy();
}, 120_000);

describe.skipIf(!ready)('issue 15: backups that restore', { timeout: 600_000 }, () => {
  it('1. the backup lists the documented order, passes sha256sum -c, holds a gap-free prefix of the writer', () => {
    const list = execFileSync('tar', ['-tvf', backupFile]).toString().trim().split('\n');
    const names = list.map((l) => l.split(/\s+/).pop()!);
    const top = names[0]!.split('/')[0]!;
    expect(top).toMatch(/^flynn-backup-\d{4}-\d\d-\d\d_\d{6}$/);
    const rel = names.map((n) => n.slice(top.length + 1));
    expect(rel[0]).toBe('flynn-edge.json');
    expect(rel[1]).toBe('kv.ndjson.gz');
    expect(rel.at(-1)).toBe('SHA256SUMS');
    const kinds = rel.slice(2, -1).map((p) => p.split('/')[0]);
    expect(kinds).toEqual([...kinds].sort()); // artifacts/ before volumes/
    expect(kinds.filter((k) => k === 'artifacts').length).toBe(1);
    expect(kinds.filter((k) => k === 'volumes').length).toBe(2);
    for (const l of list) expect(l).toMatch(/^-rw------- 0\/0 /);

    const dir = join(work, 'extracted');
    const kv = backupKv(backupFile, dir);
    expect(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: join(dir, top) }).toString()).not.toMatch(
      /FAILED/,
    );
    const keys = kv.map((e) => e.key);
    expect(keys).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    const seq = keys.filter((k) => k.startsWith('seq/'));
    const before = (globalThis as { ackedBefore?: number }).ackedBefore!;
    expect(seq.length).toBeGreaterThanOrEqual(before);
    expect(seq).toEqual(acked.slice(0, seq.length)); // a prefix, no gap
    const manifest = JSON.parse(readFileSync(join(dir, top, 'flynn-edge.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'flynn-edge-backup', version: 1, volumes_included: true });
    expect(manifest.kv.count).toBe(kv.length);
    expect(manifest.cluster.domain).toBe(DOMAIN);
  });

  for (const [tag, n] of [
    [182, 1],
    [183, 5],
  ] as const) {
    describe(`2. restored onto ${n} host(s)`, () => {
      let dst: OpsCluster;
      let restore: { code: number; stderr: string; ms: number };
      beforeAll(async () => {
        dst = await freshCluster(tag, n, 'other.test');
        restore = await dst.bootstrap({
          args: ['--from-backup', backupFile, '--job-timeout', '120'],
          env: { CLUSTER_DOMAIN: 'other.test' },
        });
        console.log(`backup-restore: restore onto ${n} host(s) took ${(restore.ms / 1000).toFixed(1)} s`);
        if (restore.code !== 0) console.log(restore.stderr.slice(-6000));
      }, 900_000);
      /** The checks below need a restored cluster: fail at once without one. */
      const restored = () => {
        if (restore?.code !== 0) throw new Error('the restore failed (see the first test)');
      };
      afterAll(async () => {
        await dst?.destroy();
      }, 120_000);

      it('restores, saying the other domain is ignored', () => {
        expect(restore.code, restore.stderr.slice(-4000)).toBe(0);
        expect(restore.stderr).toContain(
          `CLUSTER_DOMAIN=other.test ignored: the backup's domain ${DOMAIN} is used`,
        );
        expect(restore.stderr).toMatch(/restored \d+ keys, 2 volumes, 1 artifacts from /);
        expect(restore.stderr).toContain(`default ${DOMAIN} ${dst.clusterKey}`);
        expect(restore.stderr).toContain(`-p ${sourcePin} `);
      });

      it('every router serves the old domains with the same certificate, and the TCP route', async () => {
        restored();
        for (const k of dst.hosts) {
          const r = await viaRouter(dst, k, `notes.${DOMAIN}`);
          expect(r.status, `router ${k}`).toBe(200);
          const s = await dst.fromPublic({
            url: `https://${dst.ip(k)}/`,
            headers: { host: SECURE },
            servername: SECURE,
            insecure: true,
          });
          expect(s.status).toBe(200);
          expect(s.pin).toBe(
            createHash('sha256')
              .update(
                Buffer.from(
                  readFileSync(join(work, 'cert.pem'), 'utf8')
                    .replace(/-----[A-Z ]+-----/g, '')
                    .replace(/\s+/g, ''),
                  'base64',
                ),
              )
              .digest('base64'),
          );
          const t = await dst.fromPublic({ url: `http://${dst.ip(k)}:${TCP_PORT}/` });
          expect(t.status).toBe(200);
        }
      });

      it("the volume's 50 MB file is there, byte for byte", async () => {
        restored();
        expect(await findSum(dst, 1)).toBe(bigSum);
      });

      it('the old status key works and status is 200', async () => {
        restored();
        await waitFor(
          async () =>
            (await viaRouter(dst, n, `status.${DOMAIN}`, `/?key=${encodeURIComponent(statusKey)}`)).status ===
            200,
          { timeoutMs: 120_000, intervalMs: 500, what: 'status 200 with the old key' },
        );
        expect((await viaRouter(dst, 1, `status.${DOMAIN}`, '/')).status).toBe(401);
        expect((await ok(dst, ['-a', 'status', 'env', 'get', 'AUTH_KEY'])).trim()).toBe(statusKey);
      });

      it('a sticky cookie sealed with the old COOKIE_KEY picks its backend on every router', async () => {
        restored();
        expect((await ok(dst, ['-a', 'router', 'env', 'get', 'COOKIE_KEY'])).trim()).toBe(cookieKey);
        const seen = new Set<string>();
        for (let i = 0; i < 8; i++)
          seen.add((JSON.parse((await viaRouter(dst, 1, SECURE)).body) as { addr: string }).addr);
        const codec = new StickyCodec(Buffer.from(cookieKey, 'base64'));
        for (const addr of seen) {
          const cookie = `_backend=${codec.encode(addr)}`;
          for (const k of dst.hosts) {
            for (let i = 0; i < 3; i++) {
              const r = await viaRouter(dst, k, SECURE, '/', { cookie });
              expect((JSON.parse(r.body) as { addr: string }).addr).toBe(addr);
            }
          }
        }
      });

      it('DISCOVERD_PEERS and the voters are the new hosts', async () => {
        restored();
        const peers = (await ok(dst, ['-a', 'discoverd', 'env', 'get', 'DISCOVERD_PEERS'])).trim();
        const want = [...dst.ips].sort().map((ip) => `${ip}:1111`);
        expect(peers.split(',').filter(Boolean).sort()).toEqual(want);
        const raft = await dst.flynnHost(1, ['raft'], dst.clusterEnv());
        for (const ip of dst.ips) expect(raft.stdout).toContain(ip);
        for (const ip of src.ips) expect(raft.stdout).not.toContain(ip);
      });
    });
  }

  describe('3. export and import', () => {
    let exportFile: string;
    it('exports the app and imports it on the same cluster under a new name', async () => {
      exportFile = join(work, 'notes-export.tar');
      await ok(src, ['-a', 'notes', 'export', '--file', exportFile]);
      const before = (await ok(src, ['kv', 'list', 'routes/'])).trim();
      const r = await flynnIn(src, ['import', '--file', exportFile, '--name', 'notes2']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/Imported notes2 \(added \d+ routes, provisioned \d+ resources\)/);
      const served = await waitFor(
        async () => {
          const x = await viaRouter(src, 2, `notes2.${DOMAIN}`, '/sum');
          if (x.status !== 200) return undefined;
          return (JSON.parse(x.body) as { sum: string | null }).sum ?? undefined;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: "notes2's job with the file" },
      );
      expect(served).toBe(bigSum);
      // The original is untouched: its routes, its data.
      expect(await findSum(src, 3)).toBe(bigSum);
      expect((await ok(src, ['kv', 'list', 'routes/'])).trim().split('\n').length).toBeGreaterThan(
        before.split('\n').length - 1,
      );
      const again = await flynnIn(src, ['import', '--file', exportFile, '--name', 'notes2']);
      expect([again.code, again.stderr.trim()]).toEqual([
        1,
        'flynn: error creating app: application "notes2" already exists',
      ]);
    });

    describe('on a second cluster, with --routes', () => {
      let other: OpsCluster;
      beforeAll(async () => {
        other = await freshCluster(184, 1, 'second.test');
        const boot = await other.bootstrap({ args: ['--job-timeout', '120'] });
        if (boot.code !== 0) throw new Error(`bootstrap: ${boot.stderr.slice(-3000)}`);
      }, 600_000);
      afterAll(async () => {
        await other?.destroy();
      }, 120_000);

      it('serves the old domains with the same certificate, data equal', async () => {
        const copy = join(other.dir, 'notes-export.tar');
        copyFileSync(exportFile, copy);
        const r = await flynnIn(other, ['import', '--file', copy, '--routes']);
        expect(r.code, r.stderr).toBe(0);
        const s = await waitFor(
          async () => {
            const x = await other.fromPublic({
              url: `https://${other.ip(1)}/sum`,
              headers: { host: SECURE },
              servername: SECURE,
              insecure: true,
            });
            return x.status === 200 ? x : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 250, what: 'the imported secure route' },
        );
        expect(s.pin).toBe(sourcePinOfRoute());
        const sum = await waitFor(
          async () => {
            const x = await viaRouter(other, 1, SECURE, '/sum');
            return x.status === 200
              ? ((JSON.parse(x.body) as { sum: string | null }).sum ?? undefined)
              : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 200, what: 'the imported file' },
        );
        expect(sum).toBe(bigSum);
      });

      it('4. bad input is refused before anything is created', async () => {
        const cases = badBackups();
        // A restore over a running cluster: this one runs.
        const live = await other.bootstrap({ args: ['--from-backup', backupFile] });
        expect(live.code).toBe(1);
        expect(live.stderr).toMatch(/a cluster is already running on /);
        const jobsBefore = (await other.jobs(1)).length;
        for (const [what, file, message] of cases) {
          // A whole restore, not --verify-only: the file is refused before any host is asked.
          const r = await other.bootstrap({ args: ['--from-backup', file] });
          const line = r.stderr.trim().split('\n').at(-1) ?? '';
          expect([what, r.code]).toEqual([what, 1]);
          if (typeof message === 'string') expect(line, what).toBe(`flynn-host: ${message}`);
          else expect(line, what).toMatch(message);
        }
        expect((await other.jobs(1)).length).toBe(jobsBefore);
        const good = await other.flynnHost(1, ['bootstrap', '--from-backup', backupFile, '--verify-only'], {
          CLUSTER_KEY: other.clusterKey,
        });
        expect(good.code, good.stderr).toBe(0);
        // An import of a corrupt export creates nothing.
        const bad = join(other.dir, 'bad-export.tar');
        writeFileSync(bad, flipByteIn(readFileSync(exportFile), 'volumes/'));
        const r = await flynnIn(other, ['import', '--file', bad, '--name', 'broken']);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/sha256 mismatch/);
        expect((await flynnIn(other, ['kv', 'get', 'apps/broken'])).code).not.toBe(0);
      });
    });
  });
});

function sourcePinOfRoute(): string {
  const pem = readFileSync(join(work, 'cert.pem'), 'utf8');
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return createHash('sha256').update(der).digest('base64');
}

/** The tar's member whose name contains `part`: one byte of its data flipped. */
function flipByteIn(tar: Buffer, part: string): Buffer {
  const out = Buffer.from(tar);
  for (let off = 0; off + 512 <= out.length; ) {
    const name = out
      .subarray(off, off + 100)
      .toString('utf8')
      .replace(/\0.*$/s, '');
    const prefix = out
      .subarray(off + 345, off + 500)
      .toString('utf8')
      .replace(/\0.*$/s, '');
    const size = Number.parseInt(
      out
        .subarray(off + 124, off + 136)
        .toString('ascii')
        .replace(/\0.*$/s, '')
        .trim() || '0',
      8,
    );
    if (name === '') break;
    if (`${prefix}/${name}`.includes(part) && size > 0) {
      out[off + 512 + Math.floor(size / 2)] ^= 0xff;
      return out;
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`no member with ${part}`);
}

/** [what, file, the one-line message] for each refused backup. */
function badBackups(): [string, string, string | RegExp][] {
  const dir = join(work, 'bad');
  mkdirSync(dir, { recursive: true });
  const tar = readFileSync(backupFile);
  const flipped = join(dir, 'flipped.tar');
  writeFileSync(flipped, flipByteIn(tar, 'volumes/'));
  const truncated = join(dir, 'truncated.tar');
  writeFileSync(truncated, tar.subarray(0, Math.floor(tar.length * 0.6)));
  // Flynn's own backup: flynn.json and postgres.sql.gz under flynn-backup-…/.
  const flynnDir = join(dir, 'flynn', 'flynn-backup-2021-09-01_120000');
  mkdirSync(flynnDir, { recursive: true });
  writeFileSync(join(flynnDir, 'flynn.json'), '{}\n');
  writeFileSync(join(flynnDir, 'postgres.sql.gz'), randomBytes(64));
  const flynnTar = join(dir, 'flynn-backup.tar');
  execFileSync('tar', ['-cf', flynnTar, '-C', join(dir, 'flynn'), 'flynn-backup-2021-09-01_120000']);
  // version 2: the real archive with its manifest rewritten (sums updated: only the version is wrong).
  const v2dir = join(dir, 'v2');
  mkdirSync(v2dir, { recursive: true });
  execFileSync('tar', ['-xf', backupFile, '-C', v2dir]);
  const [top] = execFileSync('ls', [v2dir]).toString().trim().split('\n');
  const mf = join(v2dir, top!, 'flynn-edge.json');
  writeFileSync(mf, JSON.stringify({ ...JSON.parse(readFileSync(mf, 'utf8')), version: 2 }, null, 2));
  const files = execFileSync('tar', ['-tf', backupFile])
    .toString()
    .trim()
    .split('\n')
    .map((n) => n.slice(top!.length + 1))
    .filter((n) => n !== 'SHA256SUMS');
  writeFileSync(
    join(v2dir, top!, 'SHA256SUMS'),
    execFileSync('sha256sum', files, { cwd: join(v2dir, top!) }),
  );
  const v2 = join(dir, 'v2.tar');
  execFileSync('tar', [
    '--format=ustar',
    '-cf',
    v2,
    '-C',
    v2dir,
    ...files.map((f) => `${top}/${f}`),
    `${top}/SHA256SUMS`,
  ]);
  const missing = join(dir, 'no-such-backup.tar');
  return [
    ['a flipped byte in a volume entry', flipped, `backup is corrupt: ${volumePathOf(tar)}: sha256 mismatch`],
    ['a truncated file', truncated, /^flynn-host: backup is truncated: unexpected end of file in /],
    [
      'a Flynn backup',
      flynnTar,
      'this is a Flynn (Go) backup; flynn-edge cannot restore Postgres-based backups',
    ],
    [
      'version 2',
      v2,
      'backup format version 2 is newer than this flynn-host supports (1); upgrade flynn-host',
    ],
    ['a missing file', missing, `error opening backup file: open ${missing}: no such file or directory`],
  ];
}

function volumePathOf(tar: Buffer): string {
  const names = execFileSync('tar', ['-tf', '-'], { input: tar }).toString().trim().split('\n');
  const v = names.find((n) => n.includes('/volumes/'))!;
  return v.slice(v.indexOf('/') + 1);
}

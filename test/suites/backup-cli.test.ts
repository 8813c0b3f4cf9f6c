import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { FLYNN_BIN, runFlynn } from '@flynn-edge/cli/testing';
import { waitFor } from '@flynn-edge/process-kit';
import { generateSelfSigned } from '@flynn-edge/tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zfsCluster } from '../src/zfs-cluster.js';

// `flynn cluster backup` and `flynn -a APP export` against a real 3-host cluster with ZFS volumes
// (zfs-fuse), checked with the real `tar` and `sha256sum`: entry order, checksums, the store at one
// revision while a writer runs, --no-volumes to a pipe, an export, and a host killed in the middle
// of a volume's send (no file left behind). Restores and imports are other suites.

const { zfs, dir, cluster, flynn } = await zfsCluster('backup-cli', [
  '127.0.0.131',
  '127.0.0.132',
  '127.0.0.133',
]);
const env = () => ({ DISCOVERD: cluster.discoverd, CLUSTER_KEY: cluster.keys.clusterKey });

/** Megabytes of incompressible data in the volume, written by the app before it listens. */
const DATA_MB = 24;
const SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const file = path.join(process.env.DATA_DIR, 'big.bin');
if (!fs.existsSync(file)) fs.writeFileSync(file, require('node:crypto').randomBytes(${DATA_MB} << 20));
http.createServer((req, res) => res.end(String(fs.statSync(file).size)))
  .listen(process.env.PORT, process.env.EXTERNAL_IP);
`;

/** `flynn ARGS` with stdout kept as bytes (a pipe), and the child for signalling. */
function spawnFlynn(args: string[], extraEnv: Record<string, string> = {}) {
  const base: Record<string, string | undefined> = { ...process.env };
  delete base.DISCOVERD;
  delete base.CLUSTER_KEY;
  const child = spawn(process.execPath, [FLYNN_BIN, ...args], {
    env: { ...base, ...env(), ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
  return { child, done };
}

/** `tar -tvf`: [mode string, size, path] per entry. */
function listTar(file: string): { mode: string; size: number; path: string }[] {
  return execFileSync('tar', ['-tvf', file], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => {
      const f = l.split(/\s+/);
      return { mode: f[0]!, size: Number(f[2]), path: f[f.length - 1]! };
    });
}

/** Extracts and runs `sha256sum -c SHA256SUMS` in the top directory; returns that directory. */
function extractAndVerify(file: string): string {
  const out = mkdtempSync(join(dir, 'x-'));
  execFileSync('tar', ['-xf', file, '-C', out]);
  const [top] = readdirSync(out);
  const sums = execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: join(out, top!), encoding: 'utf8' });
  expect(sums).not.toMatch(/FAILED/);
  return join(out, top!);
}

/** PUT /kv/<key> on the leader (a follower's 307 followed once). */
function kvPut(key: string, value: string, url = `http://${cluster.discoverd.split(',')[0]}`): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ value });
    const req = request(
      `${url}/kv/${key}`,
      {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${cluster.keys.clusterKey}`,
          'content-type': 'application/json',
          'content-length': String(body.length),
        },
      },
      (res) => {
        res.resume();
        if (res.statusCode === 307 && res.headers.location) {
          resolve(kvPut(key, value, new URL(res.headers.location).origin));
        } else if (res.statusCode === 200) resolve();
        else reject(new Error(`PUT ${key}: ${res.statusCode}`));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let appId = '';
let volumeId = '';
let volumeHost = '';

beforeAll(async () => {
  if (!zfs) return;
  await cluster.start();
  const src = join(dir, 'big');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'server.js'), SERVER);
  writeFileSync(
    join(src, 'release.json'),
    JSON.stringify({
      processes: {
        web: {
          args: ['server.js'],
          ports: [{ proto: 'tcp', service: { name: 'big-web', check: { type: 'tcp', interval: '500ms' } } }],
          volumes: [{ path: '/data', env: 'DATA_DIR' }],
        },
      },
    }),
  );
  execFileSync('tar', ['-czf', join(dir, 'big.tar.gz'), '-C', src, '.']);
  for (const args of [
    ['create', 'big'],
    ['-a', 'big', 'release', 'add', join(dir, 'big.tar.gz')],
    ['-a', 'big', 'scale', 'web=1'],
    ['create', 'empty'],
  ]) {
    const r = await flynn(...args);
    if (r.code !== 0) throw new Error(`flynn ${args.join(' ')}: ${r.stderr}`);
  }
  // A route of its own with a certificate (its key goes into the export).
  const pair = generateSelfSigned({ names: ['big.example.test'], keyType: 'ec' });
  writeFileSync(join(dir, 'big.crt'), pair.certPem);
  writeFileSync(join(dir, 'big.key'), pair.keyPem);
  const r = await flynn(
    '-a',
    'big',
    'route',
    'add',
    'http',
    '-c',
    join(dir, 'big.crt'),
    '-k',
    join(dir, 'big.key'),
    'big.example.test',
  );
  if (r.code !== 0) throw new Error(`route add: ${r.stderr}`);
  appId = (JSON.parse((await flynn('kv', 'get', 'apps/big')).stdout) as { id: string }).id;
  const key = (await flynn('kv', 'list', `volumes/${appId}/`)).stdout.trim();
  const vol = JSON.parse((await flynn('kv', 'get', key)).stdout) as { id: string; host_id: string };
  volumeId = vol.id;
  volumeHost = vol.host_id;
}, 240_000);

afterAll(async () => {
  if (zfs) await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.skipIf(!zfs)('flynn cluster backup and export (real ZFS)', { timeout: 90_000 }, () => {
  it('writes the store at one revision, the artifacts and the volume; tar and sha256sum agree', async () => {
    // A writer putting seq/000001, seq/000002, … in order while the backup runs.
    let n = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) await kvPut(`seq/${String(++n).padStart(6, '0')}`, String(n));
    })();
    // The spool dir is next to the file (not in TMPDIR) and goes with the backup.
    const out = mkdtempSync(join(dir, 'out-'));
    const file = join(out, 'b.tar');
    const spool = mkdtempSync(join(dir, 'tmp-'));
    const r = await runFlynn(['cluster', 'backup', '--file', file], { ...env(), TMPDIR: spool });
    writing = false;
    await writer;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('Creating cluster backup...\nBackup complete.\n');
    expect(existsSync(`${file}.partial`)).toBe(false);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const entries = listTar(file);
    const names = entries.map((e) => e.path.replace(/^flynn-backup-\d{4}-\d\d-\d\d_\d{6}\//, ''));
    expect(entries.every((e) => e.mode === '-rw-------')).toBe(true);
    expect(names[0]).toBe('flynn-edge.json');
    expect(names[1]).toBe('kv.ndjson.gz');
    expect(names.at(-2)).toBe(`volumes/${volumeId}.zfs.gz`);
    expect(names.at(-1)).toBe('SHA256SUMS');
    const artifacts = names.slice(2, -2);
    expect(artifacts.length).toBeGreaterThanOrEqual(2); // the demo app's and big's
    expect(artifacts.every((a) => /^artifacts\/[0-9a-f-]{36}\.tar\.gz$/.test(a))).toBe(true);

    const top = extractAndVerify(file);
    const manifest = JSON.parse(readFileSync(join(top, 'flynn-edge.json'), 'utf8'));
    expect(manifest).toMatchObject({
      format: 'flynn-edge-backup',
      version: 1,
      cluster: { domain: cluster.domain, hosts: cluster.hosts },
      volumes_included: true,
      volumes: [
        { id: volumeId, app_id: appId, app: 'big', process_type: 'web', path: '/data', host_id: volumeHost },
      ],
    });
    expect(manifest.cluster.discoverd_peers).toContain(cluster.hosts[0]);
    const stream = execFileSync('sh', ['-c', `zcat volumes/${volumeId}.zfs.gz | wc -c`], { cwd: top });
    expect(Number(String(stream).trim())).toBe(manifest.volumes[0].stream_bytes);
    expect(manifest.volumes[0].stream_bytes).toBeGreaterThan(DATA_MB << 20);

    const kv = execFileSync('zcat', [join(top, 'kv.ndjson.gz')], { encoding: 'utf8', maxBuffer: 64 << 20 })
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; value: string });
    expect(kv).toHaveLength(manifest.kv.count);
    const keys = kv.map((e) => e.key);
    expect([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))).toEqual(keys);
    expect(keys.some((k) => k.startsWith('deployments/'))).toBe(false);
    // One revision: the writer's keys form a gap-free prefix.
    const seq = keys.filter((k) => k.startsWith('seq/'));
    expect(seq.length).toBeGreaterThan(0);
    expect(seq).toEqual(seq.map((_k, i) => `seq/${String(i + 1).padStart(6, '0')}`));
    expect(n).toBeGreaterThan(seq.length);
    expect(readdirSync(out)).toEqual(['b.tar']); // the spooled artifacts and volume are gone
    expect(readdirSync(spool)).toEqual([]);
  });

  it('--no-volumes writes to a pipe and says the volumes are out', async () => {
    const { done } = spawnFlynn(['cluster', 'backup', '--no-volumes', '-q']);
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    const file = join(dir, 'nv.tar');
    writeFileSync(file, r.stdout);
    const names = listTar(file).map((e) => e.path.split('/').slice(1).join('/'));
    expect(names.some((n) => n.startsWith('volumes/'))).toBe(false);
    const top = extractAndVerify(file);
    const manifest = JSON.parse(readFileSync(join(top, 'flynn-edge.json'), 'utf8'));
    expect(manifest).toMatchObject({ volumes_included: false, volumes: [] });
  });

  it('exports an app: its records, routes with their keys, artifact and volume', async () => {
    const file = join(dir, 'app.tar');
    const r = await flynn('-a', 'big', 'export', '--file', file);
    expect(r.code, r.stderr).toBe(0);
    const names = listTar(file).map((e) => e.path);
    const release = JSON.parse(
      (
        await flynn(
          'kv',
          'get',
          `releases/${appId}/${JSON.parse((await flynn('kv', 'get', 'apps/big')).stdout).release}`,
        )
      ).stdout,
    ) as { artifacts: string[] };
    expect(names).toEqual([
      'big/flynn-edge.json',
      'big/app.json',
      'big/routes.json',
      'big/release.json',
      'big/artifacts.json',
      'big/formation.json',
      ...release.artifacts.map((id) => `big/artifacts/${id}.tar.gz`),
      `big/volumes/${volumeId}.zfs.gz`,
      'big/SHA256SUMS',
    ]);
    const top = extractAndVerify(file);
    const routes = JSON.parse(readFileSync(join(top, 'routes.json'), 'utf8')) as {
      domain?: string;
      certificate?: { key?: string };
    }[];
    expect(routes.map((x) => x.domain).sort()).toEqual([`big.${cluster.domain}`, 'big.example.test'].sort());
    expect(routes.find((x) => x.domain === 'big.example.test')?.certificate?.key).toMatch(/PRIVATE KEY/);
    expect(JSON.parse(readFileSync(join(top, 'flynn-edge.json'), 'utf8'))).toMatchObject({
      format: 'flynn-edge-app-export',
      app: 'big',
      app_id: appId,
      cluster_domain: cluster.domain,
    });
    expect(JSON.parse(readFileSync(join(top, 'formation.json'), 'utf8')).processes).toEqual({ web: 1 });

    // An app without a release: nothing after routes.json but SHA256SUMS.
    const empty = join(dir, 'empty.tar');
    const e = await flynn('-a', 'empty', 'export', '-f', empty, '-q');
    expect(e.code, e.stderr).toBe(0);
    expect(listTar(empty).map((x) => x.path)).toEqual([
      'empty/flynn-edge.json',
      'empty/app.json',
      'empty/routes.json',
      'empty/SHA256SUMS',
    ]);
  });

  it('refuses a --file in a directory that cannot take it before reading anything', async () => {
    const file = join(dir, 'no-such-dir', 'b.tar');
    const r = await runFlynn(['cluster', 'backup', '--file', file], env());
    expect(r.stderr).toBe(
      `Creating cluster backup...\nflynn: error creating backup file: ENOENT: no such file or directory, open '${file}.partial'\n`,
    );
    expect(r.code).toBe(1);
  });

  it("takes an old release's artifact when a host has it, else leaves it out with a warning", async () => {
    const emptyApp = JSON.parse((await flynn('kv', 'get', 'apps/empty')).stdout) as { id: string };
    const artifact = {
      id: randomUUID(),
      type: 'tar',
      uri: `sha256:${'0'.repeat(64)}`,
      sha256: '0'.repeat(64),
      size: 1,
      meta: {},
      created_at: new Date().toISOString(),
    };
    const release = {
      id: randomUUID(),
      app_id: emptyApp.id,
      artifacts: [artifact.id],
      env: {},
      meta: {},
      processes: {},
      created_at: new Date().toISOString(),
    };
    const keys = [`artifacts/${artifact.id}`, `releases/${emptyApp.id}/${release.id}`];
    await kvPut(keys[0]!, JSON.stringify(artifact));
    await kvPut(keys[1]!, JSON.stringify(release));
    const before = (await flynn('kv', 'get', 'apps/empty')).stdout.trim();
    try {
      const file = join(dir, 'old.tar');
      let r = await runFlynn(['cluster', 'backup', '--no-volumes', '--file', file], env());
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stderr.split('\n');
      expect(lines[0]).toBe('Creating cluster backup...');
      expect(lines[1]).toMatch(
        new RegExp(
          `^warning: artifact ${artifact.id} of an old release left out: no host could give artifact sha256:0{64} \\(.*\\)$`,
        ),
      );
      expect(lines.slice(2)).toEqual(['Backup complete.', '']);
      const names = listTar(file).map((e) => e.path.split('/').slice(1).join('/'));
      expect(names).not.toContain(`artifacts/${artifact.id}.tar.gz`);
      const top = extractAndVerify(file);
      const manifest = JSON.parse(readFileSync(join(top, 'flynn-edge.json'), 'utf8')) as {
        artifacts: { id: string }[];
      };
      expect(manifest.artifacts.map((a) => a.id)).not.toContain(artifact.id);
      expect(manifest.artifacts.map((a) => `artifacts/${a.id}.tar.gz`)).toEqual(
        names.filter((n) => n.startsWith('artifacts/')),
      );

      // The app's current release: its artifact is required, the backup fails without a file.
      await kvPut('apps/empty', JSON.stringify({ ...JSON.parse(before), release: release.id }));
      const failed = join(dir, 'current.tar');
      r = await runFlynn(['cluster', 'backup', '--no-volumes', '-q', '--file', failed], env());
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`\nflynn: artifact ${artifact.id}: no host could give artifact sha256:0{64} \\(.*\\)\n$`),
      );
      expect(existsSync(failed)).toBe(false);
      expect(existsSync(`${failed}.partial`)).toBe(false);
    } finally {
      await kvPut('apps/empty', before);
      for (const key of keys) await flynn('kv', 'delete', key);
    }
  });

  it("leaves no file when the volume's host dies in the middle of its send", async () => {
    const out = mkdtempSync(join(dir, 'out-'));
    const file = join(out, 'dead.tar');
    const { done } = spawnFlynn(['cluster', 'backup', '--file', file]);
    // The volume's stream has started arriving (in the spool dir next to the file): kill its host.
    await waitFor(
      () =>
        readdirSync(out).some(
          (d) =>
            d.startsWith('.flynn-backup-') &&
            readdirSync(join(out, d)).some(
              (f) => f.startsWith('volume-') && statSync(join(out, d, f)).size > 0,
            ),
        ),
      { timeoutMs: 60_000, intervalMs: 20, what: 'the volume send to start' },
    );
    const victim = cluster.hosts.findIndex((_h, i) => `host${i + 1}` === volumeHost);
    await cluster.daemons[victim]?.kill('SIGKILL');
    const r = await done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`flynn: cannot back up volume ${volumeId}: host ${volumeHost} unreachable`);
    expect(readdirSync(out)).toEqual([]); // no file, no partial file, no spool dir
    // The host comes back (its daemon re-adopts its jobs), so the cluster's close stops them.
    cluster.daemons[victim]?.start();
    await waitFor(() => cluster.hostApi(victim, 'GET', '/host/status'), {
      timeoutMs: 30_000,
      what: 'the host back',
    });
  });
});

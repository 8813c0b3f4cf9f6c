import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { ArchiveWriter, EXPORT_FORMAT, nodeTransport, paths, prettyJson } from '@flynn-edge/backup';
import { httpGet } from '@flynn-edge/local-cluster';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zfsCluster } from '../src/zfs-cluster.js';

// `flynn import` (flynn-ops §10.2) on a real three-host cluster with real zfs-fuse: an export
// (built here with the archive writer: an app with a tar artifact, a web process with a volume
// holding a file) imported under a new name serves through the router at <name>.<domain> and its
// volume holds the file; a second import of the name and a flipped byte are refused, the latter
// before anything is created.

const { zfs, dir, cluster, flynn } = await zfsCluster('flynn-import', [
  '127.0.0.151',
  '127.0.0.152',
  '127.0.0.153',
]);

const NOTE = `imported data ${randomUUID()}\n`;
const SERVER = `
if (process.env.CRASH) process.exit(3);
const http = require('node:http');
const fs = require('node:fs');
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  res.end(fs.readFileSync(require('node:path').join(process.env.NOTES_DIR, 'notes.txt')));
}).listen(process.env.PORT, process.env.EXTERNAL_IP);
`;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The gzipped full send stream of a new volume on host 1 holding notes.txt. */
async function volumeStream(): Promise<Buffer> {
  const { id } = (await cluster.hostApi(0, 'POST', '/storage/providers/default/volumes', {})) as {
    id: string;
  };
  writeFileSync(join(dir, 'host1', 'volumes', 'zfs', 'mnt', 'data', id, 'notes.txt'), NOTE);
  const snap = (await cluster.hostApi(0, 'PUT', `/storage/volumes/${id}/snapshot`)) as { id: string };
  const haves = Buffer.from('[]');
  const res = await nodeTransport(cluster.keys.clusterKey).request(
    'GET',
    `http://${cluster.hosts[0]}:${cluster.ports.host}/storage/volumes/${snap.id}/send`,
    {
      headers: {
        accept: 'application/vnd.zfs.snapshot-stream',
        'content-type': 'application/json',
        'content-length': String(haves.length),
      },
      body: haves,
    },
  );
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  if (res.statusCode !== 200) throw new Error(`send: ${res.statusCode} ${Buffer.concat(chunks)}`);
  return gzipSync(Buffer.concat(chunks));
}

interface OldVolume {
  id: string;
  process_type: string;
  path: string;
  host_id: string;
}

/**
 * An export of app "notes" as `flynn -a notes export` writes it (§10.2): by default one web job
 * with a /data volume, run at the formation's scale.
 */
async function buildExport(
  file: string,
  env: Record<string, string> = {},
  volumes: OldVolume[] = [{ id: randomUUID(), process_type: 'web', path: '/data', host_id: 'host9' }],
  processes: Record<string, number> = { web: 1 },
): Promise<Buffer> {
  const src = join(dir, 'notes-src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'server.js'), SERVER);
  const tarball = execFileSync('tar', ['-cz', '-f', '-', '-C', src, '.']);
  const appId = randomUUID();
  const artifact = {
    id: randomUUID(),
    type: 'tar',
    uri: `sha256:${sha256(tarball)}`,
    sha256: sha256(tarball),
    size: tarball.length,
    meta: {},
    created_at: new Date().toISOString(),
  };
  const stream = await volumeStream();
  const release = {
    id: randomUUID(),
    app_id: appId,
    artifacts: [artifact.id],
    env,
    meta: {},
    processes: {
      web: {
        args: ['server.js'],
        ports: [
          {
            proto: 'tcp',
            service: { name: 'notes-web', check: { type: 'http', path: '/healthz', interval: '500ms' } },
          },
        ],
        volumes: [{ path: '/data', env: 'NOTES_DIR' }],
      },
    },
    created_at: new Date().toISOString(),
  };
  const now = new Date();
  const out = createWriteStream(file, { mode: 0o600 });
  const w = new ArchiveWriter(out, { top: 'notes', mtime: now });
  await w.addBuffer(
    paths.manifest,
    prettyJson({
      format: EXPORT_FORMAT,
      version: 1,
      created_at: now.toISOString(),
      flynn_edge_version: '0.3.0',
      app: 'notes',
      app_id: appId,
      cluster_domain: 'old.test',
      kv_revision: 1,
      volumes: volumes.map((v) => ({
        ...v,
        app_id: appId,
        app: 'notes',
        snapshot_id: randomUUID(),
        created_at: now.toISOString(),
        stream_bytes: stream.length,
      })),
    }),
  );
  const app = { id: appId, name: 'notes', meta: {}, strategy: 'all-at-once', release: release.id };
  await w.addBuffer('app.json', prettyJson(app));
  await w.addBuffer('routes.json', prettyJson([]));
  await w.addBuffer('release.json', prettyJson(release));
  await w.addBuffer('artifacts.json', prettyJson([artifact]));
  await w.addBuffer('formation.json', prettyJson({ app: appId, release: release.id, processes }));
  await w.addBuffer(paths.artifact(artifact.id), tarball);
  for (const v of volumes) await w.addBuffer(paths.volume(v.id), stream);
  await w.finish();
  out.end();
  await finished(out);
  return stream;
}

beforeAll(async () => {
  if (zfs) await cluster.start();
}, 240_000);
afterAll(async () => {
  if (zfs) await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.skipIf(!zfs)('flynn import (real ZFS, three hosts)', { timeout: 90_000 }, () => {
  const file = join(dir, 'notes.tar');
  let volumeEntry: Buffer;

  it('imports an export under a new name: it serves at <name>.<domain> with the volume file', async () => {
    volumeEntry = await buildExport(file);
    const r = await flynn('import', '--file', file, '--name', 'notes2');
    expect(r.stderr).toMatch(/volume [0-9a-f-]{36} → [0-9a-f-]{36} on host\d/);
    expect(r.stdout).toBe('Imported notes2 (added 1 routes, provisioned 1 resources)\n');
    expect(r.code, r.stderr).toBe(0);
    const answer = await httpGet(`${cluster.routerUrl}/`, { host: `notes2.${cluster.domain}` });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe(NOTE);
    const release = JSON.parse((await flynn('-a', 'notes2', 'release', 'show', '--json')).stdout) as {
      processes: { web: { ports: { service: { name: string } }[] } };
    };
    expect(release.processes.web.ports[0].service.name).toBe('notes2-web');
  });

  it('refuses to import a name that exists', async () => {
    const r = await flynn('import', '--file', file, '--name', 'notes2');
    expect(r.stderr).toBe('flynn: error creating app: application "notes2" already exists\n');
    expect(r.code).toBe(1);
  });

  it('refuses a flipped byte before creating anything, and a missing file', async () => {
    const bad = readFileSync(file);
    bad[bad.indexOf(volumeEntry) + Math.floor(volumeEntry.length / 2)] ^= 0xff;
    const flipped = join(dir, 'flipped.tar');
    writeFileSync(flipped, bad);
    let r = await flynn('import', '--file', flipped, '--name', 'notes3');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^flynn: app export is corrupt: volumes\/[0-9a-f-]{36}\.zfs\.gz: sha256 mismatch\n$/,
    );
    expect((await flynn('kv', 'get', 'apps/notes3')).code).not.toBe(0);
    r = await flynn('import', '--file', join(dir, 'nope.tar'));
    expect(r.stderr).toBe(
      `flynn: error opening export file: open ${join(dir, 'nope.tar')}: no such file or directory\n`,
    );
    expect(r.code).toBe(1);
    r = await flynn('import', '--file', file, '--name', 'Bad_Name');
    expect(r.stderr).toBe('flynn: invalid app name "Bad_Name"\n');
    expect(r.code).toBe(2);
  });

  it("puts one old job's volumes on one new host, and each old job's on its own", async () => {
    const vol = (process_type: string, path: string, host_id: string) => ({
      id: randomUUID(),
      process_type,
      path,
      host_id,
    });
    // Two old db jobs, each with /data and /wal (the /wal ones listed the other way round, which
    // a placement per path would pair wrongly); no job is started (the scale is 0).
    const old = [
      vol('db', '/data', 'host8'),
      vol('db', '/data', 'host9'),
      vol('db', '/wal', 'host9'),
      vol('db', '/wal', 'host8'),
    ];
    const grouped = join(dir, 'grouped.tar');
    await buildExport(grouped, {}, old, {});
    const r = await flynn('import', '--file', grouped, '--name', 'notes6', '-j', '4');
    expect(r.code, r.stderr).toBe(0);
    const landed = new Map<string, string>();
    for (const m of r.stderr.matchAll(/^volume (\S+) → \S+ on (\S+)$/gm)) landed.set(m[1]!, m[2]!);
    expect(landed.size).toBe(4);
    const [d8, d9, w9, w8] = old.map((v) => landed.get(v.id));
    expect(w8).toBe(d8);
    expect(w9).toBe(d9);
    expect(d9).not.toBe(d8);
  });

  it('undoes an import whose deploy fails: no records, no volume left', async () => {
    const crashing = join(dir, 'crash.tar');
    await buildExport(crashing, { CRASH: '1' });
    const volumes = async () =>
      (await Promise.all([0, 1, 2].map((i) => cluster.hostApi(i, 'GET', '/storage/volumes'))))
        .flatMap((l) => (l as { id: string }[]).map((v) => v.id))
        .sort();
    const before = await volumes();
    const r = await flynn('import', '--file', crashing, '--name', 'notes5', '-q');
    expect(r.stderr).toMatch(/^flynn: deploy failed: job \S+: crashed/);
    expect(r.code).toBe(1);
    expect((await flynn('kv', 'get', 'apps/notes5')).code).not.toBe(0);
    expect((await flynn('kv', 'list', '')).stdout).not.toMatch(/notes5/);
    expect(await volumes()).toEqual(before);
  });
});

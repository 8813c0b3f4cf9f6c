import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  destroyVolume,
  expect2xx,
  nodeTransport,
  pushArtifact,
  readBody,
  receiveVolume,
  TransferError,
} from '@flynn-edge/backup';
import { localHostDaemon } from '@flynn-edge/local-cluster';
import { freePort, type ManagedProcess, waitFor } from '@flynn-edge/testkit';
import { ZfsDriver, zfsReachable } from '@flynn-edge/zfs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// load.ts against a real `flynn-host daemon` (no discoverd; a pool of its own on real zfs-fuse):
// an artifact pushed by its sha256, a volume's gzipped send stream received into a new volume
// that holds the same file, and a damaged stream that leaves no volume behind.

const zfs = await zfsReachable().catch(() => false);
if (!zfs && process.env.CI === 'true') throw new Error('CI=true and zfs-fuse does not answer');
if (!zfs) process.stderr.write('skipping load tests: zfs-fuse does not answer (bash .ci/zfs-setup.sh)\n');

const dir = mkdtempSync(join(tmpdir(), 'backup-load-'));
const pool = `fe-load-${process.pid}`;
const key = randomUUID();
const t = nodeTransport(key);
let daemon: ManagedProcess | undefined;
let url = '';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const mnt = (id: string) => join(dir, 'host1', 'volumes', 'zfs', 'mnt', 'data', id);

async function volumeIds(): Promise<string[]> {
  const res = await t.request('GET', `${url}/storage/volumes`);
  return (JSON.parse(await readBody(res)) as { id: string }[]).map((v) => v.id).sort();
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await t.request(
    method,
    `${url}${path}`,
    body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) },
  );
  await expect2xx(res, `${method} ${path}`);
  return JSON.parse(await readBody(res)) as T;
}

/** The gzipped full send stream of a new volume holding `data.bin`. */
async function sourceStream(data: Buffer): Promise<Buffer> {
  const { id } = await api<{ id: string }>('POST', '/storage/providers/default/volumes', {});
  writeFileSync(join(mnt(id), 'data.bin'), data);
  const snap = await api<{ id: string }>('PUT', `/storage/volumes/${id}/snapshot`);
  const haves = Buffer.from('[]');
  const res = await t.request('GET', `${url}/storage/volumes/${snap.id}/send`, {
    headers: {
      accept: 'application/vnd.zfs.snapshot-stream',
      'content-type': 'application/json',
      'content-length': String(haves.length),
    },
    body: haves,
  });
  await expect2xx(res, 'send');
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

beforeAll(async () => {
  if (!zfs) return;
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  daemon = localHostDaemon({
    n: 1,
    ip: '127.0.0.1',
    apiPort: port,
    dir,
    jobPorts: { start: port + 1, end: port + 10 },
    pool,
    env: { DISCOVERD: 'none', CLUSTER_KEY: key },
  });
  daemon.start();
  await waitFor(
    async () => (await t.request('GET', `${url}/storage/volumes`).catch(() => null))?.statusCode === 200,
    {
      timeoutMs: 30_000,
      what: 'the daemon serving its volume API',
    },
  );
}, 60_000);

afterAll(async () => {
  if (daemon) {
    await daemon.kill('SIGTERM');
    await daemon.close();
  }
  const driver = new ZfsDriver();
  await waitFor(
    async () => {
      if (!(await driver.poolExists(pool).catch(() => false))) return true;
      await driver.destroyPool(pool, true).catch(() => {});
      return false;
    },
    { timeoutMs: 20_000, what: `pool ${pool} destroyed` },
  ).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe.skipIf(!zfs)(
  'load: artifacts and volumes onto a real flynn-host daemon',
  { timeout: 60_000 },
  () => {
    it('pushes an artifact by its sha256 and refuses a body that does not match it', async () => {
      const src = join(dir, 'art');
      mkdirSync(src, { recursive: true });
      writeFileSync(join(src, 'server.js'), 'console.log(1)\n');
      const tarball = execFileSync('tar', ['-cz', '-f', '-', '-C', src, '.']);
      await pushArtifact(t, url, sha256(tarball), Readable.from([tarball]));
      const head = await t.request('HEAD', `${url}/host/artifacts/${sha256(tarball)}`);
      head.resume();
      expect(head.statusCode).toBe(200);
      expect(head.headers['content-length']).toBe(String(tarball.length));
      const wrong = pushArtifact(t, url, sha256(Buffer.from('x')), Readable.from([tarball]));
      await expect(wrong).rejects.toBeInstanceOf(TransferError);
      await expect(wrong).rejects.toMatchObject({ status: 400 });
    });

    it('receives a gzipped send stream into a new plain data volume holding the same file', async () => {
      const data = randomBytes(3 * 1024 * 1024);
      const gz = await sourceStream(data);
      const file = join(dir, 'volume.zfs.gz');
      writeFileSync(file, gz);
      const before = await volumeIds();
      const { id } = await receiveVolume(t, url, createReadStream(file), { app: 'web2', process_type: 'db' });
      expect(sha256(readFileSync(join(mnt(id), 'data.bin')))).toBe(sha256(data));
      // Only the new data volume is left: the received snapshot is gone, so it can be destroyed.
      expect(await volumeIds()).toEqual([...before, id].sort());
      expect(await api('GET', `/storage/volumes/${id}`)).toMatchObject({
        id,
        type: 'data',
        meta: { app: 'web2', process_type: 'db' },
      });
      await destroyVolume(t, url, id);
      await destroyVolume(t, url, id);
      expect(await volumeIds()).toEqual(before);
    });

    it('destroys the new volume when the stream is damaged, and says why', async () => {
      const stream = gunzipSync(await sourceStream(randomBytes(1024 * 1024)));
      stream[Math.floor(stream.length / 2)] ^= 0xff;
      const before = await volumeIds();
      const flipped = receiveVolume(t, url, Readable.from([gzipSync(stream)]), {});
      await expect(flipped).rejects.toThrow(/^receive volume \S+: 400 zfs recv rejected snapshot data: /);
      expect(await volumeIds()).toEqual(before);
      // Not gzip at all: the upload fails on our side, the volume goes too.
      await expect(receiveVolume(t, url, Readable.from([randomBytes(4096)]), {})).rejects.toThrow();
      expect(await volumeIds()).toEqual(before);
    });
  },
);

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHttpServer, createLogger, type HttpServer } from '@flynn-edge/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_CONTENT_TYPE, VolumeManager, volumeApiPlugin, ZfsDriver } from '../src/index.js';
import { cleanup, MiB, tempDir, uniquePoolName } from './pools.js';
import { zfsAvailableForTests } from './zfs-fuse.js';

// PUT /storage/volumes/:id/receive (flynn-ops §9.2 step 6) against real zfs-fuse: a full `zfs send`
// stream of a volume holding a file larger than any body limit flows into a new volume and the
// file comes out identical; a damaged stream is refused with zfs's message and changes nothing.

const available = await zfsAvailableForTests();

interface Answer {
  status: number;
  json: { code?: string; message?: string; id?: string; type?: string };
}

/** PUT a (streamed) body; resolves the status and the JSON answer. */
function put(url: string, contentType: string | undefined, body: Readable | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {};
    const req = httpRequest(url, { method: 'PUT', headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : {} });
      });
    });
    // The server may answer and close before taking the whole body (a refused stream).
    req.on('error', (err) => (err.message.includes('EPIPE') ? undefined : reject(err)));
    if (Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

describe.skipIf(!available)('PUT /storage/volumes/:id/receive (real zfs-fuse)', () => {
  const driver = new ZfsDriver();
  const pool = uniquePoolName('recv');
  const dirs: string[] = [];
  let manager: VolumeManager;
  let app: HttpServer;
  let base: string;
  let streamFile: string;
  let sourceSum: string;
  let target: string;

  beforeAll(async () => {
    const dir = await tempDir('recv');
    dirs.push(dir);
    manager = await VolumeManager.open({ driver, volPath: dir, poolName: pool, poolSize: 512 * MiB });
    app = createHttpServer({
      component: 'host',
      logger: createLogger({ component: 'host', level: 'silent' }),
    });
    await app.register(volumeApiPlugin, { manager });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/storage`;
    streamFile = path.join(dir, 'stream.zfs');
  });
  afterAll(async () => {
    await app?.close();
    await cleanup(driver, [pool], dirs);
  });

  it('receives a 50 MB+ send stream into a new volume: the file comes out identical', async () => {
    const source = await manager.create();
    const data = path.join(manager.mountPath(source.id) ?? '', 'data.bin');
    await writeFile(data, randomBytes(52 * MiB));
    sourceSum = await sha256(data);
    const snap = await manager.snapshot(source.id);
    // Kept on disk for the refusals below.
    await pipeline((await manager.send(snap.id)).stream, createWriteStream(streamFile));

    const created = await fetch(`${base}/providers/default/volumes`, { method: 'POST' });
    target = ((await created.json()) as { id: string }).id;
    const r = await put(
      `${base}/volumes/${target}/receive`,
      SNAPSHOT_CONTENT_TYPE,
      createReadStream(streamFile),
    );
    expect(r.status, r.json.message).toBe(200);
    expect(r.json.type).toBe('data');
    expect(manager.isSnapshot(r.json.id ?? '')).toBe(true);
    expect(await sha256(path.join(manager.mountPath(target) ?? '', 'data.bin'))).toBe(sourceSum);
  });

  it('refuses a damaged stream with zfs message and leaves the volume as it was', async () => {
    const good = await readFile(streamFile);
    const flipped = Buffer.from(good);
    flipped[Math.floor(flipped.length / 2)] ^= 0xff;
    for (const bad of [flipped, good.subarray(0, good.length - 4096), randomBytes(64 * 1024)]) {
      const r = await put(`${base}/volumes/${target}/receive`, SNAPSHOT_CONTENT_TYPE, Readable.from([bad]));
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('validation_error');
      expect(r.json.message).toMatch(/^zfs recv rejected snapshot data: .+/);
      expect(await sha256(path.join(manager.mountPath(target) ?? '', 'data.bin'))).toBe(sourceSum);
    }
  });

  it('answers 400 for another Content-Type and 404 for an unknown volume', async () => {
    let r = await put(`${base}/volumes/${target}/receive`, 'application/json', Buffer.from('[]'));
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      code: 'validation_error',
      message: `Content-Type must be ${SNAPSHOT_CONTENT_TYPE}`,
      retry: false,
    });
    r = await put(`${base}/volumes/${target}/receive`, undefined, Buffer.alloc(0));
    expect(r.status).toBe(400);
    r = await put(
      `${base}/volumes/00000000-0000-4000-8000-000000000000/receive`,
      SNAPSHOT_CONTENT_TYPE,
      Buffer.alloc(8),
    );
    expect(r.status).toBe(404);
    expect(r.json.code).toBe('object_not_found');
  });
});

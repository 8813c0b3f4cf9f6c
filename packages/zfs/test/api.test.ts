import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createHttpServer, createLogger, type HttpServer } from '@flynn-edge/service-kit';
import { SseReader, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  httpFetchSnapshot,
  SNAPSHOT_CONTENT_TYPE,
  type VolumeInfo,
  VolumeManager,
  volumeApiPlugin,
  ZfsDriver,
} from '../src/index.js';
import { cleanup, MiB, tempDir, uniquePoolName } from './pools.js';
import { zfsAvailableForTests } from './zfs-fuse.js';

const available = await zfsAvailableForTests();

interface Envelope {
  code?: string;
  message?: string;
  id?: string;
}
const envelope = async (r: Response): Promise<Envelope> => (await r.json()) as Envelope;

function quietServer(): HttpServer {
  return createHttpServer({
    component: 'host',
    logger: createLogger({ component: 'host', level: 'silent' }),
  });
}

async function listen(app: HttpServer): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${addr.port}`;
}

/** GET with a body (fetch refuses one on GET). Resolves status, headers and the raw body. */
function getWithBody(
  url: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; contentType: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    // Node sends a GET body only with an explicit length (it does not chunk GET requests).
    const all =
      body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = httpRequest(url, { method: 'GET', headers: all }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'] ?? '',
          body: Buffer.concat(chunks),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('volumeApiPlugin without ZFS', () => {
  it('answers 503 with the reason on every /storage path, and 404 elsewhere', async () => {
    const app = quietServer();
    await app.register(volumeApiPlugin, { unavailableReason: 'zfs-fuse is not running' });
    for (const [method, url] of [
      ['GET', '/storage/volumes'],
      ['GET', '/storage/volumes/x'],
      ['POST', '/storage/providers'],
      ['POST', '/storage/providers/default/volumes'],
      ['PUT', '/storage/volumes/x/snapshot'],
    ] as const) {
      const r = await app.inject({ method, url });
      expect(r.statusCode, `${method} ${url}`).toBe(503);
      expect(r.json()).toEqual({
        code: 'service_unavailable',
        message: 'volumes are disabled: zfs-fuse is not running',
        retry: true,
      });
    }
    const other = await app.inject({ method: 'GET', url: '/nope' });
    expect(other.statusCode).toBe(404);
    expect(other.body).toBe('404 page not found\n');
    await app.close();
  });
});

describe.skipIf(!available)('volume API over HTTP (two hosts)', () => {
  const driver = new ZfsDriver();
  const poolA = uniquePoolName('api-a');
  const poolB = uniquePoolName('api-b');
  const dirs: string[] = [];
  let a: VolumeManager;
  let b: VolumeManager;
  let appA: HttpServer;
  let appB: HttpServer;
  let appCut: HttpServer;
  let cutsLeft = 0;
  let urlA: string;
  let urlB: string;
  let urlCut: string;

  beforeAll(async () => {
    const dirA = await tempDir('api-a');
    const dirB = await tempDir('api-b');
    dirs.push(dirA, dirB);
    a = await VolumeManager.open({ driver, volPath: dirA, poolName: poolA, poolSize: 256 * MiB });
    b = await VolumeManager.open({ driver, volPath: dirB, poolName: poolB, poolSize: 256 * MiB });
    const hosts: Record<string, string> = {};
    const fetchSnapshot = httpFetchSnapshot((hostId) => {
      const url = hosts[hostId];
      if (!url) throw new Error(`unknown host ${hostId}`);
      return url;
    });
    appA = quietServer();
    await appA.register(volumeApiPlugin, { manager: a, fetchSnapshot });
    appB = quietServer();
    await appB.register(volumeApiPlugin, { manager: b, fetchSnapshot });
    // Host B again, behind a link that cuts the first snapshot stream after 4 KiB.
    appCut = quietServer();
    await appCut.register(volumeApiPlugin, {
      manager: b,
      fetchSnapshot: async (hostId, snapshotId, haves) => {
        const real = await fetchSnapshot(hostId, snapshotId, haves);
        if (cutsLeft <= 0) return real;
        cutsLeft--;
        const head: Buffer[] = [];
        let size = 0;
        for await (const chunk of real as AsyncIterable<Buffer>) {
          head.push(chunk);
          size += chunk.length;
          if (size >= 4096) break;
        }
        return Readable.from([Buffer.concat(head).subarray(0, 4096)]);
      },
    });
    urlA = await listen(appA);
    urlB = await listen(appB);
    urlCut = await listen(appCut);
    hosts.hostA = urlA;
    hosts.hostB = urlB;
  });
  afterAll(async () => {
    await appA?.close();
    await appB?.close();
    await appCut?.close();
    await cleanup(driver, [poolA, poolB], dirs);
  });

  const json = (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(url, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('manages providers as Flynn does', async () => {
    let r = await json('POST', `${urlA}/storage/providers`, { kind: '' });
    expect(r.status).toBe(400);
    expect(await envelope(r)).toEqual({
      code: 'validation_error',
      message: 'kind must not be blank',
      retry: false,
      detail: { field: 'kind' },
    });
    r = await json('POST', `${urlA}/storage/providers`, { kind: 'btrfs' });
    expect(r.status).toBe(400);
    expect((await envelope(r)).message).toBe('kind "btrfs" is not known');
    r = await fetch(`${urlA}/storage/providers`, { method: 'POST', body: '{"kind":"zfs"}' });
    expect(r.status).toBe(400);
    expect((await envelope(r)).message).toBe('Content-Type must be application/json');
    r = await json('POST', `${urlA}/storage/providers`, {
      id: 'p2',
      kind: 'zfs',
      metadata: { dataset: `${poolA}/p2` },
    });
    expect(r.status).toBe(200);
    expect(await envelope(r)).toMatchObject({ id: 'p2', kind: 'zfs', metadata: { dataset: `${poolA}/p2` } });
    r = await json('POST', `${urlA}/storage/providers`, { id: 'p2', kind: 'zfs' });
    expect(r.status).toBe(409);
    expect(await envelope(r)).toMatchObject({
      code: 'object_exists',
      message: 'provider "p2" already exists',
    });
    r = await json('POST', `${urlA}/storage/providers`, {
      kind: 'zfs',
      metadata: { dataset: `${poolA}/p3` },
    });
    expect(r.status).toBe(200);
    expect(VolumeManager.isVolumeId((await envelope(r)).id ?? '')).toBe(true);

    r = await json('POST', `${urlA}/storage/providers/p2/volumes`);
    expect(r.status).toBe(200);
    const vol = (await r.json()) as VolumeInfo;
    expect(a.datasetOf(vol.id)).toBe(`${poolA}/p2/data/${vol.id}`);
    r = await json('POST', `${urlA}/storage/providers/nope/volumes`);
    expect(r.status).toBe(404);
    expect(await envelope(r)).toMatchObject({
      code: 'object_not_found',
      message: 'no volume provider with id "nope"',
    });
    expect((await json('DELETE', `${urlA}/storage/volumes/${vol.id}`)).status).toBe(200);
  });

  it('creates, lists, inspects, snapshots and deletes volumes, streaming events over SSE', async () => {
    const sse = new SseReader(`${urlA}/storage/volumes`);
    try {
      let r = await json('POST', `${urlA}/storage/providers/default/volumes`, { meta: { owner: 'test' } });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/json');
      const vol = (await r.json()) as VolumeInfo;
      expect(vol).toMatchObject({ type: 'data', meta: { owner: 'test' } });

      r = await fetch(`${urlA}/storage/volumes`);
      expect((await r.json()) as VolumeInfo[]).toContainEqual(vol);
      r = await fetch(`${urlA}/storage/volumes/${vol.id}`);
      expect(await envelope(r)).toEqual(vol);
      r = await fetch(`${urlA}/storage/volumes/00000000-0000-0000-0000-000000000000`);
      expect(r.status).toBe(404);
      expect(await envelope(r)).toEqual({
        code: 'object_not_found',
        message: 'no volume with id "00000000-0000-0000-0000-000000000000"',
        retry: false,
      });

      r = await fetch(`${urlA}/storage/volumes/${vol.id}/snapshot`, { method: 'PUT' });
      expect(r.status).toBe(200);
      const snap = (await r.json()) as VolumeInfo;
      r = await fetch(`${urlA}/storage/volumes/${vol.id}`, { method: 'DELETE' });
      expect(r.status).toBe(409);
      expect((await envelope(r)).message).toMatch(/has snapshots/);

      r = await fetch(`${urlA}/storage/volumes/${snap.id}`, { method: 'DELETE' });
      expect(r.status).toBe(200);
      expect(await r.text()).toBe('');
      r = await fetch(`${urlA}/storage/volumes/${vol.id}`, { method: 'DELETE' });
      expect(r.status).toBe(200);
      r = await fetch(`${urlA}/storage/volumes/${vol.id}`, { method: 'DELETE' });
      expect(r.status).toBe(404);

      const seen = await waitFor(
        () => {
          const events = sse.messages.map((m) => JSON.parse(m.data) as { type: string; volume: VolumeInfo });
          const mine = events.filter((e) => e.volume.id === vol.id || e.volume.id === snap.id);
          return mine.length >= 4 && mine.map((e) => `${e.type}:${e.volume.id}`);
        },
        { what: 'volume events' },
      );
      expect(sse.status).toBe(200);
      expect(sse.contentType).toMatch(/^text\/event-stream/);
      expect(seen).toEqual([
        `create:${vol.id}`,
        `create:${snap.id}`,
        `destroy:${snap.id}`,
        `destroy:${vol.id}`,
      ]);
    } finally {
      await sse.close();
    }
  });

  it('serves a snapshot stream only to a client that accepts it', async () => {
    const vol = await a.create();
    const snap = await a.snapshot(vol.id);
    const sendUrl = `${urlA}/storage/volumes/${snap.id}/send`;
    let r = await getWithBody(sendUrl, { 'content-type': 'application/json' }, '[]');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body.toString())).toMatchObject({
      code: 'validation_error',
      message: `must be prepared to accept a content type of "${SNAPSHOT_CONTENT_TYPE}"`,
    });
    r = await getWithBody(sendUrl, { accept: SNAPSHOT_CONTENT_TYPE });
    expect(r.status).toBe(400);
    r = await getWithBody(
      sendUrl,
      { accept: SNAPSHOT_CONTENT_TYPE, 'content-type': 'application/json' },
      '{bad',
    );
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body.toString()).code).toBe('syntax_error');
    r = await getWithBody(
      sendUrl,
      { accept: SNAPSHOT_CONTENT_TYPE, 'content-type': 'application/json' },
      '[]',
    );
    expect(r.status).toBe(200);
    expect(r.contentType).toBe(SNAPSHOT_CONTENT_TYPE);
    expect(r.body.length).toBeGreaterThan(1000);
    r = await getWithBody(
      `${urlA}/storage/volumes/${vol.id}/send`,
      {
        accept: SNAPSHOT_CONTENT_TYPE,
        'content-type': 'application/json',
      },
      '[]',
    );
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body.toString()).message).toMatch(/can only send a snapshot/);
  });

  it('pulls a snapshot from the other host, in full and then incrementally', async () => {
    const src = await a.create();
    const srcMnt = a.mountPath(src.id)!;
    await writeFile(path.join(srcMnt, 'a.txt'), 'first');
    const snap1 = await a.snapshot(src.id);
    const dst = await b.create();

    let r = await json('POST', `${urlB}/storage/volumes/${dst.id}/pull_snapshot`, {
      host_id: 'hostA',
      snapshot_id: snap1.id,
    });
    expect(r.status, await r.clone().text()).toBe(200);
    const pulled1 = (await r.json()) as VolumeInfo;
    expect(b.isSnapshot(pulled1.id)).toBe(true);
    expect(await readFile(path.join(b.mountPath(dst.id)!, 'a.txt'), 'utf8')).toBe('first');

    await writeFile(path.join(srcMnt, 'b.txt'), 'second');
    const snap2 = await a.snapshot(src.id);
    r = await json('POST', `${urlB}/storage/volumes/${dst.id}/pull_snapshot`, {
      host_id: 'hostA',
      snapshot_id: snap2.id,
    });
    expect(r.status).toBe(200);
    expect(await readFile(path.join(b.mountPath(dst.id)!, 'b.txt'), 'utf8')).toBe('second');
    expect(await b.listHaves(dst.id)).toEqual([{ snap_id: snap1.id }, { snap_id: snap2.id }]);

    r = await json('POST', `${urlB}/storage/volumes/${dst.id}/pull_snapshot`, {
      host_id: 'hostA',
      snapshot_id: '11111111-1111-1111-1111-111111111111',
    });
    expect(r.status).toBe(404);
    expect((await envelope(r)).code).toBe('object_not_found');
    r = await json('POST', `${urlB}/storage/volumes/${dst.id}/pull_snapshot`, {
      host_id: '',
      snapshot_id: 'x',
    });
    expect(r.status).toBe(400);
    r = await json('POST', `${urlB}/storage/volumes/${dst.id}/pull_snapshot`);
    expect(r.status).toBe(400);
  });

  it('asks again when a snapshot stream is cut in transit (recv -F rolls the half back)', async () => {
    const src = await a.create();
    await writeFile(path.join(a.mountPath(src.id)!, 'big.bin'), Buffer.alloc(256 * 1024, 7));
    const snap = await a.snapshot(src.id);
    const dst = await b.create();
    cutsLeft = 1;
    const r = await json('POST', `${urlCut}/storage/volumes/${dst.id}/pull_snapshot`, {
      host_id: 'hostA',
      snapshot_id: snap.id,
    });
    expect(r.status, await r.clone().text()).toBe(200);
    expect(cutsLeft).toBe(0);
    const got = await readFile(path.join(b.mountPath(dst.id)!, 'big.bin'));
    expect(got.equals(Buffer.alloc(256 * 1024, 7))).toBe(true);

    // A link that cuts every stream: the error comes back after the last attempt.
    const dst2 = await b.create();
    cutsLeft = 3;
    const again = await json('POST', `${urlCut}/storage/volumes/${dst2.id}/pull_snapshot`, {
      host_id: 'hostA',
      snapshot_id: snap.id,
    });
    expect(again.status, await again.clone().text()).toBe(500);
    expect(((await again.json()) as { message: string }).message).toMatch(/zfs recv rejected/);
    expect(cutsLeft).toBe(0);
  });
});

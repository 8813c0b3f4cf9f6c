import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { captureKv, fetchArtifact, nodeTransport, sendVolume } from '../src/index.js';

// The capture side against small HTTP servers that answer as discoverd and the host APIs do, and
// fail where a real one would fail midway (a redirect loop, a reset in the middle of a stream).
// The whole path against a real cluster is test/suites/backup-cli.test.ts.

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const servers: http.Server[] = [];
const dir = mkdtempSync(join(tmpdir(), 'capture-test-'));
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function serve(handler: Handler): Promise<string> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => handler(req, res, body));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const json = (res: ServerResponse, status: number, v: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(v));
};

const t = nodeTransport('the-key');

describe('captureKv', () => {
  it('follows 307s to the leader, drops excluded prefixes, sorts by UTF-8 bytes', async () => {
    const seen: string[] = [];
    const leader = await serve((req, res) => {
      seen.push(`${req.url} ${req.headers.authorization}`);
      json(res, 200, {
        revision: 42,
        more: false,
        entries: [
          { key: 'z', value: '1', mod_revision: 1 },
          { key: '\u{10000}', value: 'astral', mod_revision: 1 },
          { key: '\uffff', value: 'bmp', mod_revision: 1 },
          { key: 'deployments/app', value: 'lock', mod_revision: 1 },
          { key: 'cluster/restore', value: 'x', mod_revision: 1 },
          { key: 'apps/web', value: '{}', mod_revision: 1 },
        ],
      });
    });
    const follower = await serve((req, res) => {
      res.writeHead(307, { location: `${leader}${req.url}` });
      res.end();
    });
    const snap = await captureKv(t, follower);
    expect(snap.revision).toBe(42);
    // UTF-16 order would put U+10000 (a surrogate pair) before U+FFFF; the store's order does not.
    expect(snap.pairs.map((p) => p.key)).toEqual(['apps/web', 'z', '\uffff', '\u{10000}']);
    expect(snap.pairs[0]).toEqual({ key: 'apps/web', value: '{}' });
    expect(seen).toEqual(['/kv/ Bearer the-key']);
  });

  it('refuses a listing cut short and a redirect loop', async () => {
    const cut = await serve((_req, res) => json(res, 200, { revision: 1, more: true, entries: [] }));
    await expect(captureKv(t, cut)).rejects.toThrow(/more: true/);
    const loop = await serve((req, res) => {
      res.writeHead(307, { location: req.url ?? '/' });
      res.end();
    });
    await expect(captureKv(t, loop)).rejects.toThrow(/more than 10 redirects/);
    const denied = await serve((_req, res) =>
      json(res, 401, { code: 'unauthorized', message: 'wrong key', retry: false }),
    );
    await expect(captureKv(t, denied)).rejects.toThrow(/401 wrong key/);
  });
});

describe('fetchArtifact', () => {
  const data = Buffer.from('a tarball, or so it says');
  const sha = createHash('sha256').update(data).digest('hex');

  it('takes the first host that has it with the right bytes', async () => {
    const missing = await serve((_req, res) => json(res, 404, { code: 'object_not_found', message: 'no' }));
    const wrong = await serve((_req, res) => res.end('other bytes'));
    const good = await serve((req, res) => {
      expect(req.url).toBe(`/host/artifacts/${sha}`);
      res.end(data);
    });
    const file = join(dir, 'artifact');
    expect(await fetchArtifact(t, [missing, wrong, good], sha, file)).toEqual({ size: data.length });
    expect(readFileSync(file)).toEqual(data);
  });

  it('says which hosts failed and why when none has it', async () => {
    const wrong = await serve((_req, res) => res.end('other bytes'));
    await expect(fetchArtifact(t, ['http://127.0.0.1:1', wrong], sha, join(dir, 'nothing'))).rejects.toThrow(
      /no host could give artifact sha256:[0-9a-f]{64} \(.*ECONNREFUSED.*sent data with sha256/,
    );
  });
});

describe('sendVolume', () => {
  const stream = Buffer.alloc(300_000, 7);

  /** A host API: volume `vol1` exists; `send` answers `onSend`; every call is recorded. */
  async function host(onSend: (res: ServerResponse) => void) {
    const calls: string[] = [];
    const url = await serve((req, res, body) => {
      calls.push(`${req.method} ${req.url}`);
      if (req.method === 'PUT' && req.url === '/storage/volumes/vol1/snapshot')
        return json(res, 200, { id: 'snap1', type: 'data' });
      if (req.method === 'PUT') return json(res, 404, { code: 'object_not_found', message: 'no volume' });
      if (req.method === 'GET' && req.url === '/storage/volumes/snap1/send') {
        expect(req.headers.accept).toBe('application/vnd.zfs.snapshot-stream');
        expect(req.headers['content-type']).toBe('application/json');
        expect(body).toBe('[]');
        return onSend(res);
      }
      if (req.method === 'DELETE') return res.end();
      json(res, 404, { code: 'not_found', message: req.url ?? '' });
    });
    return { url, calls };
  }

  it('snapshots, gzips the send stream into the file, counts its bytes, deletes the snapshot', async () => {
    const h = await host((res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.zfs.snapshot-stream' });
      res.write(stream.subarray(0, 100_000));
      setTimeout(() => res.end(stream.subarray(100_000)), 20);
    });
    const file = join(dir, 'vol.gz');
    const got = await sendVolume(t, { id: 'host1', url: h.url }, { id: 'vol1', app: 'web' }, file);
    expect(got).toEqual({ snapshotId: 'snap1', streamBytes: stream.length });
    expect(gunzipSync(readFileSync(file))).toEqual(stream);
    expect(h.calls).toEqual([
      'PUT /storage/volumes/vol1/snapshot',
      'GET /storage/volumes/snap1/send',
      'DELETE /storage/volumes/snap1',
    ]);
  });

  it('names a volume that is gone', async () => {
    const h = await host(() => {});
    await expect(
      sendVolume(t, { id: 'host1', url: h.url }, { id: 'vol9', app: 'web' }, join(dir, 'x')),
    ).rejects.toThrow('volume vol9 of web vanished during the backup; retry');
  });

  it('calls a stream that dies midway an unreachable host, and still deletes the snapshot', async () => {
    const h = await host((res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.zfs.snapshot-stream' });
      res.write(stream.subarray(0, 100_000), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    await expect(
      sendVolume(t, { id: 'host1', url: h.url }, { id: 'vol1', app: 'web' }, join(dir, 'y')),
    ).rejects.toThrow('cannot back up volume vol1: host host1 unreachable');
    expect(h.calls.at(-1)).toBe('DELETE /storage/volumes/snap1');
  });

  it('calls a refused connection an unreachable host', async () => {
    await expect(
      sendVolume(t, { id: 'host2', url: 'http://127.0.0.1:1' }, { id: 'vol1', app: 'web' }, join(dir, 'z')),
    ).rejects.toThrow('cannot back up volume vol1: host host2 unreachable');
  });
});

import { once } from 'node:events';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { IdleError, nodeTransport, pushArtifact, readBody, receiveVolume } from '../src/index.js';

// The transfers' HTTP against small servers that stall or refuse midway: no overall deadline for
// a transfer whose bytes keep moving, an idle watchdog for one whose bytes stop (the CLI's
// transport uses the same IdleWatchdog), and a failed request closing its body's file.

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: http.Server[] = [];
const dir = mkdtempSync(join(tmpdir(), 'transfer-http-test-'));
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function serve(handler: Handler): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A Readable giving `chunks` chunks of 1 KiB, one every `everyMs`. */
function trickle(chunks: number, everyMs: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent === chunks) return void this.push(null);
      sent++;
      setTimeout(() => this.push(Buffer.alloc(1024, 1)), everyMs);
    },
  });
}

/** A file of `size` bytes, opened as a stream (its `closed` tells whether its fd was released). */
function fileStream(size: number): ReturnType<typeof createReadStream> {
  const file = join(dir, `body-${size}-${Math.random()}`);
  writeFileSync(file, Buffer.alloc(size, 7));
  return createReadStream(file);
}

const IDLE = 300;
const t = nodeTransport();

describe('idle watchdog', () => {
  it('lets a transfer whose bytes keep moving run far past the idle time (no overall deadline)', async () => {
    const url = await serve((req, res) => {
      let n = 0;
      req.on('data', (d: Buffer) => (n += d.length));
      req.on('end', () => res.end(String(n)));
    });
    const started = Date.now();
    // 12 chunks, one per 100 ms: 1.2 s against an idle time of 300 ms.
    const res = await t.request('PUT', url, { body: trickle(12, 100), idleMs: IDLE, timeoutMs: IDLE });
    expect(await readBody(res)).toBe(String(12 * 1024));
    expect(Date.now() - started).toBeGreaterThan(4 * IDLE);

    // An answer trickling in for longer than the idle time, too.
    const slow = await serve((_req, res) => {
      res.writeHead(200);
      void pipeline(trickle(12, 100), res);
    });
    const answer = await t.request('GET', slow, { idleMs: IDLE, timeoutMs: IDLE });
    expect((await readBody(answer)).length).toBe(12 * 1024);
  });

  it('fails a stream body the server stops reading, and closes its file', async () => {
    // The server reads nothing and never answers.
    const url = await serve(() => {});
    const body = fileStream(32 << 20);
    const started = Date.now();
    const err = await t.request('PUT', url, { body, idleMs: IDLE }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdleError);
    expect((err as Error).message).toBe(`PUT ${url}: no data moved for 0.3 s`);
    expect(Date.now() - started).toBeLessThan(10_000);
    if (!body.closed) await once(body, 'close');
    expect(body.destroyed).toBe(true);
  });

  it('fails a request whose whole body went but whose answer never comes', async () => {
    // The server reads the body and then says nothing (a host cut off while it works).
    const url = await serve((req) => {
      req.resume();
    });
    const err = await t.request('PUT', url, { body: trickle(2, 10), idleMs: IDLE }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdleError);
  });

  it('counts interim answers (102 Processing) as bytes moving', async () => {
    const url = await serve((req, res) => {
      req.resume();
      req.on('end', () => {
        // Busy for four idle times, saying so every 100 ms.
        const tick = setInterval(() => res.writeProcessing(), 100);
        setTimeout(() => {
          clearInterval(tick);
          res.end('done');
        }, 4 * IDLE);
      });
    });
    const res = await t.request('PUT', url, { body: trickle(2, 10), idleMs: IDLE });
    expect(await readBody(res)).toBe('done');
  });

  it('fails an answer that stops in the middle', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(1000));
    });
    const res = await t.request('GET', url, { idleMs: IDLE });
    expect(res.statusCode).toBe(200);
    const err = await readBody(res).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdleError);
    expect((err as Error).message).toMatch(/no data moved for 0\.3 s$/);
  });
});

describe('a failed request closes its body', () => {
  it('when nothing listens', async () => {
    const url = await serve(() => {});
    servers.pop()?.close();
    const body = fileStream(1 << 20);
    await expect(t.request('PUT', url, { body })).rejects.toThrow(/ECONNREFUSED/);
    if (!body.closed) await once(body, 'close');
    expect(body.destroyed).toBe(true);
  });

  it('when the host refuses an artifact before reading it all', async () => {
    const url = await serve((req, res) => {
      res.writeHead(400, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ code: 'validation_error', message: 'sha256 mismatch' }));
      req.socket.destroySoon();
    });
    const body = fileStream(16 << 20);
    await expect(pushArtifact(t, url, 'ab'.repeat(32), body)).rejects.toThrow(/sha256 mismatch/);
    if (!body.closed) await once(body, 'close');
    expect(body.destroyed).toBe(true);
  });

  it("when a volume's receive or its creation fails (the archive's stream is destroyed)", async () => {
    const calls: string[] = [];
    const url = await serve((req, res) => {
      calls.push(`${req.method} ${req.url}`);
      if (req.method === 'POST') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ id: 'v1' }));
      }
      if (req.method === 'DELETE') return void res.end();
      res.writeHead(400, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ message: 'zfs recv rejected snapshot data' }));
      req.socket.destroySoon();
    });
    const file = join(dir, 'stream.gz');
    writeFileSync(file, gzipSync(Buffer.alloc(8 << 20, 3)));
    const gz = createReadStream(file);
    await expect(receiveVolume(t, url, gz, {})).rejects.toThrow(/receive volume v1: 400 zfs recv rejected/);
    if (!gz.closed) await once(gz, 'close');
    expect(gz.destroyed).toBe(true);
    expect(calls).toEqual([
      'POST /storage/providers/default/volumes',
      'PUT /storage/volumes/v1/receive',
      'DELETE /storage/volumes/v1',
    ]);

    const refused = await serve((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'volumes disabled' }));
    });
    const unread = createReadStream(file);
    await expect(receiveVolume(t, refused, unread, {})).rejects.toThrow(
      /create volume: 503 volumes disabled/,
    );
    if (!unread.closed) await once(unread, 'close');
    expect(unread.destroyed).toBe(true);
  });
});

import { createHash } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StickyCodec } from '../src/index.js';
import { COOKIE_KEY, get, RawClient, route, startBackend, startProxy } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** A websocket echo backend built on node:http's upgrade event (frames echoed unmasked). */
async function wsBackend() {
  const server = http.createServer((_req, res) => res.writeHead(426).end('upgrade required'));
  server.on('upgrade', (req, socket: net.Socket) => {
    if (req.headers.upgrade !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = createHash('sha1')
      .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Seen-Host: ${req.headers['flynn-router-host']}\r\n\r\n`,
    );
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      // Minimal parser for small masked client frames.
      while (buf.length >= 6) {
        const len = buf[1] & 0x7f;
        if (buf.length < 6 + len) break;
        const mask = buf.subarray(2, 6);
        const payload = Buffer.from(buf.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]));
        socket.write(Buffer.concat([Buffer.from([buf[0], payload.length]), payload]));
        buf = buf.subarray(6 + len);
      }
    });
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { addr: `127.0.0.1:${port}`, port };
}

function maskedText(s: string): Buffer {
  const payload = Buffer.from(s);
  const mask = Buffer.from([1, 2, 3, 4]);
  return Buffer.concat([
    Buffer.from([0x81, 0x80 | payload.length]),
    mask,
    Buffer.from(payload.map((b, i) => b ^ mask[i % 4])),
  ]);
}

describe('streaming and upgrades', () => {
  it('delivers each server-sent event promptly', async () => {
    const p = await startProxy();
    cleanups.push(() => p.stop());
    let send: (s: string) => void = () => {};
    const b = await startBackend((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.flushHeaders();
      send = (s) => res.write(s);
    });
    cleanups.push(() => b.close());
    p.resolver.set('app.test', route(), [{ addr: b.addr }]);
    const c = new RawClient(p.port);
    cleanups.push(() => c.destroy());
    c.write(get('app.test', '/events'));
    // The response never ends: watch the raw bytes.
    expect(await waitForText(c, '\r\n\r\n', 2000)).toBe(true);
    expect(c.rest().toString('latin1')).toMatch(/^HTTP\/1.1 200 OK\r\n[\s\S]*Transfer-Encoding: chunked\r\n/);
    for (let i = 0; i < 5; i++) {
      const ev = `data: event ${i}\n\n`;
      send(ev);
      // chunked framing: "<hex>\r\n<data>\r\n"
      const expected = `${ev.length.toString(16)}\r\n${ev}\r\n`;
      // A buffering proxy would hold each event until the next one (or the end): each must
      // arrive on its own, before the next is sent.
      const got = await waitForText(c, expected, 5000);
      expect(got).toBe(true);
    }
  });

  it('proxies a websocket echo with the sticky cookie and splices both ways', async () => {
    const p = await startProxy();
    cleanups.push(() => p.stop());
    const ws = await wsBackend();
    p.resolver.set('app.test', route({ sticky: true }), [{ addr: ws.addr }]);
    const c = new RawClient(p.port);
    cleanups.push(() => c.destroy());
    c.write(
      get(
        'app.test',
        '/ws',
        'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
      ),
    );
    const r = await c.read();
    expect(r.status).toBe(101);
    expect(r.headers.upgrade).toEqual(['websocket']);
    expect(r.headers['sec-websocket-accept']).toEqual(['s3pPLMBiTxaQ9kYGzzhZRbK+xOo=']);
    expect(r.headers['x-seen-host']).toEqual(['router-1']);
    const cookie = r.headers['set-cookie'][0].split(';')[0].slice('_backend='.length);
    expect(new StickyCodec(COOKIE_KEY).decode(cookie)).toBe(ws.addr);
    expect(p.proxy.inFlight(ws.addr)).toBe(0);
    for (const msg of ['hello', 'world', 'x'.repeat(100)]) {
      c.write(maskedText(msg));
      const frame = await c.waitBytes(2 + msg.length);
      expect(frame.subarray(2).toString()).toBe(msg);
    }
    c.socket.end();
    await c.waitClosed();
  });

  it('holds bytes after an upgrade request; a non-101 answer leaves an ordinary connection', async () => {
    const p = await startProxy();
    cleanups.push(() => p.stop());
    const ws = await wsBackend();
    p.resolver.set('app.test', route(), [{ addr: ws.addr }]);
    const c = new RawClient(p.port);
    cleanups.push(() => c.destroy());
    c.write(get('app.test', '/ws', 'Upgrade: h2c\r\nConnection: Upgrade\r\n') + get('app.test', '/next'));
    const r = await c.read();
    expect(r.status).toBe(400);
    expect(r.headers.connection).toBeUndefined();
    // The second request was parsed and forwarded by the proxy, not spliced into the upgrade.
    const next = await c.read();
    expect(next.status).toBe(426);
  });

  it('answers 503 to an upgrade when no backend can be dialed', async () => {
    const p = await startProxy();
    cleanups.push(() => p.stop());
    p.resolver.set('app.test', route(), []);
    const c = new RawClient(p.port);
    cleanups.push(() => c.destroy());
    c.write(get('app.test', '/ws', 'Upgrade: websocket\r\nConnection: Upgrade\r\n'));
    expect((await c.read()).status).toBe(503);
  });
});

async function waitForText(c: RawClient, text: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = c.rest().toString('latin1');
    if (s.endsWith(text)) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

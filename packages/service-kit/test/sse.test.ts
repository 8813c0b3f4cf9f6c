import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, createLogger, type HttpServer, openSse, type SseStream } from '../src/index.js';
import { waitFor } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function fastifyApp(): HttpServer {
  const app = createHttpServer({
    component: 'discoverd',
    logger: createLogger({ component: 'discoverd', level: 'silent' }),
  });
  cleanups.push(() => app.close());
  return app;
}

async function listen(app: HttpServer): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}

function open(
  port: number,
  path: string,
): Promise<{ res: IncomingMessage; text: () => string; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      const ended = new Promise<void>((r) => res.on('close', () => r()));
      resolve({ res, text: () => text, ended });
    }).on('error', reject);
  });
}

describe('openSse', () => {
  it('writes events, comments and keep-alives with SSE framing', async () => {
    const app = fastifyApp();
    let stream: SseStream | undefined;
    app.get('/events', (_req, reply) => {
      reply.header('discoverd-index', '42');
      stream = openSse(reply, { keepAliveMs: 20 });
    });
    const port = await listen(app);
    const client = await open(port, '/events');
    expect(client.res.statusCode).toBe(200);
    expect(client.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(client.res.headers['cache-control']).toBe('no-cache');
    expect(client.res.headers.connection).toBe('keep-alive');
    expect(client.res.headers['discoverd-index']).toBe('42');

    await waitFor(() => client.text().includes(':\n'), 10_000, 'keep-alive comment');
    const s = stream!;
    expect(s.send(undefined, '{"kind":"up"}')).toBe(true);
    s.send('error', 'line one\nline two', '7');
    s.comment('hello');
    s.close();
    await client.ended;
    expect(s.closed).toBe(true);
    expect(s.closeReason).toBe('closed');
    expect(s.send(undefined, 'late')).toBe(false);
    const body = client.text().replaceAll(':\n', '');
    expect(body).toBe(
      'data: {"kind":"up"}\n\nevent: error\nid: 7\ndata: line one\ndata: line two\n\n: hello\n',
    );
  });

  it('rejects line breaks in event names and ids', async () => {
    const app = fastifyApp();
    let stream: SseStream | undefined;
    app.get('/events', (_req, reply) => {
      stream = openSse(reply, { keepAliveMs: 0 });
    });
    const client = await open(await listen(app), '/events');
    expect(() => stream!.send('a\nb', 'x')).toThrow(/line break/);
    expect(() => stream!.send('a', 'x', '1\r2')).toThrow(/line break/);
    stream!.close();
    await client.ended;
  });

  it('notices a client that went away', async () => {
    const app = fastifyApp();
    let stream: SseStream | undefined;
    app.get('/events', (_req, reply) => {
      stream = openSse(reply, { keepAliveMs: 0 });
    });
    const client = await open(await listen(app), '/events');
    await waitFor(() => stream !== undefined);
    client.res.destroy();
    await waitFor(() => stream!.closed, 10_000, 'stream to close');
    expect(stream!.closeReason).toBe('client');
    expect(stream!.send(undefined, 'x')).toBe(false);
  });

  it('ends open streams when the fastify server closes', async () => {
    const app = createHttpServer({
      component: 'discoverd',
      logger: createLogger({ component: 'discoverd', level: 'silent' }),
    });
    let stream: SseStream | undefined;
    app.get('/events', (_req, reply) => {
      stream = openSse(reply, { keepAliveMs: 0 });
    });
    const client = await open(await listen(app), '/events');
    await waitFor(() => stream !== undefined);
    await app.close();
    await client.ended;
    expect(stream!.closeReason).toBe('closed');
  });

  it('drops a subscriber that stops reading instead of buffering without bound', async () => {
    const limit = 256 * 1024;
    const chunk = 'x'.repeat(16 * 1024);
    let stream: SseStream | undefined;
    let maxBuffered = 0;
    let reason: string | undefined;
    const server: Server = createServer((_req, res) => {
      stream = openSse(res, {
        keepAliveMs: 0,
        maxBufferedBytes: limit,
        dropMessage: 'discoverd: channel send failed due to blocked receiver',
        dropGraceMs: 100,
        onClose: (r) => {
          reason = r;
        },
      });
      const pump = () => {
        maxBuffered = Math.max(maxBuffered, res.writableLength);
        if (stream!.send(undefined, chunk)) setImmediate(pump);
      };
      pump();
    });
    let serverSock: Socket | undefined;
    server.on('connection', (s) => {
      serverSock = s;
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const { port } = server.address() as AddressInfo;

    // A client that reads the response headers and then stops reading.
    const sock: Socket = connect(port, '127.0.0.1');
    sock.on('error', () => {}); // the server resets it
    cleanups.push(() => sock.destroy());
    sock.once('data', () => sock.pause());
    sock.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');

    await waitFor(() => stream?.closed === true, 30_000, 'slow subscriber to be dropped');
    expect(reason).toBe('overflow');
    expect(stream!.closeReason).toBe('overflow');
    // Never more than the limit plus the one event that crossed it.
    expect(maxBuffered).toBeLessThanOrEqual(limit + chunk.length + 64);
    // The connection itself is torn down after the grace period.
    await waitFor(() => serverSock?.destroyed === true, 10_000, 'server side of the socket to close');
  });
});

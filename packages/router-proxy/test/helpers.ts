import http from 'node:http';
import net from 'node:net';
import {
  type BodyFraming,
  createScanState,
  parseResponseHead,
  type ResponseHead,
  responseFraming,
} from '@flynn-edge/http1';
import type { HTTPRoute } from '@flynn-edge/router-core';
import type { Backend, ConnectionInfo, HttpProxyOptions, ResolvedRoute } from '../src/index.js';
import { HttpProxy } from '../src/index.js';

export const COOKIE_KEY = Buffer.alloc(32, 7);

export function route(over: Partial<HTTPRoute & { https_redirect: boolean }> = {}): HTTPRoute & {
  https_redirect?: boolean;
} {
  return {
    id: 'r1',
    type: 'http',
    service: 'app',
    domain: 'app.test',
    path: '/',
    sticky: false,
    leader: false,
    drain_backends: true,
    disable_keep_alives: false,
    created_at: '',
    updated_at: '',
    ...over,
  } as HTTPRoute;
}

/** A resolver over a mutable map of host → route and backends. */
export class TestResolver {
  readonly routes = new Map<string, ResolvedRoute>();
  set(host: string, r: HTTPRoute, backends: Backend[]): ResolvedRoute {
    const v = { route: r, backends };
    this.routes.set(host, v);
    return v;
  }
  resolve(host: string | undefined): ResolvedRoute | undefined {
    const h = (host ?? '').toLowerCase().replace(/:\d+$/, '');
    return this.routes.get(h);
  }
}

export interface ProxyHandle {
  proxy: HttpProxy;
  port: number;
  server: net.Server;
  resolver: TestResolver;
  stop(): Promise<void>;
}

export async function startProxy(
  opts: Partial<HttpProxyOptions> = {},
  info: Partial<ConnectionInfo> = {},
): Promise<ProxyHandle> {
  const resolver = (opts.resolver as TestResolver | undefined) ?? new TestResolver();
  const proxy = new HttpProxy({ resolver, cookieKey: COOKIE_KEY, hostName: 'router-1', ...opts });
  const server = net.createServer({ allowHalfOpen: true }, (s) =>
    proxy.handleConnection(s, { listenerPort: 8080, scheme: 'http', ...info }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    proxy,
    port,
    server,
    resolver,
    async stop() {
      server.close();
      await proxy.close(500);
    },
  };
}

export interface Echo {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  port: number;
}

/** A node:http backend that answers JSON describing the request (or runs `handler`). */
export async function startBackend(
  handler?: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void,
): Promise<{
  server: http.Server;
  addr: string;
  port: number;
  connections: () => number;
  close(): Promise<void>;
}> {
  let conns = 0;
  const port0 = { port: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      if (handler) return handler(req, res, body);
      const echo: Echo = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
        port: port0.port,
      };
      const out = JSON.stringify(echo);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  server.on('connection', () => conns++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  port0.port = port;
  return {
    server,
    port,
    addr: `127.0.0.1:${port}`,
    connections: () => conns,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * A backend that answers the first request of each connection and drops the connection on the
 * second one without answering: what a keep-alive race looks like from the proxy.
 */
export async function startStaleBackend(): Promise<{
  addr: string;
  connections: () => number;
  close(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let n = 0;
    s.on('data', () => {
      if (++n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else s.destroy();
    });
    s.on('error', () => {});
  });
  let conns = 0;
  server.on('connection', () => conns++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    addr: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections: () => conns,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** An address nothing listens on (a port we bound and released). */
export async function deadAddr(): Promise<string> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `127.0.0.1:${port}`;
}

export interface Response {
  status: number;
  head: ResponseHead;
  headers: Record<string, string[]>;
  body: Buffer;
  raw: Buffer;
}

/** A raw TCP client that reads responses with the strict parser. */
export class RawClient {
  readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  ended = false;
  closed = false;
  private waiters: (() => void)[] = [];
  readonly connected: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1' });
    this.connected = new Promise((r) => this.socket.once('connect', () => r()));
    this.socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake();
    });
    this.socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private next(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timeout; got ${JSON.stringify(this.buf.toString('latin1'))}`)),
        timeoutMs,
      );
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Reads one response (skipping 1xx unless `interim`); method decides the framing. */
  async read(method = 'GET', timeoutMs = 5000, interim = false): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    const scan = createScanState();
    for (;;) {
      const r = parseResponseHead(this.buf, 0, undefined, scan);
      if ('error' in r) throw new Error(`bad response: ${r.error.reason}: ${this.buf.toString('latin1')}`);
      if (r.done) {
        const framing: BodyFraming = responseFraming(method, r.head);
        if (framing.kind === 'interim' && !interim) {
          this.buf = this.buf.subarray(r.consumed);
          continue;
        }
        let off = r.consumed;
        for (;;) {
          const n = framing.feed(this.buf, off, this.buf.length);
          if (n < 0) throw new Error(`bad body: ${framing.error}`);
          off += n;
          if (
            framing.done ||
            (framing.kind === 'close' && this.ended) ||
            framing.kind === 'tunnel' ||
            framing.kind === 'interim'
          )
            break;
          if (this.ended) throw new Error(`connection ended mid-body: ${this.buf.toString('latin1')}`);
          await this.next(deadline - Date.now());
        }
        const raw = this.buf.subarray(0, off);
        this.buf = this.buf.subarray(off);
        const headers: Record<string, string[]> = {};
        for (const [n, v] of r.head.headers) {
          const k = n.toLowerCase();
          if (headers[k] === undefined) headers[k] = [];
          headers[k].push(v);
        }
        return {
          status: r.head.status,
          head: r.head,
          headers,
          body: decodeBody(raw.subarray(r.consumed), r.head.chunked),
          raw,
        };
      }
      if (this.ended)
        throw new Error(`connection closed; got ${JSON.stringify(this.buf.toString('latin1'))}`);
      await this.next(deadline - Date.now());
    }
  }

  /** Bytes received beyond the parsed responses. */
  rest(): Buffer {
    return this.buf;
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) await this.next(deadline - Date.now());
  }

  async waitBytes(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < n) {
      if (this.ended) throw new Error('closed');
      await this.next(deadline - Date.now());
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function decodeBody(b: Buffer, chunked: boolean): Buffer {
  if (!chunked) return b;
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const lf = b.indexOf('\r\n', i);
    const size = Number.parseInt(b.toString('latin1', i, lf).split(';')[0], 16);
    if (!size) break;
    out.push(b.subarray(lf + 2, lf + 2 + size));
    i = lf + 2 + size + 2;
  }
  return Buffer.concat(out);
}

export function get(host: string, path = '/', extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
}

export function json<T = Echo>(r: Response): T {
  return JSON.parse(r.body.toString()) as T;
}

import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import {
  type BodyFraming,
  createScanState,
  type Header,
  isValidRequestId,
  parseResponseHead,
  type ResponseHead,
  responseFraming,
  serializeHead,
} from '@flynn-edge/http1';
import { BackendAttempt } from './backend-attempt.js';
import { Dechunker } from './dechunk.js';
import type { BackendConn, BackendOwner } from './pool.js';
import { type ProxyCore, type RequestRecord, recordRequest } from './proxy-core.js';
import { clientIp } from './request-head.js';
import { STICKY_COOKIE } from './sticky.js';
import type { Backend, ConnectionInfo, ResolvedRoute } from './types.js';

const END_STREAM = http2.constants.NGHTTP2_FLAG_END_STREAM;

/** Request fields never forwarded from HTTP/2 (connection-specific, RFC 9113 §8.2.2). */
const H2_DROP_REQ = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'host',
]);
/** Response fields never forwarded to HTTP/2. */
const H2_DROP_RES = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

function stickyFromCookies(cookie: string | string[] | undefined): string | undefined {
  if (cookie === undefined) return undefined;
  const all = Array.isArray(cookie) ? cookie.join('; ') : cookie;
  for (const part of all.split(';')) {
    const eq = part.indexOf('=');
    if (eq >= 0 && part.slice(0, eq).trim() === STICKY_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * HTTP/2 (ALPN h2) front end: each stream is proxied to a backend over the same pooled
 * HTTP/1.1 connections, with the same selection, headers and sticky rules as HTTP/1.
 */
export class Http2Bridge {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private pending: { info: ConnectionInfo; addr: string } | null = null;
  private readonly info = new WeakMap<http2.ServerHttp2Session, { info: ConnectionInfo; addr: string }>();

  constructor(private readonly core: ProxyCore) {
    this.server = http2.createServer({ settings: { maxConcurrentStreams: 250 }, maxSessionMemory: 16 });
    this.server.on('session', (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      if (this.pending !== null) {
        this.info.set(session, this.pending);
        this.pending = null;
        session.setTimeout(this.core.timeouts.idleMs, () => session.close());
      }
      session.on('close', () => this.sessions.delete(session));
      session.on('error', () => {});
    });
    this.server.on('stream', (stream, headers, flags) => {
      const meta = this.info.get(stream.session as http2.ServerHttp2Session);
      if (meta === undefined) {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      new H2Request(this.core, stream, headers, (flags & END_STREAM) !== 0, meta.info, meta.addr).begin();
    });
    this.server.setTimeout(0);
  }

  get openSessions(): number {
    return this.sessions.size;
  }

  handle(socket: TLSSocket, info: ConnectionInfo): void {
    // The server creates the session synchronously inside emit('connection').
    this.pending = { info, addr: clientIp(info.clientAddress ?? socket.remoteAddress) };
    this.server.emit('connection', socket);
    this.pending = null;
  }

  /** GOAWAY every session; resolves when they are closed. */
  close(): Promise<void> {
    const all = [...this.sessions].map(
      (s) =>
        new Promise<void>((r) => {
          if (s.closed) return r();
          s.once('close', () => r());
          s.close();
        }),
    );
    return Promise.all(all).then(() => undefined);
  }
}

/** One HTTP/2 stream proxied as an HTTP/1.1 request. */
class H2Request implements BackendOwner, RequestRecord {
  private resolved: ResolvedRoute | undefined;
  routeLabel = '_none';
  readonly start: number;
  requestId = '';
  private head: Buffer = Buffer.alloc(0);
  private attempt: BackendAttempt | null = null;
  private bconn: BackendConn | null = null;
  private resSeen = false;
  private resBuf: Buffer | null = null;
  private readonly resScan = createScanState();
  private resHead: ResponseHead | null = null;
  private framing: BodyFraming | null = null;
  private dechunk: Dechunker | null = null;
  status = 0;
  private done = false;
  private readonly chunkedBody: boolean;
  private readonly bodiless: boolean;
  private bodyDone: boolean;
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly scheme: 'http' | 'https';

  constructor(
    private readonly core: ProxyCore,
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    endStream: boolean,
    private readonly info: ConnectionInfo,
    readonly clientAddr: string,
  ) {
    this.start = core.clock();
    this.method = String(headers[':method'] ?? 'GET');
    this.path = String(headers[':path'] ?? '/');
    this.host = String(headers[':authority'] ?? headers.host ?? '');
    this.scheme = info.scheme;
    this.bodiless = endStream;
    this.bodyDone = endStream;
    this.chunkedBody = !endStream && headers['content-length'] === undefined;
    stream.on('error', () => {});
    stream.on('close', () => this.onStreamClose());
  }

  begin(): void {
    const core = this.core;
    this.resolved = core.resolver.resolve(this.host, this.info.listenerPort, this.path);
    if (this.resolved === undefined) {
      this.answer(404, 'Not Found\n');
      return;
    }
    const route = this.resolved.route;
    this.routeLabel = core.routeLabel(route);
    const rid = this.headers['x-request-id'];
    this.requestId = typeof rid === 'string' && isValidRequestId(rid) ? rid : randomUUID();
    let stickyAddr: string | undefined;
    if (route.sticky) {
      const c = stickyFromCookies(this.headers.cookie);
      if (c !== undefined) stickyAddr = core.sticky.decode(c);
    }
    try {
      this.head = this.buildHead();
    } catch {
      this.answer(400, 'Bad Request\n');
      return;
    }
    this.stream.pause();
    this.attempt = new BackendAttempt(core, this.resolved.backends, stickyAddr);
    this.use(this.attempt.connect(this));
  }

  private buildHead(): Buffer {
    const fields: Header[] = [['Host', this.host]];
    const h = this.headers;
    const xff: string[] = [];
    const xfp: string[] = [];
    const xport: string[] = [];
    for (const name of Object.keys(h)) {
      if (name.charCodeAt(0) === 58 || H2_DROP_REQ.has(name)) continue;
      const v = h[name];
      if (v === undefined) continue;
      const values = Array.isArray(v) ? v : [v];
      switch (name) {
        case 'x-forwarded-for':
          xff.push(...values);
          continue;
        case 'x-forwarded-proto':
          xfp.push(...values);
          continue;
        case 'x-forwarded-port':
          xport.push(...values);
          continue;
        case 'x-request-start':
        case 'x-request-id':
        case 'flynn-router-host':
          continue;
        case 'cookie':
          fields.push(['Cookie', values.join('; ')]);
          continue;
      }
      for (const value of values) fields.push([name, value]);
    }
    fields.push(['X-Forwarded-For', [...xff, this.clientAddr].join(', ')]);
    fields.push(['X-Forwarded-Proto', [...xfp, this.info.scheme].join(', ')]);
    fields.push(['X-Forwarded-Port', [...xport, String(this.info.listenerPort)].join(', ')]);
    fields.push(['X-Request-Start', String(this.start)]);
    fields.push(['X-Request-Id', this.requestId]);
    fields.push(['Flynn-Router-Host', this.core.hostName]);
    if (this.chunkedBody) fields.push(['Transfer-Encoding', 'chunked']);
    if (this.resolved!.route.disable_keep_alives) fields.push(['Connection', 'close']);
    return serializeHead(`${this.method} ${this.path} HTTP/1.1`, fields);
  }

  private use(c: BackendConn | null): void {
    if (c === null) {
      this.answer(503);
      return;
    }
    this.bconn = c;
    if (c.connected) this.onBackendConnect(c);
  }

  onBackendConnect(c: BackendConn): void {
    if (c !== this.bconn || this.done) return;
    c.socket.write(this.head);
    if (this.bodyDone) return;
    this.stream.on('data', (d: Buffer) => {
      const out = this.chunkedBody
        ? Buffer.concat([Buffer.from(`${d.length.toString(16)}\r\n`), d, Buffer.from('\r\n')])
        : d;
      if (!c.socket.write(out)) this.stream.pause();
    });
    this.stream.on('end', () => {
      this.bodyDone = true;
      if (this.chunkedBody && !c.isClosed) c.socket.write('0\r\n\r\n');
    });
    this.stream.resume();
  }

  onBackendDialError(c: BackendConn): void {
    if (c !== this.bconn) return;
    this.bconn = null;
    this.use(this.attempt!.redial(this));
  }

  onBackendDrain(c: BackendConn): void {
    if (c === this.bconn && !this.bodyDone) this.stream.resume();
  }

  onBackendData(c: BackendConn, chunk: Buffer): void {
    if (c !== this.bconn || this.done) return;
    this.resSeen = true;
    if (this.framing !== null) {
      this.body(chunk, 0);
      return;
    }
    const buf = this.resBuf === null ? chunk : Buffer.concat([this.resBuf, chunk]);
    this.resBuf = null;
    let off = 0;
    for (;;) {
      const r = parseResponseHead(buf, off, undefined, this.resScan);
      if ('error' in r) {
        this.fail();
        return;
      }
      if (!r.done) {
        this.resBuf = buf.subarray(off);
        return;
      }
      off += r.consumed;
      const framing = responseFraming(this.method, r.head);
      if (framing.kind === 'interim') continue; // HTTP/2 clients do not need 1xx relayed
      if (framing.kind === 'tunnel') {
        this.fail();
        return;
      }
      this.respond(r.head, framing);
      this.body(buf, off);
      return;
    }
  }

  private respond(head: ResponseHead, framing: BodyFraming): void {
    this.resHead = head;
    this.framing = framing;
    this.status = head.status;
    if (head.chunked) {
      this.dechunk = new Dechunker((d) => {
        if (!this.stream.write(d)) this.bconn?.socket.pause();
      });
    }
    const out: http2.OutgoingHttpHeaders = { ':status': head.status };
    const drop = new Set<string>();
    for (const [n, v] of head.headers) {
      if (n.toLowerCase() === 'connection') for (const t of v.split(',')) drop.add(t.trim().toLowerCase());
    }
    const cookies: string[] = [];
    for (const [n, v] of head.headers) {
      const l = n.toLowerCase();
      if (H2_DROP_RES.has(l) || drop.has(l)) continue;
      if (l === 'set-cookie') cookies.push(v);
      else if (l === 'content-length' && head.chunked) continue;
      else {
        const prev = out[l];
        out[l] = prev === undefined ? v : `${prev}, ${v}`;
      }
    }
    const addr = this.attempt!.backend!.addr;
    if (this.resolved!.route.sticky && addr !== this.attempt!.stickyAddr) {
      cookies.push(`${STICKY_COOKIE}=${this.core.sticky.encode(addr)}; Path=/`);
    }
    if (cookies.length > 0) out['set-cookie'] = cookies;
    try {
      this.stream.respond(out, { endStream: framing.done && framing.kind === 'none' });
    } catch {
      this.fail();
    }
  }

  private body(buf: Buffer, off: number): void {
    const f = this.framing!;
    const n = f.feed(buf, off, buf.length);
    if (n < 0) {
      this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      this.finish(false);
      return;
    }
    if (n > 0) {
      if (this.dechunk !== null) this.dechunk.feed(buf, off, off + n);
      else if (!this.stream.write(buf.subarray(off, off + n))) this.bconn?.socket.pause();
    }
    if (f.done) {
      if (!this.stream.writableEnded) this.stream.end();
      this.finish(off + n === buf.length);
    }
  }

  private finish(clean: boolean): void {
    if (this.done) return;
    this.done = true;
    const c = this.bconn;
    this.bconn = null;
    if (c !== null) {
      const reusable =
        clean &&
        this.bodyDone &&
        this.resHead !== null &&
        this.framing?.done &&
        this.framing.reusable &&
        this.resHead.keepAlive &&
        !this.resolved!.route.disable_keep_alives;
      if (c.socket.isPaused()) c.socket.resume();
      if (reusable) this.core.pool.release(c);
      else c.destroy();
    }
    this.releaseCount();
    this.record();
  }

  onBackendEnd(c: BackendConn): void {
    if (c !== this.bconn) return;
    if (!this.resSeen && !this.done) {
      this.bconn = null;
      c.destroy();
      const retry = this.attempt!.retryStale(this, this.method, this.bodiless);
      if (retry !== null) {
        this.bconn = retry;
        return;
      }
    }
    if (this.framing?.kind === 'close') {
      this.stream.end();
      this.finish(false);
    } else this.fail();
  }

  onBackendClose(c: BackendConn): void {
    this.onBackendEnd(c);
  }

  private fail(): void {
    if (this.done) return;
    if (this.framing === null) {
      this.answer(503);
      return;
    }
    this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    this.finish(false);
  }

  private answer(status: number, text?: string): void {
    if (this.done) return;
    const c = this.bconn;
    this.bconn = null;
    c?.destroy();
    this.status = status;
    const page = status === 503 ? this.core.canned.page503 : undefined;
    const body = page ?? Buffer.from(text ?? 'Service Unavailable\n');
    if (!this.stream.destroyed && !this.stream.headersSent) {
      this.stream.respond({
        ':status': status,
        'content-type': page ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8',
        'content-length': body.length,
      });
      this.stream.end(body);
    }
    this.done = true;
    this.releaseCount();
    this.record();
  }

  private onStreamClose(): void {
    if (this.done) return;
    this.done = true;
    this.status = 499;
    const c = this.bconn;
    this.bconn = null;
    c?.destroy();
    this.releaseCount();
    this.record();
  }

  private releaseCount(): void {
    this.attempt?.release();
  }

  private record(): void {
    recordRequest(this.core, this);
  }

  get backend(): Backend | null {
    return this.attempt?.backend ?? null;
  }

  get connReused(): boolean {
    return this.attempt?.reused ?? false;
  }
}

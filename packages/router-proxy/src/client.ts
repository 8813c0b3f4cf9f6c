import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  type BodyFraming,
  backendReusable,
  createScanState,
  type HeadEdits,
  type Header,
  type HeadScanState,
  isDigits,
  isValidRequestId,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
  requestFraming,
  responseFraming,
  rewriteRequestHead,
  rewriteResponseHead,
} from '@flynn-edge/http1';
import { normaliseHost } from '@flynn-edge/router-core';
import { parseAbsoluteTarget } from './absolute-form.js';
import { Dechunker } from './dechunk.js';
import { fastRewrite, type ProxyFields } from './fast-rewrite.js';
import type { BackendConn, BackendOwner } from './pool.js';
import type { ProxyCore } from './proxy-core.js';
import { parseProxyLine } from './proxy-protocol.js';
import { simpleResponse } from './responses.js';
import { selectBackend, upgradeOrder } from './select.js';
import { findStickyCookie, STICKY_COOKIE } from './sticky.js';
import type { Backend, ConnectionInfo, ResolvedRoute } from './types.js';
import type { Waiter } from './waiting-list.js';

enum St {
  Proxy, // waiting for the PROXY protocol line
  Head, // reading a request head
  Dial, // request parsed, connecting to a backend
  Body, // head sent, forwarding the request body
  Wait, // request sent, waiting for (the rest of) the response
  Tunnel, // upgraded: bytes spliced both ways
  Closing, // ended our side, waiting for the client to go
  Closed,
}

export enum Deadline {
  None,
  Idle,
  Header,
  Response,
  Linger,
}

/** Pause reading a client when this much unprocessed input is buffered. */
const MAX_BUFFERED = 1 << 20;
/** Concatenate a rewritten head with body bytes below this size (one write, one syscall). */
const COALESCE = 16 * 1024;
const MAX_ATTEMPTS = 4;
/** How long close() still accepts a request on an idle keep-alive connection. */
const SHUTDOWN_GRACE_MS = 250;

const CLOSE_EDITS: HeadEdits = { set: [['Connection', 'close']] };
const KEEPALIVE_EDITS: HeadEdits = { set: [['Connection', 'keep-alive']] };
const NO_EDITS: HeadEdits = {};
const EMPTY = Buffer.alloc(0);

function isIdempotent(method: string): boolean {
  return (
    method === 'GET' ||
    method === 'HEAD' ||
    method === 'OPTIONS' ||
    method === 'PUT' ||
    method === 'DELETE' ||
    method === 'TRACE'
  );
}

/** 0: ordinary, 1: hop-by-hop, 2: Content-Length. Cached per (interned) name string. */
const nameKinds = new Map<string, number>();

function nameKind(name: string): number {
  let k = nameKinds.get(name);
  if (k === undefined) {
    const l = name.toLowerCase();
    k =
      l === 'content-length'
        ? 2
        : l === 'te' ||
            l === 'trailer' ||
            l === 'upgrade' ||
            l === 'connection' ||
            l === 'keep-alive' ||
            l === 'proxy-connection' ||
            l === 'transfer-encoding'
          ? 1
          : 0;
    if (nameKinds.size > 4096) nameKinds.clear();
    nameKinds.set(name, k);
  }
  return k;
}

/** Whether a response head can be forwarded byte for byte (no hop-by-hop fields, HTTP/1.1). */
function forwardableAsIs(head: ResponseHead): boolean {
  if (head.versionMinor !== 1) return false;
  const hs = head.headers;
  let lengths = 0;
  for (let i = 0; i < hs.length; i++) {
    const k = nameKind(hs[i][0]);
    if (k === 1) return false;
    // A folded list like "5, 5" is re-emitted as a single value by the rewrite.
    if (k === 2 && (++lengths > 1 || !isDigits(hs[i][1]))) return false;
  }
  return true;
}

function clientIp(addr: string | undefined): string {
  if (addr === undefined) return '';
  return addr.startsWith('::ffff:') && addr.indexOf('.') > 0 ? addr.slice(7) : addr;
}

function withSetCookie(head: Buffer, cookie: string): Buffer {
  return Buffer.concat([
    head.subarray(0, head.length - 2),
    Buffer.from(`Set-Cookie: ${STICKY_COOKIE}=${cookie}; Path=/\r\n\r\n`, 'latin1'),
  ]);
}

/** One client connection: parses request heads, forwards each request, relays its response. */
export class ClientConn implements BackendOwner, Waiter {
  readonly socket: Socket;
  private readonly core: ProxyCore;
  private readonly info: ConnectionInfo;
  private clientAddr: string;
  private state: St;
  private inBuf: Buffer | null = null;
  private readonly scan: HeadScanState = createScanState();
  private readonly resScan: HeadScanState = createScanState();
  private readonly edits: HeadEdits;
  private readonly setEdits: Header[];
  private readonly fields: ProxyFields;
  deadline = Number.POSITIVE_INFINITY;
  deadlineKind = Deadline.None;
  prevWaiting: Waiter | null = null;
  nextWaiting: Waiter | null = null;
  waiting = false;
  private clientEnded = false;
  private paused = false;
  private closeAfter = false;
  private inProcess = false;
  private waitingDrain = false;

  // Per-request state (reset in startRequest).
  private head: RequestHead | null = null;
  /** The authority of an absolute-form target: sent as Host instead of the client's. */
  private targetHost: string | null = null;
  private resolved: ResolvedRoute | null = null;
  private routeLabel = '_none';
  private start = 0;
  private requestId = '';
  private stickyAddr: string | undefined = undefined;
  private reqHeadBuf: Buffer = EMPTY;
  private reqFraming: BodyFraming | null = null;
  private reqBodyDone = true;
  private attempts = 0;
  private readonly tried: string[] = [];
  private backend: Backend | null = null;
  private bconn: BackendConn | null = null;
  private counted = false;
  private connReused = false;
  private retriedStale = false;
  private resSeen = false;
  private resInBody = false;
  private resBuf: Buffer | null = null;
  private resHead: ResponseHead | null = null;
  private resFraming: BodyFraming | null = null;
  private resDirty = false;
  /** Set when a chunked response goes to an HTTP/1.0 client, which gets the data until close. */
  private dechunk: Dechunker | null = null;
  private readonly writeData = (d: Buffer): void => {
    if (!this.write(d)) this.bconn?.socket.pause();
  };
  private closeClient = false;
  private status = 0;
  private upgrade = false;
  private upgradeOrder: string[] = [];

  constructor(core: ProxyCore, socket: Socket, info: ConnectionInfo) {
    this.core = core;
    this.socket = socket;
    this.info = info;
    this.clientAddr = clientIp(info.clientAddress ?? socket.remoteAddress);
    this.setEdits = [
      ['X-Request-Start', ''],
      ['X-Request-Id', ''],
      ['Flynn-Router-Host', core.hostName],
    ];
    this.edits = { append: this.appendEdits(), set: this.setEdits };
    this.fields = {
      forwardedFor: this.clientAddr,
      forwardedProto: info.scheme,
      forwardedPort: String(info.listenerPort),
      requestStart: '',
      requestId: '',
      routerHost: core.hostName,
    };
    this.state = core.proxyProtocol && info.clientAddress === undefined ? St.Proxy : St.Head;
    socket.allowHalfOpen = true; // answer a request whose client already sent FIN
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.onDrain());
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
    // The first head (and the PROXY line) must arrive within headerMs of the accept, so a socket
    // that sends nothing is not held for the idle timeout.
    this.setDeadline(Deadline.Header);
    if (info.acceptedAt !== undefined) this.deadline = info.acceptedAt + core.timeouts.headerMs;
  }

  private appendEdits(): Header[] {
    return [
      ['X-Forwarded-For', this.clientAddr],
      ['X-Forwarded-Proto', this.info.scheme],
      ['X-Forwarded-Port', String(this.info.listenerPort)],
    ];
  }

  private setDeadline(kind: Deadline): void {
    this.deadlineKind = kind;
    const t = this.core.timeouts;
    switch (kind) {
      case Deadline.None:
        this.deadline = Number.POSITIVE_INFINITY;
        break;
      case Deadline.Idle:
        this.deadline = this.core.clock() + t.idleMs;
        break;
      case Deadline.Header:
        this.deadline = this.core.clock() + t.headerMs;
        break;
      case Deadline.Response:
        this.deadline = this.core.clock() + t.responseHeaderMs;
        break;
      case Deadline.Linger:
        this.deadline = this.core.clock() + 2000;
        break;
    }
  }

  /** Called by the proxy's ticker when `deadline` has passed. */
  expire(): void {
    switch (this.deadlineKind) {
      case Deadline.Response:
        this.core.logger?.warn(
          { request_id: this.requestId, addr: this.backend?.addr },
          'response header timeout',
        );
        this.backendGone(true);
        return;
      case Deadline.Idle:
        this.endClient(); // between requests: a clean FIN
        return;
      default:
        this.socket.destroy();
    }
  }

  /** Closed to make room at the connection cap (the proxy took it off the waiting list). */
  evict(): void {
    this.core.forget(this);
    this.socket.destroy();
  }

  /** Graceful shutdown: close now if idle between requests, else after the current response. */
  shutdown(): void {
    this.closeAfter = true;
    if (this.state === St.Proxy) this.socket.destroy();
    else if (this.state === St.Head && (this.inBuf === null || this.inBuf.length === 0)) {
      // A request may already be on its way (the keep-alive race): give it a short grace in
      // which it is still answered (with Connection: close), then close with a FIN.
      const soon = this.core.clock() + SHUTDOWN_GRACE_MS;
      if (soon < this.deadline) this.deadline = soon;
    }
  }

  get idleBetweenRequests(): boolean {
    return this.state === St.Head && (this.inBuf === null || this.inBuf.length === 0);
  }

  // ---- client socket events ----

  private onData(chunk: Buffer): void {
    const st = this.state;
    if (st === St.Tunnel) {
      const b = this.bconn;
      if (b !== null && !b.socket.write(chunk)) this.pause();
      else if (b === null && this.inBuf !== null) this.inBuf = Buffer.concat([this.inBuf, chunk]);
      else if (b === null) this.inBuf = chunk;
      return;
    }
    if (st >= St.Closing) return;
    const buf = this.inBuf;
    this.inBuf = buf === null || buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (st === St.Head) {
      if (this.deadlineKind === Deadline.Idle) this.setDeadline(Deadline.Header);
      this.processHeads();
    } else if (st === St.Proxy) {
      this.processProxyLine();
    } else if (st === St.Body) {
      this.pumpBody();
    }
    if (this.inBuf !== null && this.inBuf.length > MAX_BUFFERED && this.state !== St.Head) this.pause();
  }

  private onEnd(): void {
    this.clientEnded = true;
    switch (this.state) {
      case St.Tunnel:
        this.bconn?.socket.end();
        return;
      case St.Proxy:
      case St.Head:
        // An incomplete head can never complete now.
        this.endClient();
        return;
      case St.Closing:
        this.socket.destroy();
        return;
      default:
        if (this.upgrade) {
          // Passed on to the backend if it agrees to upgrade (startTunnel), else we close after the answer.
          this.closeAfter = true;
          return;
        }
        // Like Go's server and nginx: a client that hangs up mid-request is gone (499).
        this.socket.destroy();
    }
  }

  private onDrain(): void {
    if (this.waitingDrain) {
      this.waitingDrain = false;
      if (this.state === St.Head) {
        this.resume();
        this.processHeads();
      }
    }
    const b = this.bconn;
    if (b?.socket.isPaused()) b.socket.resume();
  }

  private onClose(): void {
    const wasActive = this.state >= St.Dial && this.state <= St.Wait;
    const st = this.state;
    this.state = St.Closed;
    this.core.forget(this);
    const b = this.bconn;
    this.bconn = null;
    if (b !== null) {
      if (st === St.Tunnel) b.socket.end();
      else b.destroy();
    }
    if (wasActive) {
      if (this.counted && this.backend !== null) this.core.pool.dec(this.backend.addr);
      this.counted = false;
      this.status = 499;
      this.record();
    }
  }

  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private resume(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  // ---- request heads ----

  private processProxyLine(): void {
    const buf = this.inBuf!;
    const r = parseProxyLine(buf);
    if ('error' in r) {
      this.core.logger?.warn({ client_addr: this.clientAddr, error: r.error }, 'bad PROXY protocol line');
      this.socket.destroy();
      return;
    }
    if (!r.done) return;
    if (r.source !== undefined) {
      this.clientAddr = r.source.address;
      this.edits.append = this.appendEdits();
      this.fields.forwardedFor = this.clientAddr;
    }
    this.inBuf = r.consumed === buf.length ? null : buf.subarray(r.consumed);
    this.state = St.Head; // the header deadline, set at accept, still runs
    if (this.inBuf !== null) this.processHeads();
  }

  private processHeads(): void {
    if (this.inProcess) return; // the loop below picks up what a nested call would
    this.inProcess = true;
    try {
      this.processHeadsLoop();
    } finally {
      this.inProcess = false;
    }
  }

  private processHeadsLoop(): void {
    while (this.state === St.Head) {
      const buf = this.inBuf;
      if (buf === null || buf.length === 0) return;
      if (this.socket.writableLength > MAX_BUFFERED) {
        // Answers (404s, 503s) to a pipelined flood pile up unread: wait for the client.
        this.pause();
        this.waitingDrain = true;
        return;
      }
      const r = parseRequestHead(buf, 0, this.core.limits, this.scan);
      if ('error' in r) {
        this.rejectHead(r.error.status, r.error.reason);
        return;
      }
      if (!r.done) return;
      this.inBuf = r.consumed === buf.length ? null : buf.subarray(r.consumed);
      this.startRequest(r.head, buf, r.consumed);
    }
  }

  private rejectHead(status: number, reason: string): void {
    this.core.logger?.debug?.({ client_addr: this.clientAddr, status, reason }, 'bad request');
    this.status = status;
    this.start = this.core.clock();
    this.head = null;
    this.resolved = null;
    this.routeLabel = '_none';
    this.write(simpleResponse(status, `${reason}\n`, true));
    this.record();
    this.endClient();
  }

  private startRequest(parsed: RequestHead, raw: Buffer, rawEnd: number): void {
    const core = this.core;
    core.waiting.remove(this);
    let head = parsed;
    this.targetHost = null;
    if (head.target.charCodeAt(0) !== 47 && head.target !== '*') {
      const abs = parseAbsoluteTarget(head.target);
      if (abs !== null && 'error' in abs) {
        this.rejectHead(400, abs.error);
        return;
      }
      if (abs !== null) {
        head = { ...head, target: abs.path, host: abs.host };
        this.targetHost = abs.host;
      }
    }
    this.head = head;
    this.start = core.clock();
    this.status = 0;
    this.attempts = 0;
    this.tried.length = 0;
    this.backend = null;
    this.counted = false;
    this.connReused = false;
    this.retriedStale = false;
    this.resSeen = false;
    this.resInBody = false;
    this.resBuf = null;
    this.resHead = null;
    this.resFraming = null;
    this.resDirty = false;
    this.dechunk = null;
    this.closeClient = false;
    this.upgrade = false;
    this.stickyAddr = undefined;
    this.setDeadline(Deadline.None);
    if (!head.keepAlive || core.closing || this.clientEnded) this.closeAfter = true;
    this.reqFraming = requestFraming(head);
    this.reqBodyDone = this.reqFraming.done;

    let requestId = '';
    const hs = head.headers;
    for (let i = 0; i < hs.length; i++) {
      const n = hs[i][0];
      if (n.length === 12 && (n === 'X-Request-Id' || n.toLowerCase() === 'x-request-id')) {
        if (isValidRequestId(hs[i][1])) requestId = hs[i][1];
        break;
      }
    }
    this.requestId = requestId === '' ? randomUUID() : requestId;

    const resolved = core.resolver.resolve(head.host ?? undefined, this.info.listenerPort, head.target);
    this.resolved = resolved ?? null;
    if (resolved === undefined) {
      this.routeLabel = '_none';
      this.answerLocal(404, core.canned.notFound, core.canned.notFoundClose);
      return;
    }
    const route = resolved.route;
    this.routeLabel = core.routeLabel(route);
    if (route.https_redirect === true && this.info.scheme === 'http') {
      const target = head.target.charCodeAt(0) === 47 ? head.target : '/';
      const loc = `https://${normaliseHost(head.host ?? '')}${target}`;
      const close = this.closeAfter || !this.reqBodyDone;
      this.answerLocal(
        308,
        simpleResponse(308, '', close, 'text/plain; charset=utf-8', `Location: ${loc}\r\n`),
        null,
      );
      return;
    }
    if (route.sticky) {
      const c = findStickyCookie(hs);
      if (c !== undefined) this.stickyAddr = core.sticky.decode(c);
    }
    this.setEdits[0][1] = this.fields.requestStart = String(this.start);
    this.setEdits[1][1] = this.fields.requestId = this.requestId;
    if (head.upgrade !== null) {
      this.startUpgrade(head, resolved);
      return;
    }
    try {
      const general = route.disable_keep_alives || this.targetHost !== null;
      const fast = general ? null : fastRewrite(raw, 0, rawEnd, head, this.fields);
      this.reqHeadBuf = fast ?? rewriteRequestHead(head, this.generalEdits(route.disable_keep_alives, false));
    } catch {
      this.rejectHead(400, 'invalid request');
      return;
    }
    this.state = St.Dial;
    this.connectNext();
  }

  /** Edits for the general rewrite: the proxy's fields plus what this request needs. */
  private generalEdits(close: boolean, upgrade: boolean): HeadEdits {
    const host = this.targetHost;
    if (!close && !upgrade && host === null) return this.edits;
    const set = close || host !== null ? [...this.setEdits] : this.setEdits;
    if (close) set.push(['Connection', 'close']);
    if (host !== null) set.push(['Host', host]);
    return { append: this.edits.append, set, upgrade };
  }

  /** Answers a request without a backend (404, 308). A request body we do not read means close. */
  private answerLocal(status: number, keep: Buffer, close: Buffer | null): void {
    this.status = status;
    if (!this.reqBodyDone) this.closeAfter = true;
    this.write(this.closeAfter || close === null ? (close ?? keep) : keep);
    this.record();
    this.nextRequest();
  }

  private write(buf: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(buf);
  }

  // ---- backend selection ----

  private select(): Backend | undefined {
    return selectBackend(this.core.pool, this.resolved!.backends, this.stickyAddr, this.tried);
  }

  private connectNext(): void {
    const b = this.select();
    if (b === undefined) {
      this.failUnavailable();
      return;
    }
    this.backend = b;
    this.attempts++;
    this.core.pool.inc(b.addr);
    this.counted = true;
    const c = this.core.pool.acquire(b.addr, this);
    this.bconn = c;
    if (c.connected) {
      this.connReused = true;
      this.onBackendConnect(c);
    }
  }

  private failUnavailable(): void {
    const canned = this.core.canned;
    this.status = 503;
    if (!this.reqBodyDone) this.closeAfter = true;
    this.write(this.closeAfter ? canned.unavailableClose : canned.unavailable);
    this.record();
    this.nextRequest();
  }

  // ---- backend events ----

  onBackendConnect(c: BackendConn): void {
    if (c !== this.bconn) return;
    // An upgrade request goes like any other: what follows its body stays here until a 101.
    const body = this.inBuf !== null && !this.reqBodyDone;
    if (body) c.socket.cork();
    c.socket.write(this.reqHeadBuf);
    this.state = this.reqBodyDone ? St.Wait : St.Body;
    this.setDeadline(Deadline.Response);
    if (body) {
      this.pumpBody();
      c.socket.uncork();
    }
  }

  private pumpBody(): void {
    const buf = this.inBuf;
    const c = this.bconn;
    if (buf === null || c === null || this.reqBodyDone) return;
    const f = this.reqFraming!;
    const n = f.feed(buf, 0, buf.length);
    if (n < 0) {
      // A broken chunked body: the backend has a partial request; nobody can use either side.
      c.destroy();
      this.bconn = null;
      if (this.counted && this.backend !== null) this.core.pool.dec(this.backend.addr);
      this.counted = false;
      if (!this.resSeen) this.rejectHead(400, f.error ?? 'invalid chunked body');
      else this.socket.destroy();
      return;
    }
    this.inBuf = n === buf.length ? null : buf.subarray(n);
    let ok = true;
    if (n > 0) ok = c.socket.write(n === buf.length ? buf : buf.subarray(0, n));
    if (f.done) {
      this.reqBodyDone = true;
      if (this.state === St.Body) {
        this.state = St.Wait;
        // Like Go's ResponseHeaderTimeout: counted from the end of the request.
        if (!this.resSeen) this.setDeadline(Deadline.Response);
      }
    }
    if (!ok) this.pause();
    else if (this.inBuf === null || this.inBuf.length <= MAX_BUFFERED) this.resume();
  }

  onBackendDrain(c: BackendConn): void {
    if (c !== this.bconn) return;
    if (this.state === St.Body) {
      this.resume();
      this.pumpBody();
    } else if (this.state === St.Tunnel) {
      this.resume();
    }
  }

  onBackendDialError(c: BackendConn, err: Error): void {
    if (c !== this.bconn) return;
    this.bconn = null;
    const addr = c.addr;
    this.core.logger?.warn({ request_id: this.requestId, addr, error: err.message }, 'retriable dial error');
    if (this.upgrade) {
      this.dialUpgradeNext();
      return;
    }
    if (this.counted) this.core.pool.dec(addr);
    this.counted = false;
    this.tried.push(addr);
    if (this.attempts < MAX_ATTEMPTS && this.select() !== undefined) {
      this.core.metrics?.retries.inc();
      this.connectNext();
    } else {
      this.failUnavailable();
    }
  }

  onBackendData(c: BackendConn, chunk: Buffer): void {
    if (c !== this.bconn) return;
    if (this.state === St.Tunnel) {
      if (!this.socket.write(chunk)) c.socket.pause();
      return;
    }
    this.resSeen = true;
    if (this.resInBody) {
      const f = this.resFraming!;
      const n = f.feed(chunk, 0, chunk.length);
      if (n < 0) {
        this.abortMidResponse(f.error ?? 'bad response body');
        return;
      }
      if (n < chunk.length) this.resDirty = true;
      if (this.dechunk !== null) this.dechunk.feed(chunk, 0, n, this.writeData);
      else if (n > 0 && !this.socket.write(n === chunk.length ? chunk : chunk.subarray(0, n)))
        c.socket.pause();
      if (f.done) this.finishResponse();
      return;
    }
    const buf = this.resBuf === null ? chunk : Buffer.concat([this.resBuf, chunk]);
    this.resBuf = null;
    this.onResponseBytes(c, buf);
  }

  /** Parses response heads (1xx interim ones are relayed) and starts relaying the body. */
  private onResponseBytes(c: BackendConn, buf: Buffer): void {
    let off = 0;
    for (;;) {
      const r = parseResponseHead(buf, off, undefined, this.resScan);
      if ('error' in r) {
        this.core.logger?.warn(
          { request_id: this.requestId, addr: c.addr, error: r.error.reason },
          'bad response',
        );
        this.backendGone(false);
        return;
      }
      if (!r.done) {
        this.resBuf = off === 0 ? buf : buf.subarray(off);
        return;
      }
      const head = r.head;
      const headStart = off;
      off += r.consumed;
      const framing = responseFraming(this.head!.method, head);
      if (framing.kind === 'interim') {
        this.write(rewriteResponseHead(head));
        if (off === buf.length) return;
        continue;
      }
      if (head.status === 101 && this.upgrade) {
        this.startTunnel(c, head, buf.subarray(off));
        return;
      }
      if (framing.kind === 'tunnel') {
        this.backendGone(false);
        return;
      }
      this.relayHead(head, framing, buf, headStart, off);
      return;
    }
  }

  private relayHead(
    head: ResponseHead,
    framing: BodyFraming,
    buf: Buffer,
    headStart: number,
    bodyStart: number,
  ): void {
    const core = this.core;
    this.setDeadline(Deadline.None);
    this.status = head.status;
    this.resHead = head;
    this.resFraming = framing;
    const client1_0 = this.head!.versionMinor === 0;
    // HTTP/1.0 has no chunked coding: send such a body unframed, delimited by closing.
    const dechunk = client1_0 && head.chunked;
    const close = this.closeAfter || !this.reqBodyDone || framing.kind === 'close' || core.closing || dechunk;
    this.closeClient = close;
    const backend = this.backend!;
    const setCookie = this.resolved!.route.sticky && backend.addr !== this.stickyAddr;
    const n = framing.feed(buf, bodyStart, buf.length);
    if (n < 0) {
      this.backendGone(false);
      return;
    }
    if (bodyStart + n < buf.length) this.resDirty = true;
    const bodyEnd = bodyStart + n;
    if (dechunk) {
      let out = rewriteResponseHead({ ...head, chunked: false }, CLOSE_EDITS);
      if (setCookie) out = withSetCookie(out, core.sticky.encode(backend.addr));
      this.write(out);
      this.dechunk = new Dechunker();
      this.dechunk.feed(buf, bodyStart, bodyEnd, this.writeData);
    } else if (!close && !setCookie && !client1_0 && forwardableAsIs(head)) {
      this.write(headStart === 0 && bodyEnd === buf.length ? buf : buf.subarray(headStart, bodyEnd));
    } else {
      let out = rewriteResponseHead(head, close ? CLOSE_EDITS : client1_0 ? KEEPALIVE_EDITS : NO_EDITS);
      if (setCookie) out = withSetCookie(out, core.sticky.encode(backend.addr));
      if (n === 0) this.write(out);
      else if (n < COALESCE) this.write(Buffer.concat([out, buf.subarray(bodyStart, bodyEnd)]));
      else {
        this.socket.cork();
        this.write(out);
        this.write(buf.subarray(bodyStart, bodyEnd));
        this.socket.uncork();
      }
    }
    if (framing.done) this.finishResponse();
    else {
      this.resInBody = true;
      if (this.socket.writableNeedDrain) this.bconn?.socket.pause();
    }
  }

  private finishResponse(): void {
    const c = this.bconn!;
    this.bconn = null;
    const pool = this.core.pool;
    const reusable =
      !this.resDirty &&
      this.reqBodyDone &&
      !this.upgrade &&
      !this.resolved!.route.disable_keep_alives &&
      backendReusable(this.resHead!, this.resFraming!);
    if (c.socket.isPaused()) c.socket.resume();
    if (reusable) pool.release(c);
    else c.destroy();
    if (this.counted) pool.dec(c.addr);
    this.counted = false;
    this.record();
    if (this.closeClient) this.closeAfter = true;
    this.nextRequest();
  }

  /** After a response: close if asked, else read the next (maybe already buffered) request. */
  private nextRequest(): void {
    if (this.closeAfter || this.core.closing) {
      this.endClient();
      return;
    }
    this.state = St.Head;
    this.core.waiting.push(this);
    this.resume();
    if (this.inBuf !== null && this.inBuf.length > 0) {
      this.setDeadline(Deadline.Header);
      this.processHeads();
    } else {
      this.setDeadline(Deadline.Idle);
    }
  }

  onBackendEnd(c: BackendConn): void {
    if (c !== this.bconn) return;
    if (this.state === St.Tunnel) {
      this.socket.end();
      return;
    }
    if (this.resInBody && this.resFraming!.kind === 'close') {
      this.finishResponse();
      return;
    }
    this.backendGone(false);
  }

  onBackendClose(c: BackendConn, err: Error | undefined): void {
    if (c !== this.bconn) return;
    if (this.state === St.Tunnel) {
      this.bconn = null;
      if (err !== undefined) this.socket.destroy();
      else this.socket.end();
      return;
    }
    if (this.resInBody && this.resFraming!.kind === 'close' && err === undefined) {
      this.finishResponse();
      return;
    }
    this.backendGone(false, err);
  }

  /**
   * The backend failed after the request was sent (reset, bad response, timeout). A reused pooled
   * socket that died before any response byte is retried once on a fresh connection for bodiless
   * idempotent requests (the keep-alive race); otherwise 503 if nothing was sent to the client yet.
   */
  private backendGone(timeout: boolean, err?: Error): void {
    const c = this.bconn;
    this.bconn = null;
    c?.destroy();
    const addr = this.backend?.addr ?? '';
    if (
      !timeout &&
      !this.resSeen &&
      this.connReused &&
      !this.retriedStale &&
      !this.upgrade &&
      this.reqFraming!.kind === 'none' &&
      isIdempotent(this.head!.method)
    ) {
      this.retriedStale = true;
      this.connReused = false;
      this.core.metrics?.retries.inc();
      this.state = St.Dial;
      this.bconn = this.core.pool.acquire(addr, this, true);
      return;
    }
    if (this.counted) this.core.pool.dec(addr);
    this.counted = false;
    this.core.logger?.warn(
      {
        request_id: this.requestId,
        addr,
        error: timeout ? 'response header timeout' : (err?.message ?? 'backend closed'),
      },
      'unretriable request error',
    );
    if (this.resInBody) {
      this.abortMidResponse('backend closed mid-response');
      return;
    }
    const canned = this.core.canned;
    this.status = timeout ? 504 : 503;
    this.closeAfter = true;
    this.write(timeout ? canned.gatewayTimeout : canned.unavailableClose);
    this.record();
    this.endClient();
  }

  private abortMidResponse(reason: string): void {
    const c = this.bconn;
    this.bconn = null;
    c?.destroy();
    if (this.counted && this.backend !== null) this.core.pool.dec(this.backend.addr);
    this.counted = false;
    this.core.logger?.warn({ request_id: this.requestId, error: reason }, 'response aborted');
    this.record();
    this.state = St.Closed;
    this.socket.destroy();
  }

  // ---- upgrades ----

  private startUpgrade(head: RequestHead, resolved: ResolvedRoute): void {
    this.upgrade = true;
    try {
      this.reqHeadBuf = rewriteRequestHead(head, this.generalEdits(false, true));
    } catch {
      this.rejectHead(400, 'invalid request');
      return;
    }
    const addrs = upgradeOrder(resolved.backends, this.stickyAddr);
    this.upgradeOrder = addrs;
    this.state = St.Dial;
    this.dialUpgradeNext();
  }

  private dialUpgradeNext(): void {
    const addr = this.upgradeOrder.shift();
    if (addr === undefined) {
      this.failUnavailable();
      return;
    }
    this.backend = this.resolved!.backends.find((b) => b.addr === addr) ?? { addr };
    this.bconn = this.core.pool.acquire(addr, this, true);
  }

  private startTunnel(c: BackendConn, head: ResponseHead, rest: Buffer): void {
    this.status = 101;
    this.state = St.Tunnel;
    this.setDeadline(Deadline.None);
    this.core.metrics?.upgrades.inc();
    let out = rewriteResponseHead(head, { upgrade: true });
    const addr = this.backend!.addr;
    if (this.resolved!.route.sticky && addr !== this.stickyAddr)
      out = withSetCookie(out, this.core.sticky.encode(addr));
    this.write(rest.length > 0 ? Buffer.concat([out, rest]) : out);
    this.record();
    // The bytes held since the upgrade request are the backend's now.
    const pending = this.inBuf;
    this.inBuf = null;
    if (pending !== null && pending.length > 0 && !c.socket.write(pending)) this.pause();
    else this.resume();
    if (this.clientEnded) c.socket.end();
  }

  // ---- endings ----

  private endClient(): void {
    if (this.state >= St.Closing) return;
    this.state = St.Closing;
    // Lingering for the client's FIN, it may still be evicted to make room (push keeps its place).
    this.core.waiting.push(this);
    this.resume(); // keep reading (and discarding) so the client sees our FIN, not a reset
    if (this.clientEnded) {
      this.socket.end();
      this.socket.destroySoon();
    } else this.socket.end();
    this.setDeadline(Deadline.Linger);
  }

  private record(): void {
    const core = this.core;
    const status = this.status;
    if (core.metrics !== undefined)
      core.metrics.observe(this.routeLabel, status, (core.clock() - this.start) / 1000);
    if (core.accessLog !== undefined) {
      const h = this.head;
      const b = this.backend;
      core.accessLog({
        time: new Date(this.start).toISOString(),
        request_id: this.requestId,
        client_addr: this.clientAddr,
        host: h?.host ?? '',
        path: h?.target ?? '',
        method: h?.method ?? '',
        status,
        route: this.routeLabel,
        addr: b?.addr,
        'job.id': b?.jobId,
        app: b?.app,
        conn_reused: this.connReused,
        duration_ms: core.clock() - this.start,
        scheme: this.info.scheme,
      });
    }
  }
}

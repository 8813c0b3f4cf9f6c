import {
  type BodyFraming,
  backendReusable,
  type HeadEdits,
  isDigits,
  parseResponseHead,
  type ResponseHead,
  responseFraming,
  rewriteResponseHead,
} from '@flynn-edge/http1';
import type { BackendAttempt } from './backend-attempt.js';
import type { ClientConn } from './client-connection.js';
import { Dechunker } from './dechunk.js';
import { type Exchange, Phase } from './exchange.js';
import type { BackendConn, BackendOwner } from './pool.js';
import { STICKY_COOKIE } from './sticky.js';

/** Concatenate a rewritten head with body bytes below this size (one write, one syscall). */
const COALESCE = 16 * 1024;

const CLOSE_EDITS: HeadEdits = { set: [['Connection', 'close']] };
const KEEPALIVE_EDITS: HeadEdits = { set: [['Connection', 'keep-alive']] };
const NO_EDITS: HeadEdits = {};

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

function withSetCookie(head: Buffer, cookie: string): Buffer {
  return Buffer.concat([
    head.subarray(0, head.length - 2),
    Buffer.from(`Set-Cookie: ${STICKY_COOKIE}=${cookie}; Path=/\r\n\r\n`, 'latin1'),
  ]);
}

/**
 * The backend side of one exchange: acquires a backend connection (BackendAttempt), writes the
 * request head and body, parses the response head (relaying 1xx), forwards the response body and
 * returns the connection to the pool. Created per proxied request.
 */
export class Upstream implements BackendOwner {
  bconn: BackendConn | null = null;
  private readonly conn: ClientConn;
  private resSeen = false;
  /** The response head went to the client; its body is being relayed. */
  private relaying = false;
  private resBuf: Buffer | null = null;
  private resHead: ResponseHead | null = null;
  private resFraming: BodyFraming | null = null;
  private resDirty = false;
  private closeClient = false;
  /** Set when a chunked response goes to an HTTP/1.0 client, which gets the data until close. */
  private dechunk: Dechunker | null = null;

  constructor(
    private readonly ex: Exchange,
    readonly attempt: BackendAttempt,
    private readonly reqHead: Buffer,
  ) {
    this.conn = ex.conn;
  }

  start(): void {
    this.use(this.attempt.connect(this));
  }

  private use(c: BackendConn | null): void {
    if (c === null) {
      this.ex.failUnavailable();
      return;
    }
    this.bconn = c;
    if (c.connected) this.onBackendConnect(c);
  }

  /** The client went away: the backend connection is useless now. */
  abandon(): void {
    const c = this.bconn;
    this.bconn = null;
    c?.destroy();
    this.attempt.release();
  }

  // ---- request ----

  onBackendConnect(c: BackendConn): void {
    if (c !== this.bconn) return;
    const ex = this.ex;
    // An upgrade request goes like any other: what follows its body stays here until a 101.
    const body = this.conn.inBuf !== null && !ex.reqBodyDone;
    if (body) c.socket.cork();
    c.socket.write(this.reqHead);
    ex.phase = ex.reqBodyDone ? Phase.Wait : Phase.Body;
    this.conn.awaitResponse();
    if (body) {
      this.pumpBody();
      c.socket.uncork();
    }
  }

  /** Forwards what the client sent of the request body. */
  pumpBody(): void {
    const conn = this.conn;
    const ex = this.ex;
    const buf = conn.inBuf;
    const c = this.bconn;
    if (buf === null || c === null || ex.reqBodyDone) return;
    const f = ex.reqFraming!;
    const n = f.feed(buf, 0, buf.length);
    if (n < 0) {
      // A broken chunked body: the backend has a partial request; nobody can use either side.
      this.abandon();
      if (!this.resSeen) ex.reject(400, f.error ?? 'invalid chunked body');
      else conn.socket.destroy();
      return;
    }
    conn.inBuf = n === buf.length ? null : buf.subarray(n);
    let ok = true;
    if (n > 0) ok = c.socket.write(n === buf.length ? buf : buf.subarray(0, n));
    if (f.done) {
      ex.reqBodyDone = true;
      if (ex.phase === Phase.Body) {
        ex.phase = Phase.Wait;
        // Like Go's ResponseHeaderTimeout: counted from the end of the request.
        if (!this.resSeen) conn.awaitResponse();
      }
    }
    if (!ok) conn.pause();
    else conn.resumeIfRoom();
  }

  onBackendDrain(c: BackendConn): void {
    if (c !== this.bconn) return;
    if (this.ex.phase === Phase.Body) {
      this.conn.resume();
      this.pumpBody();
    }
  }

  onBackendDialError(c: BackendConn, err: Error): void {
    if (c !== this.bconn) return;
    this.bconn = null;
    this.conn.core.logger?.warn(
      { request_id: this.ex.requestId, addr: c.addr, error: err.message },
      'retriable dial error',
    );
    this.use(this.attempt.redial(this));
  }

  // ---- response ----

  onBackendData(c: BackendConn, chunk: Buffer): void {
    if (c !== this.bconn) return;
    this.resSeen = true;
    if (this.relaying) {
      const f = this.resFraming!;
      const n = f.feed(chunk, 0, chunk.length);
      if (n < 0) {
        this.abortMidResponse(f.error ?? 'bad response body');
        return;
      }
      if (n < chunk.length) this.resDirty = true;
      if (this.dechunk !== null) this.dechunk.feed(chunk, 0, n);
      else if (n > 0 && !this.conn.socket.write(n === chunk.length ? chunk : chunk.subarray(0, n)))
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
      const r = parseResponseHead(buf, off, undefined, this.conn.resScan);
      if ('error' in r) {
        this.conn.core.logger?.warn(
          { request_id: this.ex.requestId, addr: c.addr, error: r.error.reason },
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
      const framing = responseFraming(this.ex.head!.method, head);
      if (framing.kind === 'interim') {
        this.conn.write(rewriteResponseHead(head));
        if (off === buf.length) return;
        continue;
      }
      if (head.status === 101 && this.ex.upgrade) {
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

  /** A sticky route whose client's cookie does not name the chosen backend gets a new cookie. */
  private needsCookie(): boolean {
    return this.ex.resolved!.route.sticky && this.attempt.backend!.addr !== this.attempt.stickyAddr;
  }

  private withSticky(out: Buffer): Buffer {
    if (!this.needsCookie()) return out;
    return withSetCookie(out, this.conn.core.sticky.encode(this.attempt.backend!.addr));
  }

  private relayHead(
    head: ResponseHead,
    framing: BodyFraming,
    buf: Buffer,
    headStart: number,
    bodyStart: number,
  ): void {
    const conn = this.conn;
    const ex = this.ex;
    conn.clearDeadline();
    ex.status = head.status;
    this.resHead = head;
    this.resFraming = framing;
    const client1_0 = ex.head!.versionMinor === 0;
    // HTTP/1.0 has no chunked coding: send such a body unframed, delimited by closing.
    const dechunk = client1_0 && head.chunked;
    const close =
      conn.closeAfter || !ex.reqBodyDone || framing.kind === 'close' || conn.core.closing || dechunk;
    this.closeClient = close;
    const n = framing.feed(buf, bodyStart, buf.length);
    if (n < 0) {
      this.backendGone(false);
      return;
    }
    if (bodyStart + n < buf.length) this.resDirty = true;
    const bodyEnd = bodyStart + n;
    if (dechunk) {
      conn.write(this.withSticky(rewriteResponseHead({ ...head, chunked: false }, CLOSE_EDITS)));
      this.dechunk = new Dechunker((d) => {
        if (!conn.write(d)) this.bconn?.socket.pause();
      });
      this.dechunk.feed(buf, bodyStart, bodyEnd);
    } else if (!close && !client1_0 && !this.needsCookie() && forwardableAsIs(head)) {
      conn.write(headStart === 0 && bodyEnd === buf.length ? buf : buf.subarray(headStart, bodyEnd));
    } else {
      const out = this.withSticky(
        rewriteResponseHead(head, close ? CLOSE_EDITS : client1_0 ? KEEPALIVE_EDITS : NO_EDITS),
      );
      if (n === 0) conn.write(out);
      else if (n < COALESCE) conn.write(Buffer.concat([out, buf.subarray(bodyStart, bodyEnd)]));
      else {
        conn.socket.cork();
        conn.write(out);
        conn.write(buf.subarray(bodyStart, bodyEnd));
        conn.socket.uncork();
      }
    }
    if (framing.done) this.finishResponse();
    else {
      this.relaying = true;
      if (conn.socket.writableNeedDrain) this.bconn?.socket.pause();
    }
  }

  private finishResponse(): void {
    const c = this.bconn!;
    this.bconn = null;
    const ex = this.ex;
    const reusable =
      !this.resDirty &&
      ex.reqBodyDone &&
      !ex.upgrade &&
      !ex.resolved!.route.disable_keep_alives &&
      backendReusable(this.resHead!, this.resFraming!);
    if (c.socket.isPaused()) c.socket.resume();
    if (reusable) this.conn.core.pool.release(c);
    else c.destroy();
    this.attempt.release();
    ex.record();
    if (this.closeClient) this.conn.closeAfter = true;
    this.conn.nextRequest();
  }

  onBackendEnd(c: BackendConn): void {
    if (c !== this.bconn) return;
    if (this.relaying && this.resFraming!.kind === 'close') {
      this.finishResponse();
      return;
    }
    this.backendGone(false);
  }

  onBackendClose(c: BackendConn, err: Error | undefined): void {
    if (c !== this.bconn) return;
    if (this.relaying && this.resFraming!.kind === 'close' && err === undefined) {
      this.finishResponse();
      return;
    }
    this.backendGone(false, err);
  }

  /** The response head did not arrive within the response-header timeout. */
  responseTimeout(): void {
    this.conn.core.logger?.warn(
      { request_id: this.ex.requestId, addr: this.attempt.backend?.addr },
      'response header timeout',
    );
    this.backendGone(true);
  }

  /**
   * The backend failed after the request was sent (reset, bad response, timeout). A pooled
   * socket that died before any response byte may be retried (BackendAttempt.retryStale);
   * otherwise 503 if nothing was sent to the client yet (504 after a timeout).
   */
  private backendGone(timeout: boolean, err?: Error): void {
    const c = this.bconn;
    this.bconn = null;
    c?.destroy();
    const ex = this.ex;
    if (!timeout && !this.resSeen) {
      const bodiless = ex.reqFraming!.kind === 'none';
      const retry = this.attempt.retryStale(this, ex.head!.method, bodiless);
      if (retry !== null) {
        ex.phase = Phase.Dial;
        this.bconn = retry;
        return;
      }
    }
    this.attempt.release();
    const core = this.conn.core;
    core.logger?.warn(
      {
        request_id: ex.requestId,
        addr: this.attempt.backend?.addr ?? '',
        error: timeout ? 'response header timeout' : (err?.message ?? 'backend closed'),
      },
      'unretriable request error',
    );
    if (this.relaying) {
      this.abortMidResponse('backend closed mid-response');
      return;
    }
    ex.status = timeout ? 504 : 503;
    this.conn.closeAfter = true;
    this.conn.write(timeout ? core.canned.gatewayTimeout : core.canned.unavailableClose);
    ex.record();
    this.conn.endClient();
  }

  private abortMidResponse(reason: string): void {
    this.abandon();
    this.conn.core.logger?.warn({ request_id: this.ex.requestId, error: reason }, 'response aborted');
    this.ex.record();
    this.conn.abort();
  }

  // ---- upgrades ----

  private startTunnel(c: BackendConn, head: ResponseHead, rest: Buffer): void {
    const conn = this.conn;
    this.ex.status = 101;
    conn.core.metrics?.upgrades.inc();
    const out = this.withSticky(rewriteResponseHead(head, { upgrade: true }));
    conn.write(rest.length > 0 ? Buffer.concat([out, rest]) : out);
    this.ex.record();
    this.bconn = null;
    conn.startTunnel(c);
  }
}

import type { Socket } from 'node:net';
import { createScanState, type HeadScanState, parseRequestHead, type RequestHead } from '@flynn-edge/http1';
import { Exchange, Phase } from './exchange.js';
import type { BackendConn } from './pool.js';
import type { ProxyCore } from './proxy-core.js';
import { parseProxyLine } from './proxy-protocol.js';
import { clientIp, ForwardFields } from './request-head.js';
import { Tunnel } from './tunnel.js';
import type { ConnectionInfo } from './types.js';
import type { Waiter } from './waiting-list.js';

/*
 * One client connection: the socket, its read loop, keep-alive, deadlines, waiting-list
 * membership and pipelining. Each request is an Exchange (exchange.ts); after a 101 the
 * connection becomes a Tunnel (tunnel.ts).
 *
 * | state    | meaning                             | waiting list | deadline    | next                          |
 * |----------|-------------------------------------|--------------|-------------|-------------------------------|
 * | Proxy    | reading the PROXY protocol line     | yes          | header      | Head; Closed (bad line)       |
 * | Head     | reading a head, or idle             | yes          | header/idle | Exchange; Closing (bad head,  |
 * |          |                                     |              |             | FIN, idle); Closed (header)   |
 * | Exchange | a request in flight                 | no           | response    | Head (keep-alive); Tunnel;    |
 * |          |                                     |              |             | Closing; Closed (client gone) |
 * | Tunnel   | upgraded: bytes spliced both ways   | no           | none        | Closed                        |
 * | Closing  | FIN sent, reading until the client's| yes          | linger 2 s  | Closed                        |
 * | Closed   | socket gone                         | no           | -           | -                             |
 *
 * The header deadline runs from the accept for the first head, from its first byte for later
 * ones. Eviction (at the connection cap) closes the oldest connection on the waiting list.
 * Bytes after a head stay in `inBuf`: the exchange takes its body from there; the rest is the
 * next pipelined head, parsed once the exchange is done (Exchange → Head).
 */
enum ConnState {
  Proxy,
  Head,
  Exchange,
  Tunnel,
  Closing,
  Closed,
}

enum Deadline {
  None,
  Idle,
  Header,
  Response,
  Linger,
}

/** Pause reading a client when this much unprocessed input is buffered. */
const MAX_BUFFERED = 1 << 20;
/** How long close() still accepts a request on an idle keep-alive connection. */
const SHUTDOWN_GRACE_MS = 250;

export class ClientConn implements Waiter {
  readonly socket: Socket;
  readonly core: ProxyCore;
  readonly info: ConnectionInfo;
  clientAddr: string;
  /** Rewrites each request head with this connection's forwarding fields. */
  readonly forward: ForwardFields;
  private state: ConnState;
  /** Input not yet consumed: the rest of a request body, pipelined heads, held upgrade bytes. */
  inBuf: Buffer | null = null;
  private readonly scan: HeadScanState = createScanState();
  /** The response parser's scratch state (reset by each complete head), kept per connection. */
  readonly resScan: HeadScanState = createScanState();
  private ex: Exchange | null = null;
  private tunnel: Tunnel | null = null;
  deadline = Number.POSITIVE_INFINITY;
  private deadlineKind = Deadline.None;
  prevWaiting: Waiter | null = null;
  nextWaiting: Waiter | null = null;
  waiting = false;
  clientEnded = false;
  /** Close once the current response is complete. */
  closeAfter = false;
  private paused = false;
  private inProcess = false;
  private waitingDrain = false;

  constructor(core: ProxyCore, socket: Socket, info: ConnectionInfo) {
    this.core = core;
    this.socket = socket;
    this.info = info;
    this.clientAddr = clientIp(info.clientAddress ?? socket.remoteAddress);
    this.forward = new ForwardFields(this.clientAddr, info, core.hostName);
    this.state = core.proxyProtocol && info.clientAddress === undefined ? ConnState.Proxy : ConnState.Head;
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

  /** The backend's response head is due within the response-header timeout from now. */
  awaitResponse(): void {
    this.setDeadline(Deadline.Response);
  }

  clearDeadline(): void {
    this.setDeadline(Deadline.None);
  }

  /** Called by the proxy's ticker when `deadline` has passed. */
  expire(): void {
    switch (this.deadlineKind) {
      case Deadline.Response:
        this.ex?.up?.responseTimeout();
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
    if (this.state === ConnState.Proxy) this.socket.destroy();
    else if (this.idleBetweenRequests) {
      // A request may already be on its way (the keep-alive race): give it a short grace in
      // which it is still answered (with Connection: close), then close with a FIN.
      const soon = this.core.clock() + SHUTDOWN_GRACE_MS;
      if (soon < this.deadline) this.deadline = soon;
    }
  }

  get idleBetweenRequests(): boolean {
    return this.state === ConnState.Head && (this.inBuf === null || this.inBuf.length === 0);
  }

  // ---- client socket events ----

  private onData(chunk: Buffer): void {
    const st = this.state;
    if (st === ConnState.Tunnel) {
      this.tunnel!.fromClient(chunk);
      return;
    }
    if (st >= ConnState.Closing) return;
    const buf = this.inBuf;
    this.inBuf = buf === null || buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (st === ConnState.Head) {
      if (this.deadlineKind === Deadline.Idle) this.setDeadline(Deadline.Header);
      this.processHeads();
    } else if (st === ConnState.Proxy) {
      this.processProxyLine();
    } else if (this.ex!.phase === Phase.Body) {
      this.ex!.up!.pumpBody();
    }
    if (this.inBuf !== null && this.inBuf.length > MAX_BUFFERED && this.state !== ConnState.Head)
      this.pause();
  }

  private onEnd(): void {
    this.clientEnded = true;
    switch (this.state) {
      case ConnState.Tunnel:
        this.tunnel!.clientEnded();
        return;
      case ConnState.Proxy:
      case ConnState.Head:
        // An incomplete head can never complete now.
        this.endClient();
        return;
      case ConnState.Closing:
        this.socket.destroy();
        return;
      case ConnState.Exchange:
        if (this.ex!.upgrade) {
          // Passed on to the backend if it agrees to upgrade, else we close after the answer.
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
      if (this.state === ConnState.Head) {
        this.resume();
        this.processHeads();
      }
    }
    const b = this.state === ConnState.Tunnel ? this.tunnel!.backend : (this.ex?.up?.bconn ?? null);
    if (b?.socket.isPaused()) b.socket.resume();
  }

  private onClose(): void {
    const st = this.state;
    this.state = ConnState.Closed;
    this.core.forget(this);
    if (st === ConnState.Tunnel) this.tunnel!.clientClosed();
    else if (st === ConnState.Exchange) this.ex!.clientGone();
  }

  pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  resume(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Resumes reading unless too much input is already buffered. */
  resumeIfRoom(): void {
    if (this.inBuf === null || this.inBuf.length <= MAX_BUFFERED) this.resume();
  }

  write(buf: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(buf);
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
      this.forward.setClient(this.clientAddr);
    }
    this.inBuf = r.consumed === buf.length ? null : buf.subarray(r.consumed);
    this.state = ConnState.Head; // the header deadline, set at accept, still runs
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
    while (this.state === ConnState.Head) {
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
        new Exchange(this).reject(r.error.status, r.error.reason);
        return;
      }
      if (!r.done) return;
      this.inBuf = r.consumed === buf.length ? null : buf.subarray(r.consumed);
      this.startRequest(r.head, buf, r.consumed);
    }
  }

  private startRequest(head: RequestHead, raw: Buffer, rawEnd: number): void {
    this.core.waiting.remove(this);
    this.setDeadline(Deadline.None);
    this.state = ConnState.Exchange;
    const ex = new Exchange(this);
    this.ex = ex;
    ex.begin(head, raw, rawEnd);
  }

  /** After a response: close if asked, else read the next (maybe already buffered) request. */
  nextRequest(): void {
    this.ex = null;
    if (this.closeAfter || this.core.closing) {
      this.endClient();
      return;
    }
    this.state = ConnState.Head;
    this.core.waiting.push(this);
    this.resume();
    if (this.inBuf !== null && this.inBuf.length > 0) {
      this.setDeadline(Deadline.Header);
      this.processHeads();
    } else {
      this.setDeadline(Deadline.Idle);
    }
  }

  /** The backend agreed to upgrade: from now on bytes are spliced both ways. */
  startTunnel(c: BackendConn): void {
    this.ex = null;
    this.state = ConnState.Tunnel;
    this.setDeadline(Deadline.None);
    this.tunnel = new Tunnel(this, c);
    // The bytes held since the upgrade request are the backend's now.
    const pending = this.inBuf;
    this.inBuf = null;
    if (pending !== null && pending.length > 0 && !c.socket.write(pending)) this.pause();
    else this.resume();
    if (this.clientEnded) c.socket.end();
  }

  // ---- endings ----

  /** Ends our side with a FIN and lingers for the client's. */
  endClient(): void {
    if (this.state >= ConnState.Closing) return;
    this.ex = null;
    this.state = ConnState.Closing;
    // Lingering for the client's FIN, it may still be evicted to make room (push keeps its place).
    this.core.waiting.push(this);
    this.resume(); // keep reading (and discarding) so the client sees our FIN, not a reset
    if (this.clientEnded) {
      this.socket.end();
      this.socket.destroySoon();
    } else this.socket.end();
    this.setDeadline(Deadline.Linger);
  }

  /** Drops the connection without a 499 record (the exchange recorded its own end). */
  abort(): void {
    this.ex = null;
    this.state = ConnState.Closed;
    this.socket.destroy();
  }
}

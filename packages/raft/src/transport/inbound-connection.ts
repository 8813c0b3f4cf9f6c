// The receiving half: one accepted socket, checked byte by byte (0xFF, hello, frames). Anything malformed
// closes this socket only; it never throws into the event loop.
//
// Nothing a peer announces is trusted before it arrives: the hello must come within handshakeTimeoutMs
// and prove membership (cluster key, sender id), and each later frame must keep up a minimum rate once
// it has started: by `grace + received / rate` after its first byte, or the connection is closed.

import type net from 'node:net';
import type { Message, NodeId } from '../core/types.js';
import { decodeMessage } from './codec.js';
import { errorMessage, TransportError, type TransportErrorKind } from './errors.js';
import { FrameDecoder, RAFT_PROTOCOL_BYTE } from './framing.js';
import { decodeHello, MAX_HELLO_BYTES, verifyHello } from './hello.js';

export interface InboundConnectionOptions {
  localId: NodeId;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  /** A started frame may take this long before the minimum rate applies. */
  frameGraceMs: number;
  /** Minimum rate, in bytes per second, at which a started frame must keep arriving. */
  minFrameBytesPerSecond: number;
  /** When set, a hello must carry a mac made with it (see hello.ts). */
  clusterKey?: string;
  /** Whether `id` may send to this node; absent means anyone. */
  isPeer?: (id: NodeId) => boolean;
  /** The hello arrived; `conn.peerId` is now set. */
  onHello: (conn: InboundConnection) => void;
  onMessage: (msg: Message) => void;
  /** A message was discarded without closing the connection (it named another recipient or sender). */
  onDiscard: (err: TransportError) => void;
  /** The connection is being closed because of `err` (kind 'auth': the hello proved no membership). */
  onFailure: (err: TransportError) => void;
  onClose: (conn: InboundConnection) => void;
}

type State = 'magic' | 'hello' | 'open' | 'closed';

export class InboundConnection {
  peerId: NodeId | null = null;
  private state: State = 'magic';
  private readonly decoder = new FrameDecoder(MAX_HELLO_BYTES);
  /** The hello deadline, then the frame-rate check. */
  private timer: NodeJS.Timeout | null = null;
  private checkPending: NodeJS.Immediate | null = null;
  /** performance.now() when the incomplete frame's first byte arrived. */
  private frameStartedAt = 0;
  private framesDone = 0;
  private closeReported = false;

  constructor(
    readonly socket: net.Socket,
    private readonly opts: InboundConnectionOptions,
  ) {}

  /** Starts consuming: `head` holds bytes a multiplexer already read (starting with the 0xFF). */
  start(head?: Buffer): void {
    const socket = this.socket;
    socket.on('error', (err) => {
      if (this.state !== 'closed') this.fail('connection', errorMessage(err), err);
    });
    socket.on('close', () => this.reportClose());
    if (socket.destroyed) {
      // Already gone: 'close' may have fired before we listened, so report it ourselves.
      this.reportClose();
      return;
    }
    socket.setNoDelay(true);
    this.timer = setTimeout(() => {
      this.timer = null;
      // As for frames: a hello that arrived during an event-loop stall is read before the verdict.
      this.checkPending = setImmediate(() => {
        this.checkPending = null;
        if (this.state === 'magic' || this.state === 'hello')
          this.fail('protocol', `no hello within ${this.opts.handshakeTimeoutMs} ms`);
      });
    }, this.opts.handshakeTimeoutMs);
    if (head !== undefined && head.length > 0) this.feed(head);
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    // A multiplexer may have paused the socket while peeking; adding a 'data' listener would not undo that.
    socket.resume();
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.release();
    this.socket.destroy();
  }

  private feed(chunk: Buffer): void {
    if (this.state === 'closed') return;
    try {
      if (this.state === 'magic') {
        if (chunk.length === 0) return;
        if (chunk[0] !== RAFT_PROTOCOL_BYTE) {
          throw new Error(
            `first byte is 0x${chunk[0].toString(16).padStart(2, '0')}, not the Raft selector 0xff`,
          );
        }
        this.state = 'hello';
        chunk = chunk.subarray(1);
      }
      const wasPartial = this.decoder.partialFrameBytes > 0;
      const framesBefore = this.framesDone;
      this.decoder.push(chunk, this.onFrame);
      // A frame started in this chunk (the previous one may have ended in it too): its clock starts now.
      if (
        this.state === 'open' &&
        this.decoder.partialFrameBytes > 0 &&
        (!wasPartial || this.framesDone !== framesBefore)
      ) {
        this.frameStartedAt = performance.now();
        if (this.timer === null && this.checkPending === null) this.armRateCheck(this.opts.frameGraceMs);
      }
    } catch (err) {
      if (err instanceof AuthError) this.fail('auth', err.message);
      else this.fail('protocol', errorMessage(err), err);
    }
  }

  /** When a frame is due to have progressed further than it has, close the connection. */
  private armRateCheck(delayMs: number): void {
    this.timer = setTimeout(
      () => {
        this.timer = null;
        // Let the poll phase deliver whatever arrived meanwhile (after an event-loop stall, say) first.
        this.checkPending = setImmediate(this.checkRate);
      },
      Math.max(1, Math.ceil(delayMs)),
    );
  }

  private readonly checkRate = (): void => {
    this.checkPending = null;
    if (this.state !== 'open') return;
    const received = this.decoder.partialFrameBytes;
    if (received === 0) return; // between frames: nothing is owed
    const due =
      this.frameStartedAt + this.opts.frameGraceMs + (received * 1000) / this.opts.minFrameBytesPerSecond;
    const now = performance.now();
    if (now < due) {
      this.armRateCheck(due - now);
      return;
    }
    const announced = this.decoder.announcedBytes;
    this.fail(
      'protocol',
      `frame too slow: ${received} of ${announced < 0 ? '?' : announced + 4} bytes in ${Math.round(now - this.frameStartedAt)} ms`,
    );
  };

  private readonly onFrame = (payload: Buffer): void => {
    // A listener may have closed us (or the whole transport) while handling an earlier frame of this chunk.
    if (this.state === 'closed') return;
    this.framesDone++;
    if (this.state === 'hello') {
      this.acceptHello(payload);
      return;
    }
    const msg = decodeMessage(payload);
    if (msg.to !== this.opts.localId || msg.from !== this.peerId) {
      this.opts.onDiscard(
        new TransportError(
          'protocol',
          `discarded message ${msg.from} -> ${msg.to} on a connection from ${this.peerId} to ${this.opts.localId}`,
          this.peerId ?? undefined,
        ),
      );
      return;
    }
    this.opts.onMessage(msg);
  };

  private acceptHello(payload: Buffer): void {
    const hello = decodeHello(payload);
    if (hello.to !== this.opts.localId) {
      throw new Error(`hello addressed to ${hello.to}, but this node is ${this.opts.localId}`);
    }
    const key = this.opts.clusterKey;
    if (key !== undefined && key !== '' && !verifyHello(payload, key)) {
      throw new AuthError(
        `hello from ${hello.from} ${hello.keyed ? 'made with another cluster key' : 'without the cluster key'}`,
      );
    }
    if (this.opts.isPeer !== undefined && !this.opts.isPeer(hello.from)) {
      throw new AuthError(`hello from ${hello.from}, which is not a member of the configuration`);
    }
    this.peerId = hello.from;
    this.state = 'open';
    this.stopTimers();
    this.decoder.maxFrameBytes = this.opts.maxFrameBytes;
    this.opts.onHello(this);
  }

  private fail(kind: TransportErrorKind, why: string, cause?: unknown): void {
    if (this.state === 'closed') return;
    const who = this.peerId ?? this.socket.remoteAddress ?? 'unknown';
    this.close();
    this.opts.onFailure(
      new TransportError(kind, `inbound connection from ${who}: ${why}`, this.peerId ?? undefined, { cause }),
    );
  }

  private reportClose(): void {
    this.state = 'closed';
    this.release();
    if (this.closeReported) return;
    this.closeReported = true;
    this.opts.onClose(this);
  }

  /** Stops the timers and drops the buffered bytes: a closed connection keeps nothing alive. */
  private release(): void {
    this.stopTimers();
    this.decoder.reset();
  }

  private stopTimers(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.checkPending !== null) {
      clearImmediate(this.checkPending);
      this.checkPending = null;
    }
  }
}

/** A hello that proves no membership: closed like a protocol error, counted apart. */
class AuthError extends Error {}

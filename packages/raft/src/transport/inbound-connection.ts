// The receiving half: one accepted socket, checked byte by byte (0xFF, hello, frames). Anything malformed
// closes this socket only; it never throws into the event loop.

import type net from 'node:net';
import type { Message, NodeId } from '../core/types.js';
import { decodeMessage } from './codec.js';
import { errorMessage, TransportError } from './errors.js';
import { decodeHello, FrameDecoder, RAFT_PROTOCOL_BYTE } from './framing.js';

export interface InboundConnectionOptions {
  localId: NodeId;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  /** The hello arrived; `conn.peerId` is now set. */
  onHello: (conn: InboundConnection) => void;
  onMessage: (msg: Message) => void;
  /** A message was discarded without closing the connection (it named another recipient or sender). */
  onDiscard: (err: TransportError) => void;
  /** The connection is being closed because of `err`. */
  onFailure: (err: TransportError) => void;
  onClose: (conn: InboundConnection) => void;
}

type State = 'magic' | 'hello' | 'open' | 'closed';

export class InboundConnection {
  peerId: NodeId | null = null;
  private state: State = 'magic';
  private readonly decoder: FrameDecoder;
  private timer: NodeJS.Timeout | null = null;
  private closeReported = false;

  constructor(
    readonly socket: net.Socket,
    private readonly opts: InboundConnectionOptions,
  ) {
    this.decoder = new FrameDecoder(opts.maxFrameBytes);
  }

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
      this.fail('protocol', `no hello within ${this.opts.handshakeTimeoutMs} ms`);
    }, this.opts.handshakeTimeoutMs);
    if (head !== undefined && head.length > 0) this.feed(head);
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    // A multiplexer may have paused the socket while peeking; adding a 'data' listener would not undo that.
    socket.resume();
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimer();
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
      this.decoder.push(chunk, this.onFrame);
    } catch (err) {
      this.fail('protocol', errorMessage(err), err);
    }
  }

  private readonly onFrame = (payload: Buffer): void => {
    // A listener may have closed us (or the whole transport) while handling an earlier frame of this chunk.
    if (this.state === 'closed') return;
    if (this.state === 'hello') {
      const hello = decodeHello(payload);
      if (hello.to !== this.opts.localId) {
        throw new Error(`hello addressed to ${hello.to}, but this node is ${this.opts.localId}`);
      }
      this.peerId = hello.from;
      this.state = 'open';
      this.clearTimer();
      this.opts.onHello(this);
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

  private fail(kind: 'protocol' | 'connection', why: string, cause?: unknown): void {
    if (this.state === 'closed') return;
    const who = this.peerId ?? this.socket.remoteAddress ?? 'unknown';
    this.close();
    this.opts.onFailure(
      new TransportError(kind, `inbound connection from ${who}: ${why}`, this.peerId ?? undefined, { cause }),
    );
  }

  private reportClose(): void {
    this.state = 'closed';
    this.clearTimer();
    if (this.closeReported) return;
    this.closeReported = true;
    this.opts.onClose(this);
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

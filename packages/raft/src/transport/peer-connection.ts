// The outbound half of the transport towards one peer: a single TCP connection (so messages to a peer keep
// their order), a bounded queue of encoded frames, per-tick write coalescing, and reconnection with backoff.

import net from 'node:net';
import type { Message, NodeId } from '../core/types.js';
import { errorMessage, TransportError } from './errors.js';
import { encodeFrame, RAFT_PROTOCOL_BYTE } from './framing.js';
import { encodeHello } from './hello.js';

export interface PeerConnectionOptions {
  localId: NodeId;
  peerId: NodeId;
  addr: string;
  /** Source address for outbound connections (the node's own IP), when set. */
  localAddress?: string;
  /** Signs the hello (see hello.ts). */
  clusterKey?: string;
  maxQueueBytes: number;
  dialTimeoutMs: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  onError: (err: TransportError) => void;
  /** `n` message frames were handed to the socket. */
  onSent: (n: number) => void;
  /** A connection was established after an earlier one broke or a dial failed. */
  onReconnect: () => void;
}

/** Queued bytes at which send() writes at once instead of waiting for the end of the tick. */
const FLUSH_NOW_BYTES = 256 * 1024;
/** Frames below this size are concatenated into one buffer per write; larger ones are written as they are. */
const SMALL_FRAME_BYTES = 16 * 1024;
/** Target size of a concatenated group of small frames. */
const GROUP_BYTES = 64 * 1024;
const KEEPALIVE_DELAY_MS = 10_000;

type State = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

export function parseAddress(addr: string): { host: string; port: number } {
  const colon = addr.lastIndexOf(':');
  let host = colon > 0 ? addr.slice(0, colon) : '';
  const portText = addr.slice(colon + 1);
  const port = Number(portText);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (!host || !/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new Error(`invalid peer address ${JSON.stringify(addr)}: expected host:port`);
  }
  return { host, port };
}

export class PeerConnection {
  private addrText: string;
  private addr: { host: string; port: number };
  private state: State = 'idle';
  private socket: net.Socket | null = null;
  private queue: Buffer[] = [];
  private queueBytes = 0;
  /** socket.write() returned false: hold frames in our queue until 'drain'. */
  private blocked = false;
  /** The 0xFF + hello preamble still has to go out ahead of the queue on the current connection. */
  private helloPending = false;
  /** 0xFF + hello for the current connection (a fresh nonce each time). */
  private hello = Buffer.alloc(0);
  private flushImmediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Consecutive failed dials / short-lived connections; drives the backoff delay. */
  private attempts = 0;
  private hadFailure = false;
  private connectedAt = 0;

  constructor(private readonly opts: PeerConnectionOptions) {
    this.addrText = opts.addr;
    this.addr = parseAddress(opts.addr);
    encodeHello(opts.localId, opts.peerId); // validates the ids up front
  }

  get address(): string {
    return this.addrText;
  }

  /** Bytes accepted but not yet taken by the kernel: our queue plus the socket's own write buffer. */
  get pendingBytes(): number {
    return (
      this.queueBytes + (this.socket !== null && this.state === 'connected' ? this.socket.writableLength : 0)
    );
  }

  get isConnected(): boolean {
    return this.state === 'connected';
  }

  /**
   * Queues `msg`; returns false (message dropped) when it would push pendingBytes past maxQueueBytes.
   * Throws only if the message cannot be encoded.
   */
  enqueue(msg: Message): boolean {
    if (this.state === 'closed') return false;
    // The budget check happens before encoding allocates anything, so an overloaded peer costs no memory.
    const frame = encodeFrame(msg, this.opts.maxQueueBytes - this.pendingBytes);
    if (frame === null) return false;
    this.queue.push(frame);
    this.queueBytes += frame.length;
    if (this.state === 'idle') this.connect();
    else if (this.state === 'connected' && !this.blocked) {
      if (this.queueBytes >= FLUSH_NOW_BYTES) this.flush();
      else if (this.flushImmediate === null) this.flushImmediate = setImmediate(this.flush);
    }
    return true;
  }

  /** Points the connection at a new address; an open connection is replaced at once. */
  setAddress(addr: string): void {
    if (addr === this.addrText) return;
    this.addr = parseAddress(addr);
    this.addrText = addr;
    this.attempts = 0;
    if (this.state === 'connecting' || this.state === 'connected' || this.state === 'backoff') {
      // Detach the old socket now (its late events are ignored) so nothing more is written to it.
      this.discardSocket();
      this.connect();
    }
  }

  /** Closes the connection for good and discards the queue; returns how many queued messages were lost. */
  close(): number {
    if (this.state === 'closed') return 0;
    this.state = 'closed';
    this.discardSocket();
    const lost = this.queue.length;
    this.queue = [];
    this.queueBytes = 0;
    return lost;
  }

  private connect(): void {
    this.state = 'connecting';
    const { host, port } = this.addr;
    const socket = net.connect({ host, port, noDelay: true, localAddress: this.opts.localAddress });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      socket.destroy(new Error(`dial timeout after ${this.opts.dialTimeoutMs} ms`));
    }, this.opts.dialTimeoutMs);

    socket.once('connect', () => {
      if (this.socket !== socket) return;
      this.clearTimer();
      this.state = 'connected';
      this.connectedAt = Date.now();
      if (this.hadFailure) this.opts.onReconnect();
      this.hadFailure = false;
      this.blocked = false;
      this.hello = Buffer.concat([
        Buffer.of(RAFT_PROTOCOL_BYTE),
        encodeHello(this.opts.localId, this.opts.peerId, this.opts.clusterKey),
      ]);
      this.helloPending = true;
      this.flush();
    });
    socket.on('drain', () => {
      if (this.socket !== socket) return;
      this.blocked = false;
      this.flush();
    });
    socket.on('error', (err) => {
      if (this.socket !== socket) return;
      const kind = this.state === 'connected' ? 'connection' : 'dial';
      this.opts.onError(
        new TransportError(
          kind,
          `peer ${this.opts.peerId} (${this.addrText}): ${errorMessage(err)}`,
          this.opts.peerId,
          {
            cause: err,
          },
        ),
      );
    });
    socket.on('close', () => this.onClose(socket));
    // The peer never talks back on this connection; reading (and discarding) lets us see its FIN promptly.
    socket.resume();
  }

  private onClose(socket: net.Socket): void {
    if (this.socket !== socket) return;
    const wasUp = this.state === 'connected';
    this.discardSocket();
    if (this.state === 'closed') return;
    // Bytes already handed to the dead socket are lost; the queue keeps whatever had not been written yet.
    this.hadFailure = true;
    if (wasUp && Date.now() - this.connectedAt >= this.opts.backoffMaxMs) this.attempts = 0;
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** this.attempts);
    this.attempts = Math.min(this.attempts + 1, 30);
    // "Equal jitter": at least half the backoff, so peers restarting together do not redial in lockstep.
    const delay = base / 2 + Math.random() * (base / 2);
    this.state = 'backoff';
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state === 'backoff') this.connect();
    }, delay);
    // A pending redial alone should not keep the process alive.
    this.timer.unref();
  }

  /** Writes everything queued in as few socket writes as possible (one writev when several buffers). */
  private readonly flush = (): void => {
    this.cancelFlush();
    const socket = this.socket;
    // A socket that has ended or failed but not yet emitted 'close' gets nothing more: the frames stay queued
    // for the next connection instead of vanishing into a dead one.
    if (this.state !== 'connected' || this.blocked || socket === null || !socket.writable) return;
    if (this.queue.length === 0 && !this.helloPending) return;
    const frames = this.queue;
    this.queue = [];
    this.queueBytes = 0;

    const chunks: Buffer[] = [];
    let group: Buffer[] = [];
    let groupBytes = 0;
    const endGroup = (): void => {
      if (group.length === 1) chunks.push(group[0]);
      else if (group.length > 1) chunks.push(Buffer.concat(group, groupBytes));
      group = [];
      groupBytes = 0;
    };
    if (this.helloPending) {
      group.push(this.hello);
      groupBytes += this.hello.length;
      this.helloPending = false;
    }
    for (const f of frames) {
      if (f.length >= SMALL_FRAME_BYTES) {
        endGroup();
        chunks.push(f);
        continue;
      }
      group.push(f);
      groupBytes += f.length;
      if (groupBytes >= GROUP_BYTES) endGroup();
    }
    endGroup();

    let ok = true;
    if (chunks.length === 1) ok = socket.write(chunks[0]);
    else {
      // Corked writes leave the stream as a single writev.
      socket.cork();
      for (const c of chunks) ok = socket.write(c);
      socket.uncork();
    }
    if (!ok) this.blocked = true;
    if (frames.length > 0) this.opts.onSent(frames.length);
  };

  /** Forgets the current socket (its pending events become no-ops) and destroys it. */
  private discardSocket(): void {
    const socket = this.socket;
    this.socket = null;
    this.clearTimer();
    this.cancelFlush();
    this.blocked = false;
    this.helloPending = false;
    socket?.destroy();
  }

  private cancelFlush(): void {
    if (this.flushImmediate !== null) {
      clearImmediate(this.flushImmediate);
      this.flushImmediate = null;
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

// TCP transport for Raft messages: one outbound connection per peer for sending (see PeerConnection) and
// any number of inbound connections for receiving (see InboundConnection). Delivery is best effort — Raft
// retransmits — so every failure mode drops messages and counts them rather than blocking or throwing.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Message, NodeId } from '../core/types.js';
import { errorMessage, TransportError } from './errors.js';
import { InboundConnection } from './inbound-connection.js';
import { PeerConnection, parseAddress } from './peer-connection.js';

export interface TransportOptions {
  id: NodeId;
  /** peers this node may send to: id -> "host:port" */
  peers?: Record<NodeId, string>;
  /**
   * Per-peer cap on queued-but-unwritten bytes (our queue plus the socket's write buffer); beyond it new
   * messages to that peer are dropped and counted. Messages queued while a peer is unreachable are kept up to
   * this cap and sent after reconnecting. Default 8 MiB.
   */
  maxQueueBytes?: number;
  /** Inbound frames larger than this close the connection. Default 64 MiB. */
  maxFrameBytes?: number;
  /** Outbound connection attempts give up after this long. Default 3000 ms. */
  dialTimeoutMs?: number;
  /**
   * Source address of outbound connections. A node listening on one IP should dial from it too, so
   * that firewalls (and tests cutting links with iptables) see who is talking.
   */
  localAddress?: string;
  /** Reconnection backoff: doubles from min to max per failure, with jitter. Defaults 25 ms and 1000 ms. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Inbound connections must complete the 0xFF + hello preamble within this long. Default 5000 ms. */
  handshakeTimeoutMs?: number;
  /**
   * An inbound frame, once started, must arrive at minFrameBytesPerSecond (default 1 MiB/s) after a grace
   * of frameGraceMs (default 5000 ms): a 64 MiB frame gets at most 69 s, a trickle about 5 s.
   */
  frameGraceMs?: number;
  minFrameBytesPerSecond?: number;
  /** Inbound connections per source address (default 8) and in all (default 64); more are closed at once. */
  maxInboundPerAddress?: number;
  maxInbound?: number;
  /** The cluster key: hellos are signed with it and must be (see hello.ts). */
  clusterKey?: string;
  /** Whether an inbound hello's sender may talk to us (the Raft configuration); absent means anyone. */
  isPeer?: (id: NodeId) => boolean;
  /** Called for every failure the transport absorbs (see TransportError.kind); never required. */
  onError?: (err: TransportError) => void;
}

export interface TransportStats {
  /** Messages handed to a socket. Bytes in a socket's buffer when its connection breaks are lost uncounted. */
  sent: number;
  /** Messages delivered to 'message' listeners. */
  received: number;
  /** Messages not sent: unknown peer, full queue, unencodable, discarded on removePeer/close, misaddressed inbound. */
  dropped: number;
  /** Outbound connections established after an earlier connection or dial to that peer failed. */
  reconnects: number;
  /** Bytes accepted by send() but not yet taken by the kernel, over all peers. */
  queuedBytes: number;
  /** Inbound connections closed because of malformed, oversized or too slow input. */
  protocolErrors: number;
  /** Inbound connections closed for a hello proving no membership, or refused over a connection cap. */
  refused: number;
  /** Inbound connections open now. */
  inbound: number;
}

export interface TransportEvents {
  message: [msg: Message];
}

const DEFAULTS = {
  maxQueueBytes: 8 * 1024 * 1024,
  maxFrameBytes: 64 * 1024 * 1024,
  dialTimeoutMs: 3000,
  backoffMinMs: 25,
  backoffMaxMs: 1000,
  handshakeTimeoutMs: 5000,
  frameGraceMs: 5000,
  minFrameBytesPerSecond: 1024 * 1024,
  maxInboundPerAddress: 8,
  maxInbound: 64,
};

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) {
    throw new Error(`TcpTransport: ${name} must be a positive number, got ${String(v)}`);
  }
  return v;
}

export class TcpTransport extends EventEmitter<TransportEvents> {
  readonly id: NodeId;
  private readonly maxQueueBytes: number;
  private readonly maxFrameBytes: number;
  private readonly dialTimeoutMs: number;
  private readonly localAddress: string | undefined;
  private readonly backoffMinMs: number;
  private readonly backoffMaxMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly frameGraceMs: number;
  private readonly minFrameBytesPerSecond: number;
  private readonly maxInboundPerAddress: number;
  private readonly maxInbound: number;
  private readonly clusterKey: string | undefined;
  private readonly isPeer: ((id: NodeId) => boolean) | undefined;
  private readonly onError: (err: TransportError) => void;

  private readonly peers = new Map<NodeId, PeerConnection>();
  private readonly inbound = new Set<InboundConnection>();
  /** Latest inbound connection per sender; an older one from the same sender is closed as abandoned. */
  private readonly inboundByPeer = new Map<NodeId, InboundConnection>();
  /** Open inbound connections per source address; an address leaves the map with its last connection. */
  private readonly inboundByAddress = new Map<string, number>();
  private server: net.Server | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;

  private counters = { sent: 0, received: 0, dropped: 0, reconnects: 0, protocolErrors: 0, refused: 0 };

  constructor(opts: TransportOptions) {
    super();
    if (typeof opts.id !== 'string' || opts.id.length === 0)
      throw new Error('TcpTransport: id must be non-empty');
    this.id = opts.id;
    this.maxQueueBytes = positive('maxQueueBytes', opts.maxQueueBytes, DEFAULTS.maxQueueBytes);
    this.maxFrameBytes = positive('maxFrameBytes', opts.maxFrameBytes, DEFAULTS.maxFrameBytes);
    this.dialTimeoutMs = positive('dialTimeoutMs', opts.dialTimeoutMs, DEFAULTS.dialTimeoutMs);
    this.localAddress = opts.localAddress;
    this.backoffMinMs = positive('backoffMinMs', opts.backoffMinMs, DEFAULTS.backoffMinMs);
    this.backoffMaxMs = Math.max(
      this.backoffMinMs,
      positive('backoffMaxMs', opts.backoffMaxMs, DEFAULTS.backoffMaxMs),
    );
    this.handshakeTimeoutMs = positive(
      'handshakeTimeoutMs',
      opts.handshakeTimeoutMs,
      DEFAULTS.handshakeTimeoutMs,
    );
    this.frameGraceMs = positive('frameGraceMs', opts.frameGraceMs, DEFAULTS.frameGraceMs);
    this.minFrameBytesPerSecond = positive(
      'minFrameBytesPerSecond',
      opts.minFrameBytesPerSecond,
      DEFAULTS.minFrameBytesPerSecond,
    );
    this.maxInboundPerAddress = positive(
      'maxInboundPerAddress',
      opts.maxInboundPerAddress,
      DEFAULTS.maxInboundPerAddress,
    );
    this.maxInbound = positive('maxInbound', opts.maxInbound, DEFAULTS.maxInbound);
    this.clusterKey = opts.clusterKey || undefined;
    this.isPeer = opts.isPeer;
    const onError = opts.onError;
    this.onError = (err) => {
      if (!onError) return;
      try {
        onError(err);
      } catch {
        // A throwing error hook must not take the transport (or the process) down with it.
      }
    };
    for (const [id, addr] of Object.entries(opts.peers ?? {})) this.setPeer(id, addr);
  }

  /** Listens on host:port for inbound Raft connections (standalone use, without a multiplexer). */
  async listen(host: string, port: number): Promise<void> {
    if (this.closed) throw new Error('TcpTransport: closed');
    if (this.server !== null) throw new Error('TcpTransport: already listening');
    const server = net.createServer((socket) => this.acceptConnection(socket));
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.server = null;
      throw err;
    }
    server.on('error', (err) =>
      this.onError(new TransportError('server', `listener: ${errorMessage(err)}`, undefined, { cause: err })),
    );
  }

  /** The listening address (useful after listen(host, 0)), or null when not listening. */
  address(): { host: string; port: number } | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : null;
  }

  /**
   * Takes over an inbound socket from a protocol multiplexer. `head` holds the bytes it already read,
   * starting with the 0xFF selector; it may end anywhere (mid-hello, mid-frame).
   */
  acceptConnection(socket: net.Socket, head?: Buffer): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const address = socket.remoteAddress ?? '';
    const fromAddress = this.inboundByAddress.get(address) ?? 0;
    if (fromAddress >= this.maxInboundPerAddress || this.inbound.size >= this.maxInbound) {
      socket.on('error', () => {});
      socket.destroy();
      this.counters.refused++;
      this.onError(
        new TransportError(
          'auth',
          `inbound connection from ${address} refused: ${fromAddress >= this.maxInboundPerAddress ? `${fromAddress} open from that address` : `${this.inbound.size} open`}`,
        ),
      );
      return;
    }
    this.inboundByAddress.set(address, fromAddress + 1);
    const conn = new InboundConnection(socket, {
      localId: this.id,
      maxFrameBytes: this.maxFrameBytes,
      handshakeTimeoutMs: this.handshakeTimeoutMs,
      frameGraceMs: this.frameGraceMs,
      minFrameBytesPerSecond: this.minFrameBytesPerSecond,
      clusterKey: this.clusterKey,
      isPeer: this.isPeer,
      onHello: (c) => {
        const peer = c.peerId!;
        const prev = this.inboundByPeer.get(peer);
        this.inboundByPeer.set(peer, c);
        prev?.close();
      },
      onMessage: (msg) => this.deliver(msg),
      onDiscard: (err) => {
        this.counters.dropped++;
        this.onError(err);
      },
      onFailure: (err) => {
        if (err.kind === 'protocol') this.counters.protocolErrors++;
        else if (err.kind === 'auth') this.counters.refused++;
        this.onError(err);
      },
      onClose: (c) => {
        this.inbound.delete(c);
        const left = (this.inboundByAddress.get(address) ?? 1) - 1;
        if (left > 0) this.inboundByAddress.set(address, left);
        else this.inboundByAddress.delete(address);
        if (c.peerId !== null && this.inboundByPeer.get(c.peerId) === c) this.inboundByPeer.delete(c.peerId);
      },
    });
    this.inbound.add(conn);
    conn.start(head);
  }

  /** Queues `msg` for msg.to. Never blocks or throws; a message that cannot be queued is dropped and counted. */
  send(msg: Message): void {
    try {
      const peer = this.closed ? undefined : this.peers.get(msg.to);
      if (peer === undefined || !peer.enqueue(msg)) this.counters.dropped++;
    } catch (err) {
      this.counters.dropped++;
      this.onError(
        new TransportError('encode', `dropped message: ${errorMessage(err)}`, msg?.to, { cause: err }),
      );
    }
  }

  /** Adds a peer or changes its address (an open connection to the old address is replaced). */
  setPeer(id: NodeId, addr: string): void {
    if (this.closed) return;
    parseAddress(addr); // validate before touching any state
    const existing = this.peers.get(id);
    if (existing !== undefined) {
      existing.setAddress(addr);
      return;
    }
    this.peers.set(
      id,
      new PeerConnection({
        localId: this.id,
        peerId: id,
        addr,
        localAddress: this.localAddress,
        clusterKey: this.clusterKey,
        maxQueueBytes: this.maxQueueBytes,
        dialTimeoutMs: this.dialTimeoutMs,
        backoffMinMs: this.backoffMinMs,
        backoffMaxMs: this.backoffMaxMs,
        onError: this.onError,
        onSent: (n) => {
          this.counters.sent += n;
        },
        onReconnect: () => {
          this.counters.reconnects++;
        },
      }),
    );
  }

  /** Forgets a peer: its connection is closed and messages still queued for it are dropped. */
  removePeer(id: NodeId): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    this.peers.delete(id);
    this.counters.dropped += peer.close();
  }

  stats(): TransportStats {
    let queuedBytes = 0;
    for (const p of this.peers.values()) queuedBytes += p.pendingBytes;
    return { ...this.counters, queuedBytes, inbound: this.inbound.size };
  }

  /** Closes the listener and every connection; queued messages are discarded. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    for (const p of this.peers.values()) this.counters.dropped += p.close();
    this.peers.clear();
    for (const c of [...this.inbound]) c.close();
    const server = this.server;
    this.server = null;
    this.closing = new Promise<void>((resolve) => {
      if (server === null) resolve();
      // Resolves once every accepted socket is gone; ours were all destroyed above.
      else server.close(() => resolve());
    });
    return this.closing;
  }

  private deliver(msg: Message): void {
    this.counters.received++;
    try {
      this.emit('message', msg);
    } catch (err) {
      this.onError(
        new TransportError('listener', `'message' listener threw: ${errorMessage(err)}`, msg.from, {
          cause: err,
        }),
      );
    }
  }
}

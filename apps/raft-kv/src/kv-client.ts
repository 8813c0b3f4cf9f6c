// The raft-kv client: finds the leader and pipelines requests (the protocol is kv-protocol.ts).

import net from 'node:net';
import {
  encodeJsonFrame,
  KV_PROTOCOL_BYTE,
  type KvCall,
  type KvResponse,
  onJsonFrames,
  splitHostPort,
} from './kv-protocol.js';

export interface KvClientOptions {
  /** Addresses (host:port) of the cluster's nodes. */
  nodes: string[];
  /** Give up on a request after this long (its outcome is then unknown for writes). */
  timeoutMs?: number;
}

type Pending = { resolve(r: KvResponse): void; reject(e: Error): void; timer: NodeJS.Timeout };

/** One pipelined connection to one node. */
class KvConnection {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  readonly ready: Promise<void>;
  private socket: net.Socket;
  broken = false;

  constructor(addr: string) {
    const [host, port] = splitHostPort(addr);
    this.socket = net.connect({ host, port: Number(port) });
    this.socket.setNoDelay(true);
    this.ready = new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.once('connect', () => {
        this.socket.off('error', reject);
        this.socket.write(Buffer.from([KV_PROTOCOL_BYTE]));
        resolve();
      });
    });
    this.ready.catch(() => {});
    onJsonFrames(this.socket, (obj) => {
      const res = obj as KvResponse;
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      clearTimeout(p.timer);
      p.resolve(res);
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.broken = true;
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error('connection lost; outcome unknown'));
      }
      this.pending.clear();
    });
  }

  send(req: KvCall, timeoutMs: number): Promise<KvResponse> {
    const id = this.nextId++;
    return new Promise<KvResponse>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.pending.delete(id);
          reject(new Error('request timed out; outcome unknown'));
        },
        Math.max(1, timeoutMs),
      );
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(encodeJsonFrame({ ...req, id }));
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * A client that finds the leader: it follows `not_leader` hints, moves on when a node is down,
 * and pipelines requests over one connection per node.
 */
export class KvClient {
  private readonly conns = new Map<string, KvConnection>();
  private target: string;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(private readonly opts: KvClientOptions) {
    if (opts.nodes.length === 0) throw new Error('KvClient needs at least one node');
    this.target = opts.nodes[0];
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  get leaderGuess(): string {
    return this.target;
  }

  /**
   * Sends one request, retrying where it was certainly not executed (redirects, refused
   * connections) until the deadline. A lost connection or a timeout rejects: the outcome is unknown.
   */
  async call(req: KvCall, deadlineMs = this.timeoutMs): Promise<KvResponse> {
    const deadline = Date.now() + deadlineMs;
    let lastError: Error | null = null;
    let tries = 0;
    while (Date.now() < deadline && !this.closed) {
      const addr = this.target;
      const conn = this.connection(addr);
      try {
        await conn.ready;
      } catch (err) {
        lastError = err as Error;
        this.drop(addr);
        if (this.target === addr) this.rotate();
        await delay(Math.min(50 * ++tries, 250));
        continue;
      }
      const res = await conn.send(req, deadline - Date.now());
      if (!res.ok && (res.error === 'not_leader' || res.error === 'stopped')) {
        if (res.leader && res.leader !== addr) this.target = res.leader;
        else {
          if (this.target === addr) this.rotate();
          await delay(Math.min(20 * ++tries, 200));
        }
        continue;
      }
      return res;
    }
    throw lastError ?? new Error('no leader reachable before the deadline');
  }

  close(): void {
    this.closed = true;
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }

  private connection(addr: string): KvConnection {
    let c = this.conns.get(addr);
    if (!c || c.broken) {
      c = new KvConnection(addr);
      this.conns.set(addr, c);
    }
    return c;
  }

  private drop(addr: string): void {
    this.conns.get(addr)?.close();
    this.conns.delete(addr);
  }

  private rotate(): void {
    const i = this.opts.nodes.indexOf(this.target);
    this.target = this.opts.nodes[(i + 1) % this.opts.nodes.length];
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

import net from 'node:net';
import { FRAME_HEADER_BYTES, FrameDecoder } from '../transport/framing.js';

// The client protocol of the Raft KV node used by the demo, the process-level tests and the
// benchmark: a connection opens with the byte 'K' (so it shares a port with Raft's 0xFF), then
// carries u32-length-prefixed JSON frames. Requests carry an id and may be pipelined.

export const KV_PROTOCOL_BYTE = 0x4b;
const MAX_FRAME = 16 * 1024 * 1024;

export type KvRequest =
  | { id: number; op: 'get'; key: string }
  | { id: number; op: 'put'; key: string; value: string }
  | { id: number; op: 'cas'; key: string; expected: string | null; value: string }
  | { id: number; op: 'del'; key: string }
  | { id: number; op: 'status' }
  | { id: number; op: 'transfer'; to: string }
  | { id: number; op: 'member'; change: 'addLearner' | 'addVoter' | 'removeNode'; node: string };

export type KvResponse =
  | { id: number; ok: true; value?: string | null; prev?: string | null; succeeded?: boolean; status?: unknown }
  | { id: number; ok: false; error: string; message: string; leader?: string | null };

export function encodeJsonFrame(obj: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(obj));
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** Reads JSON frames from a socket; malformed input closes the connection. */
export function onJsonFrames(socket: net.Socket, onFrame: (obj: unknown) => void, head?: Buffer): void {
  const decoder = new FrameDecoder(MAX_FRAME);
  const feed = (chunk: Buffer) => {
    try {
      decoder.push(chunk, (payload) => onFrame(JSON.parse(payload.toString('utf8'))));
    } catch {
      socket.destroy();
    }
  };
  if (head && head.length > 0) feed(head);
  socket.on('data', feed);
}

export interface KvClientOptions {
  /** Addresses (host:port) of the cluster's nodes. */
  nodes: string[];
  /** Give up on a request after this long (its outcome is then unknown for writes). */
  timeoutMs?: number;
}

type Pending = { resolve(r: KvResponse): void; reject(e: Error): void; timer: NodeJS.Timeout };

/**
 * A client that finds the leader: it follows `not_leader` hints, moves on when a node is down,
 * and pipelines requests on one connection.
 */
export class KvClient {
  private socket: net.Socket | null = null;
  private connecting: Promise<net.Socket> | null = null;
  private target: string;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
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

  /** Sends one request, retrying on redirects and refused connections until the deadline. */
  async call(req: Omit<KvRequest, 'id'>, deadlineMs = this.timeoutMs): Promise<KvResponse> {
    const deadline = Date.now() + deadlineMs;
    let lastError: Error | null = null;
    let tries = 0;
    while (Date.now() < deadline && !this.closed) {
      let sock: net.Socket;
      try {
        sock = await this.connect();
      } catch (err) {
        lastError = err as Error;
        this.rotate();
        await delay(Math.min(50 * ++tries, 250));
        continue;
      }
      let res: KvResponse;
      try {
        res = await this.send(sock, req, deadline - Date.now());
      } catch (err) {
        // The connection broke mid-request: for a write the outcome is unknown, so report it.
        throw err;
      }
      if (!res.ok && (res.error === 'not_leader' || res.error === 'stopped')) {
        if (res.leader && res.leader !== this.target) this.retarget(res.leader);
        else {
          this.rotate();
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
    this.socket?.destroy();
    this.socket = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('client closed'));
    }
    this.pending.clear();
  }

  private retarget(node: string): void {
    this.target = node;
    this.socket?.destroy();
    this.socket = null;
  }

  private rotate(): void {
    const i = this.opts.nodes.indexOf(this.target);
    this.retarget(this.opts.nodes[(i + 1) % this.opts.nodes.length]);
  }

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    if (this.connecting) return this.connecting;
    const [host, portStr] = splitHostPort(this.target);
    this.connecting = new Promise<net.Socket>((resolve, reject) => {
      const sock = net.connect({ host, port: Number(portStr) });
      sock.setNoDelay(true);
      const fail = (err: Error) => {
        this.connecting = null;
        sock.destroy();
        reject(err);
      };
      sock.once('error', fail);
      sock.once('connect', () => {
        sock.off('error', fail);
        this.connecting = null;
        sock.write(Buffer.from([KV_PROTOCOL_BYTE]));
        onJsonFrames(sock, (obj) => {
          const res = obj as KvResponse;
          const p = this.pending.get(res.id);
          if (!p) return;
          this.pending.delete(res.id);
          clearTimeout(p.timer);
          p.resolve(res);
        });
        const broken = () => {
          if (this.socket === sock) this.socket = null;
          for (const [id, p] of this.pending) {
            this.pending.delete(id);
            clearTimeout(p.timer);
            p.reject(new Error('connection lost; outcome unknown'));
          }
        };
        sock.on('close', broken);
        sock.on('error', () => {});
        this.socket = sock;
        resolve(sock);
      });
    });
    return this.connecting;
  }

  private send(sock: net.Socket, req: Omit<KvRequest, 'id'>, timeoutMs: number): Promise<KvResponse> {
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
      sock.write(encodeJsonFrame({ ...req, id }));
    });
  }
}

export function splitHostPort(addr: string): [string, string] {
  const i = addr.lastIndexOf(':');
  if (i <= 0) throw new Error(`bad address ${addr}: want host:port`);
  return [addr.slice(0, i), addr.slice(i + 1)];
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

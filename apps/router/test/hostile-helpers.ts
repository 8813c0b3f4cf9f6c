import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import type { Heartbeater } from '@flynn-edge/discoverd-client';
import type { TestCluster } from './helpers.js';

// Raw-socket tools for the hostile-input tests: a backend that behaves like Go's net/http server
// (not Node's) and records every byte it receives, and a client that reads raw responses.

export type RawMode =
  /** Answers every request head with 200 and Content-Length, keeps the connection (Go's server). */
  | 'go200'
  /** Answers the first head with 101, then echoes every byte back. */
  | 'switch101'
  /** Reads and never answers. */
  | 'silent';

export class RawBackend {
  readonly server: Server;
  /** Everything received, one string per connection (latin1). */
  readonly received: string[] = [];
  /** Each request head answered (go200), in order. */
  readonly heads: string[] = [];
  private heartbeater: Heartbeater | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly name: string,
    readonly mode: RawMode,
  ) {
    this.server = createServer((s) => this.onConn(s));
  }

  private onConn(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => {});
    const idx = this.received.push('') - 1;
    let pending = '';
    let tunnel = false;
    s.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      this.received[idx] += text;
      if (this.mode === 'silent') return;
      if (tunnel) {
        s.write(d);
        return;
      }
      pending += text;
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.slice(0, end + 4);
        pending = pending.slice(end + 4);
        this.heads.push(head);
        if (this.mode === 'switch101') {
          tunnel = true;
          s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
          if (pending.length > 0) s.write(Buffer.from(pending, 'latin1'));
          return;
        }
        const body = `${this.name} ${head.slice(0, head.indexOf('\r\n'))}`;
        s.write(
          `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
      }
    });
  }

  get addr(): string {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('not listening');
    return `127.0.0.1:${a.port}`;
  }

  /** Listens and registers in discoverd under `service`. */
  async start(cluster: TestCluster, service: string): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.heartbeater = await cluster.client.addServiceAndRegister(service, this.addr, {
      meta: { FLYNN_APP_NAME: `${service}-app`, FLYNN_JOB_ID: `job-${service}` },
    });
    return this;
  }

  /** Whether any connection received `text`. */
  saw(text: string): boolean {
    return this.received.some((r) => r.includes(text));
  }

  async close(): Promise<void> {
    await this.heartbeater?.close();
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

export interface RawResponse {
  status: number;
  head: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A raw client connection: collects what the server sends and parses Content-Length (or
 * bodiless) responses out of it. After a 101 the rest is tunnel data (`after101`).
 */
export class RawConn {
  readonly socket: Socket;
  readonly connected: Promise<void>;
  data = '';
  closed = false;
  closedAt = 0;
  readonly openedAt = Date.now();
  private readonly whenClosed: Promise<void>;

  constructor(port: number, host: string, socket?: Socket) {
    this.socket = socket ?? netConnect(port, host);
    this.connected = new Promise((r) => {
      this.socket.once('connect', () => r());
      this.socket.once('close', () => r());
    });
    this.socket.on('data', (d: Buffer) => {
      this.data += d.toString('latin1');
    });
    this.socket.on('error', () => {});
    this.whenClosed = new Promise((r) =>
      this.socket.once('close', () => {
        this.closed = true;
        this.closedAt = Date.now();
        r();
      }),
    );
  }

  write(s: string): void {
    this.socket.write(Buffer.from(s, 'latin1'));
  }

  /** The complete responses received so far. */
  responses(): RawResponse[] {
    const out: RawResponse[] = [];
    let rest = this.data;
    for (;;) {
      const end = rest.indexOf('\r\n\r\n');
      if (end < 0) return out;
      const head = rest.slice(0, end);
      const lines = head.split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
      }
      if (status === 101) {
        out.push({ status, head, headers, body: '' });
        return out;
      }
      const len = Number(headers['content-length'] ?? 0);
      if (rest.length < end + 4 + len) return out;
      out.push({ status, head, headers, body: rest.slice(end + 4, end + 4 + len) });
      rest = rest.slice(end + 4 + len);
    }
  }

  /** Tunnel bytes after a 101 head. */
  after101(): string {
    const i = this.data.indexOf('\r\n\r\n');
    return this.data.startsWith('HTTP/1.1 101') && i >= 0 ? this.data.slice(i + 4) : '';
  }

  /** Resolves true once closed, false after `ms`. */
  waitClosed(ms: number): Promise<boolean> {
    return Promise.race([
      this.whenClosed.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref()),
    ]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

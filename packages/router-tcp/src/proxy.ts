// TCP routes (spec §2.8): a pool of pre-bound listeners over the route port range, a route table
// of port → backend supplier, and a splice per accepted connection.

import { createServer, type Server, type Socket } from 'node:net';
import type { Registry } from 'prom-client';
import { type Backend, dialOne, shuffled } from './dial.js';
import { createTcpMetrics, type TcpMetrics } from './metrics.js';
import { RingReader } from './ring-reader.js';
import { splice } from './splice.js';

/** The subset of a pino logger this module uses. */
export interface TcpLogger {
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface TcpRouteProxyOptions {
  /** IP to bind every TCP route listener on. */
  host: string;
  /** Inclusive port range that is pre-bound and handed to routes. */
  range: { start: number; end: number };
  /** Bind every port of the range at start (default true), so no other process can take them. */
  prebind?: boolean;
  /** Per-backend dial timeout (default 1000 ms, as Flynn). */
  dialTimeoutMs?: number;
  logger?: TcpLogger;
  /** prom-client registry for flynn_router_tcp_* metrics. */
  metrics?: Registry;
}

export type BackendSupplier = () => readonly Backend[];

export class TcpRouteProxy {
  private readonly host: string;
  private readonly start_: number;
  private readonly end: number;
  private readonly prebind: boolean;
  private readonly dialTimeoutMs: number;
  private readonly logger?: TcpLogger;
  private readonly metrics?: TcpMetrics;
  private readonly routes = new Map<number, BackendSupplier>();
  private readonly listeners = new Map<number, Promise<Server>>();
  /** Ports whose listener is up, for boundPorts(). */
  private readonly bound = new Set<number>();
  /** Accepted client connections (dialing or spliced) → their port; they outlive a removed route. */
  private readonly clients = new Map<Socket, number>();
  /** Backend sockets of live splices and aborters of dials in progress, for close(). */
  private readonly backends = new Set<Socket>();
  private readonly dials = new Set<AbortController>();
  private closed = false;

  constructor(opts: TcpRouteProxyOptions) {
    const { start, end } = opts.range;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 1 || end > 65535 || start > end) {
      throw new RangeError(`invalid TCP port range ${start}-${end}`);
    }
    this.host = opts.host;
    this.start_ = start;
    this.end = end;
    this.prebind = opts.prebind ?? true;
    this.dialTimeoutMs = opts.dialTimeoutMs ?? 1000;
    this.logger = opts.logger;
    if (opts.metrics) this.metrics = createTcpMetrics(opts.metrics, () => this.activeConnections());
  }

  inRange(port: number): boolean {
    return port >= this.start_ && port <= this.end;
  }

  /** Binds every port of the range (when prebind); rejects, unbinding what was bound, if one fails. */
  async start(): Promise<void> {
    if (!this.prebind) return;
    const ports: number[] = [];
    for (let p = this.start_; p <= this.end; p++) ports.push(p);
    const results = await Promise.allSettled(ports.map((p) => this.bind(p)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.close();
      throw failed.reason;
    }
  }

  /**
   * Serves `port`: each new connection reads `backends()` (the caller reduces a leader route to
   * [leader]). A port outside the range is bound now; a bind error rejects and sets nothing.
   */
  async setRoute(port: number, backends: BackendSupplier): Promise<void> {
    if (this.closed) throw new Error('TcpRouteProxy is closed');
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`invalid port ${port}`);
    await this.bind(port);
    this.routes.set(port, backends);
  }

  /**
   * Stops serving `port`: connections already spliced keep going, new ones are closed at once.
   * A range port stays bound (held for a later route); a port outside the range is unbound.
   */
  async removeRoute(port: number): Promise<void> {
    this.routes.delete(port);
    if (this.inRange(port)) return;
    const pending = this.listeners.get(port);
    if (!pending) return;
    this.listeners.delete(port);
    this.bound.delete(port);
    const server = await pending.catch(() => undefined);
    // Closing the server stops accepting; the spliced connections are separate sockets.
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Unbinds every port and ends every open connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.routes.clear();
    for (const d of this.dials) d.abort();
    const all = [...this.listeners.values()];
    this.listeners.clear();
    this.bound.clear();
    const servers = (await Promise.allSettled(all)).flatMap((r) =>
      r.status === 'fulfilled' ? [r.value] : [],
    );
    const closing = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const sock of [...this.clients.keys(), ...this.backends]) {
      closing.push(new Promise<void>((resolve) => sock.once('close', () => resolve())));
      sock.destroy();
    }
    await Promise.all(closing);
  }

  /** Open client connections (dialing or spliced), on one port or all. */
  activeConnections(port?: number): number {
    if (port === undefined) return this.clients.size;
    let n = 0;
    for (const p of this.clients.values()) if (p === port) n++;
    return n;
  }

  /** Ports currently bound (range and on-demand). */
  boundPorts(): number[] {
    return [...this.bound].sort((a, b) => a - b);
  }

  private bind(port: number): Promise<Server> {
    const existing = this.listeners.get(port);
    if (existing) return existing;
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    server.on('connection', (sock) => this.accept(port, sock));
    const pending = new Promise<Server>((resolve, reject) => {
      const onError = (err: Error): void => {
        this.listeners.delete(port);
        reject(err);
      };
      server.once('error', onError);
      // exclusive: false lets Node cluster workers share the primary's listening handle.
      server.listen({ host: this.host, port, exclusive: false }, () => {
        server.off('error', onError);
        // Accept errors (e.g. EMFILE) must not crash the process.
        server.on('error', (err) => this.logger?.warn({ err, port }, 'tcp route listener error'));
        this.bound.add(port);
        resolve(server);
      });
    });
    this.listeners.set(port, pending);
    pending.catch(() => {});
    return pending;
  }

  private accept(port: number, client: Socket): void {
    const route = this.routes.get(port);
    if (!route || this.closed) {
      // Flynn left such connections waiting in the backlog; we close them at once.
      client.destroy();
      return;
    }
    this.clients.set(client, port);
    client.once('close', () => this.clients.delete(client));
    this.metrics?.connections.inc({ port: String(port) });
    void this.connect(port, client, route());
  }

  private async connect(port: number, client: Socket, backends: readonly Backend[]): Promise<void> {
    // While dialing, the client is paused (pauseOnConnect); an error or reset aborts the dial.
    const abort = new AbortController();
    const onClientGone = (): void => abort.abort();
    client.once('error', onClientGone);
    client.once('close', onClientGone);
    this.dials.add(abort);
    let backend: Socket | undefined;
    let reader: RingReader | undefined;
    try {
      for (const b of shuffled(backends)) {
        if (abort.signal.aborted) break;
        try {
          reader = new RingReader();
          backend = await dialOne(b.addr, this.dialTimeoutMs, abort.signal, reader);
          break;
        } catch (err) {
          if (abort.signal.aborted) break;
          this.metrics?.dialFailures.inc({ port: String(port) });
          this.logger?.debug({ err, port, addr: b.addr }, 'tcp route dial failed');
        }
      }
    } finally {
      this.dials.delete(abort);
      client.off('error', onClientGone);
      client.off('close', onClientGone);
    }
    if (!backend || abort.signal.aborted || client.destroyed) {
      backend?.destroy();
      if (!backend && !client.destroyed) {
        this.logger?.debug({ port, backends: backends.length }, 'tcp route: no backend reachable');
      }
      client.destroy();
      return;
    }
    const b = backend;
    this.backends.add(b);
    b.once('close', () => this.backends.delete(b));
    splice(client, b, reader);
  }
}

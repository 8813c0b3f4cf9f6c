import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { DEFAULT_LIMITS, type HeadLimits } from '@flynn-edge/http1';
import type { HTTPRoute } from '@flynn-edge/router-core';
import { ClientConn } from './client-connection.js';
import { Http2Bridge } from './h2.js';
import type { ProxyMetrics } from './metrics.js';
import { BackendPool } from './pool.js';
import type { ProxyCore } from './proxy-core.js';
import { type CannedResponses, cannedResponses } from './responses.js';
import { StickyCodec } from './sticky.js';
import type {
  AccessLogEntry,
  ConnectionInfo,
  HttpProxyOptions,
  LocalResponder,
  Logger,
  ProxyTimeouts,
  RouteResolver,
} from './types.js';
import { WaitingList } from './waiting-list.js';

export const DEFAULT_TIMEOUTS: Readonly<ProxyTimeouts> = Object.freeze({
  idleMs: 5 * 60_000,
  headerMs: 60_000,
  responseHeaderMs: 10 * 60_000,
  dialMs: 1000,
  backendIdleMs: 4000,
  quarantineMs: 5000,
});

/**
 * The router's HTTP/1 data path: strict head parsing, head rewriting, body bytes forwarded
 * untouched over pooled keep-alive backend sockets. No node:http objects on the hot path.
 */
export class HttpProxy implements ProxyCore {
  readonly hostName: string;
  readonly proxyProtocol: boolean;
  readonly timeouts: ProxyTimeouts;
  readonly limits: HeadLimits;
  readonly clock: () => number;
  readonly logger: Logger | undefined;
  readonly metrics: ProxyMetrics | undefined;
  readonly accessLog: ((entry: AccessLogEntry) => void) | undefined;
  readonly resolver: RouteResolver;
  readonly localResponder: LocalResponder | undefined;
  readonly canned: CannedResponses;
  readonly pool: BackendPool;
  readonly sticky: StickyCodec;
  closing = false;
  readonly waiting = new WaitingList<ClientConn>();
  private readonly maxConnections: number;
  private readonly conns = new Set<ClientConn>();
  private readonly labels = new WeakMap<HTTPRoute, string>();
  private readonly ticker: NodeJS.Timeout;
  private closeWaiters: (() => void)[] = [];
  private h2: Http2Bridge | null = null;

  constructor(opts: HttpProxyOptions) {
    // Written into every request head as is: refuse anything that could inject a line.
    if (!/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(opts.hostName))
      throw new TypeError('invalid hostName');
    this.hostName = opts.hostName;
    this.proxyProtocol = opts.proxyProtocol === true;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.clock = opts.clock ?? Date.now;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    this.accessLog = opts.accessLog;
    this.resolver = opts.resolver;
    this.localResponder = opts.localResponder;
    this.canned = cannedResponses(opts.error503Page);
    this.sticky = new StickyCodec(opts.cookieKey);
    this.maxConnections = opts.maxConnections ?? 10_000;
    const m = opts.metrics;
    this.pool = new BackendPool({
      dialMs: this.timeouts.dialMs,
      idleMs: this.timeouts.backendIdleMs,
      maxIdle: opts.maxIdlePerBackend ?? 256,
      quarantineMs: this.timeouts.quarantineMs,
      quarantineAfter: opts.quarantineAfter ?? 3,
      clock: this.clock,
      onDialFailure: m ? () => m.dialFailures.inc() : undefined,
    });
    if (m) m.quarantinedCount = () => this.pool.quarantinedCount();
    // One coarse ticker enforces every client deadline, so requests arm no timers.
    const t = this.timeouts;
    const tick = Math.max(10, Math.min(1000, Math.min(t.idleMs, t.headerMs, t.responseHeaderMs) / 4));
    this.ticker = setInterval(() => this.tick(), tick);
    this.ticker.unref();
  }

  handleConnection(socket: Socket, info: ConnectionInfo): void {
    if (!this.admit(socket)) return;
    const conn = new ClientConn(this, socket, info);
    if (socket.destroyed) return;
    this.conns.add(conn);
    this.waiting.push(conn);
    this.metrics?.clientConnections.inc();
  }

  /**
   * A TLS connection that negotiated ALPN `h2`: every stream is proxied to a backend over the
   * pooled HTTP/1.1 connections with the same rules as HTTP/1.
   */
  handleHttp2(socket: TLSSocket, info: ConnectionInfo): void {
    if (!this.admit(socket)) return;
    if (this.h2 === null) this.h2 = new Http2Bridge(this);
    this.metrics?.clientConnections.inc();
    socket.once('close', () => this.metrics?.clientConnections.dec());
    this.h2.handle(socket, info);
  }

  /**
   * Room for one more connection: at the cap the connection that has waited longest without a
   * request in flight is closed (a silent socket must not lock clients out); when every one has
   * a request in flight the new socket is destroyed.
   */
  private admit(socket: Socket): boolean {
    if (!this.closing && this.openConnections >= this.maxConnections) {
      const victim = this.waiting.shift();
      if (victim !== null) {
        this.metrics?.evictedConnections.inc();
        victim.evict();
      }
    }
    if (this.closing || this.openConnections >= this.maxConnections) {
      this.metrics?.rejectedConnections.inc();
      socket.on('error', () => {});
      socket.destroy();
      return false;
    }
    return true;
  }

  forget(conn: ClientConn): void {
    this.waiting.remove(conn);
    if (!this.conns.delete(conn)) return;
    this.metrics?.clientConnections.dec();
    if (this.conns.size === 0 && this.closeWaiters.length > 0) {
      const w = this.closeWaiters;
      this.closeWaiters = [];
      for (const f of w) f();
    }
  }

  routeLabel(route: HTTPRoute): string {
    let l = this.labels.get(route);
    if (l === undefined) {
      const raw = `${route.domain}${route.path}`;
      l = this.metrics ? this.metrics.routeLabel(raw) : raw;
      this.labels.set(route, l);
    }
    return l;
  }

  private tick(): void {
    const now = this.clock();
    for (const c of this.conns) if (c.deadline <= now) c.expire();
  }

  /** Requests in flight to `addr` (upgrades are not counted). */
  inFlight(addr: string): number {
    return this.pool.inFlight(addr);
  }

  /** Resolves when `addr` has no request in flight (draining → backend-drained). */
  whenIdle(addr: string): Promise<void> {
    return this.pool.whenIdle(addr);
  }

  get openConnections(): number {
    return this.conns.size + (this.h2?.openSessions ?? 0);
  }

  /** Idle pooled backend connections (for one address, or all). */
  idleBackendConnections(addr?: string): number {
    return this.pool.idleCount(addr);
  }

  /**
   * Graceful stop: no new connections; idle keep-alive clients are closed between requests;
   * in-flight responses finish with `Connection: close`. Resolves when every client socket is
   * gone. After `forceAfterMs` (default: never) the remaining ones (e.g. websockets) are destroyed.
   */
  close(forceAfterMs?: number): Promise<void> {
    this.closing = true;
    for (const c of this.conns) c.shutdown();
    const done = new Promise<void>((resolve) => {
      if (this.conns.size === 0) resolve();
      else this.closeWaiters.push(resolve);
    });
    let force: NodeJS.Timeout | undefined;
    if (forceAfterMs !== undefined) {
      force = setTimeout(() => {
        for (const c of this.conns) c.socket.destroy();
      }, forceAfterMs);
    }
    const h2 = this.h2?.close() ?? Promise.resolve();
    return Promise.all([done, h2]).then(() => {
      if (force) clearTimeout(force);
      clearInterval(this.ticker);
      this.pool.close();
    });
  }
}

import type { HeadLimits } from '@flynn-edge/http1';
import type { HTTPRoute } from '@flynn-edge/router-core';
import type { ClientConn } from './client-connection.js';
import type { ProxyMetrics } from './metrics.js';
import type { BackendPool } from './pool.js';
import type { CannedResponses } from './responses.js';
import type { StickyCodec } from './sticky.js';
import type {
  AccessLogEntry,
  Backend,
  LocalResponder,
  Logger,
  ProxyTimeouts,
  RouteResolver,
} from './types.js';
import type { WaitingList } from './waiting-list.js';

/** What client connections share: configuration, the backend pool and bookkeeping. */
export interface ProxyCore {
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
  readonly closing: boolean;
  /** Connections without a request in flight, oldest first (eviction candidates). */
  readonly waiting: WaitingList<ClientConn>;
  forget(conn: ClientConn): void;
  routeLabel(route: HTTPRoute): string;
}

/** A finished request (HTTP/1 exchange or HTTP/2 stream) as metrics and the access log see it. */
export interface RequestRecord {
  readonly start: number;
  readonly requestId: string;
  readonly clientAddr: string;
  readonly host: string;
  readonly path: string;
  readonly method: string;
  readonly status: number;
  readonly routeLabel: string;
  readonly backend: Backend | null;
  readonly connReused: boolean;
  readonly scheme: 'http' | 'https';
}

export function recordRequest(core: ProxyCore, r: RequestRecord): void {
  const status = r.status;
  if (core.metrics !== undefined) core.metrics.observe(r.routeLabel, status, (core.clock() - r.start) / 1000);
  if (core.accessLog !== undefined) {
    const b = r.backend;
    core.accessLog({
      time: new Date(r.start).toISOString(),
      request_id: r.requestId,
      client_addr: r.clientAddr,
      host: r.host,
      path: r.path,
      method: r.method,
      status,
      route: r.routeLabel,
      addr: b?.addr,
      'job.id': b?.jobId,
      app: b?.app,
      conn_reused: r.connReused,
      duration_ms: core.clock() - r.start,
      scheme: r.scheme,
    });
  }
}

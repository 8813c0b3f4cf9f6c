import type { HeadLimits } from '@flynn-edge/http1';
import type { HTTPRoute } from '@flynn-edge/router-core';
import type { ClientConn } from './client.js';
import type { ProxyMetrics } from './metrics.js';
import type { BackendPool } from './pool.js';
import type { CannedResponses } from './responses.js';
import type { StickyCodec } from './sticky.js';
import type { AccessLogEntry, Logger, ProxyTimeouts, RouteResolver } from './types.js';
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
  readonly canned: CannedResponses;
  readonly pool: BackendPool;
  readonly sticky: StickyCodec;
  readonly closing: boolean;
  /** Connections without a request in flight, oldest first (eviction candidates). */
  readonly waiting: WaitingList<ClientConn>;
  forget(conn: ClientConn): void;
  routeLabel(route: HTTPRoute): string;
}

export { createProxyMetrics, type ProxyMetrics } from './metrics.js';
export { DEFAULT_TIMEOUTS, HttpProxy } from './proxy.js';
export { PROXY_V1_MAX, type ProxySource, parseProxyLine, readProxyProtocolV1 } from './proxy-protocol.js';
export { findStickyCookie, STICKY_COOKIE, StickyCodec } from './sticky.js';
export type {
  AccessLogEntry,
  Backend,
  ConnectionInfo,
  HttpProxyOptions,
  LocalResponder,
  Logger,
  ProxyTimeouts,
  ResolvedRoute,
  RouteResolver,
} from './types.js';

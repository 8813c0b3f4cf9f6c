import type { HeadLimits } from '@flynn-edge/http1';
import type { HTTPRoute } from '@flynn-edge/router-core';
import type { ProxyMetrics } from './metrics.js';

export interface Backend {
  /** "ip:port" */
  addr: string;
  app?: string;
  jobId?: string;
}

/** A route as the proxy sees it; `https_redirect` arrives with the router's route type. */
export interface ResolvedRoute {
  route: HTTPRoute & { https_redirect?: boolean };
  /** Current backends (leader routes already reduced to [leader]). */
  backends: readonly Backend[];
}

export interface RouteResolver {
  resolve(host: string | undefined, listenerPort: number, path: string): ResolvedRoute | undefined;
}

export interface ConnectionInfo {
  listenerPort: number;
  scheme: 'http' | 'https';
  /**
   * The client address when the caller already read a PROXY protocol line (the TLS listener
   * does, before the handshake). Without it, and with `proxyProtocol` on, the proxy reads the
   * PROXY line itself.
   */
  clientAddress?: string;
  /**
   * When the connection was accepted (the proxy's clock), if before it reached the proxy (a TLS
   * handshake): the first request head must be complete within `headerMs` of it.
   */
  acceptedAt?: number;
}

export interface Logger {
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** One finished request, shaped like Flynn's "request complete" debug line. */
export interface AccessLogEntry {
  time: string;
  request_id: string;
  client_addr: string;
  host: string;
  path: string;
  method: string;
  status: number;
  route: string;
  addr?: string;
  'job.id'?: string;
  app?: string;
  conn_reused: boolean;
  duration_ms: number;
  scheme: 'http' | 'https';
}

export interface ProxyTimeouts {
  /** Idle keep-alive client connection. Default 5 min. */
  idleMs: number;
  /**
   * For a request head to arrive complete: from the connection's accept for its first request,
   * from the first byte for later ones. Default 1 min.
   */
  headerMs: number;
  /** From the request to the backend's response head. Default 10 min. */
  responseHeaderMs: number;
  /** Backend dial. Default 1 s. */
  dialMs: number;
  /**
   * Pooled idle backend connection. Below typical backends' keep-alive timeouts: Node's http
   * server closes idle connections after 5 s, so the default is 4 s.
   */
  backendIdleMs: number;
  /** How long a backend is skipped after consecutive dial failures. Default 5 s. */
  quarantineMs: number;
}

/**
 * Answers requests under one path prefix before route matching, on every host and even on a
 * route that redirects HTTP to HTTPS (the ACME http-01 challenges). Only requests it has an
 * answer for: the rest are routed as usual (an app's own http-01 reaches the app).
 */
export interface LocalResponder {
  /** Only targets starting with this are offered to answer(): the one check other requests pay. */
  prefix: string;
  /** The body of a 200 answer, or undefined to route the request as usual. */
  answer(host: string | undefined, target: string): string | undefined;
}

export interface HttpProxyOptions {
  resolver: RouteResolver;
  /** Answered before route matching (HTTP/1). */
  localResponder?: LocalResponder;
  /** 32-byte secretbox key for the sticky `_backend` cookie. */
  cookieKey: Buffer;
  /** Body of 503 answers, served as text/html. */
  error503Page?: Buffer;
  /** Expect a PROXY protocol v1 line at the start of each plain connection. */
  proxyProtocol?: boolean;
  /** Value of the `Flynn-Router-Host` header set on every proxied request. */
  hostName: string;
  limits?: Partial<HeadLimits>;
  timeouts?: Partial<ProxyTimeouts>;
  /**
   * Client connections beyond this evict the oldest one without a request in flight (silent, or
   * idle between requests); when every one has a request in flight the new one is destroyed.
   * Default 10,000.
   */
  maxConnections?: number;
  /** Idle pooled connections kept per backend. Default 256. */
  maxIdlePerBackend?: number;
  /** Consecutive dial failures before quarantine. Default 3. */
  quarantineAfter?: number;
  logger?: Logger;
  accessLog?: (entry: AccessLogEntry) => void;
  metrics?: ProxyMetrics;
  /** Milliseconds since the epoch; tests may replace it. */
  clock?: () => number;
}

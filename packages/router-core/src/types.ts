import type { ManagedCertificate } from './managed.js';

// Flynn's route and certificate JSON (router/types/types.go, spec §2.2).

/** Go's zero time.Time as encoding/json writes it. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

export interface Certificate {
  id?: string;
  routes?: string[];
  cert?: string;
  key?: string;
  /** Always emitted (Go zero time when unset). */
  created_at: string;
  /** Always emitted (Go zero time when unset). */
  updated_at: string;
}

interface RouteCommon {
  id?: string;
  parent_ref?: string;
  /** Always emitted. */
  service: string;
  /** HTTP: listener port, 0 = the default HTTP and HTTPS ports. TCP: the port. */
  port: number;
  /** Always emitted. Route only to the service leader. */
  leader: boolean;
  /** Always emitted (Go zero time when unset). */
  created_at: string;
  /** Always emitted (Go zero time when unset). */
  updated_at: string;
  drain_backends: boolean;
}

export interface HTTPRoute extends RouteCommon {
  type: 'http';
  /** Lower-cased; `*` (catch-all) or `*.suffix` for wildcards. */
  domain: string;
  certificate?: Certificate;
  sticky: boolean;
  /** Starts and ends with `/`. */
  path: string;
  disable_keep_alives: boolean;
  /**
   * Not in Flynn (issues #2310, #3269): answer plain-HTTP requests for this route with a 308
   * to the same URL on https. Omitted from JSON when false.
   */
  https_redirect?: boolean;
  /** Issue 18: a certificate obtained and renewed through ACME (omitted when not asked for). */
  managed_certificate?: ManagedCertificate;
}

export interface TCPRoute extends RouteCommon {
  type: 'tcp';
}

export type Route = HTTPRoute | TCPRoute;

/** The routes a validation is checked against (the live routes in the store). */
export type RouteSet = Iterable<Route>;

export type RouteErrorCode = 'validation_error' | 'conflict' | 'object_not_found';

export interface RouteError {
  /** hh error code: validation_error → 400, conflict → 409, object_not_found → 404. */
  code: RouteErrorCode;
  /** Flynn's message, as the API answers it. */
  message: string;
  /** The offending field, when there is one. */
  field?: string;
  /** Why, when Flynn's message is generic (e.g. its "Invalid route" for a trigger exception). */
  reason?: string;
}

export interface PortRange {
  /** Inclusive. */
  start: number;
  /** Inclusive. */
  end: number;
}

export const DEFAULT_TCP_RANGE: PortRange = { start: 3000, end: 3500 };

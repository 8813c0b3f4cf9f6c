import { isIP } from 'node:net';

// Managed certificates (issue 18): a route asks for one, the cluster's ACME issuer (one router,
// elected) orders it with http-01 and installs it as the route's certificate. The state lives in
// the route record (`managed_certificate`), so `flynn route` and the route JSON show it.
// SEAM: shapes agreed between the route API/CLI side and the issuer side; keep them stable.

export type ManagedStatus = 'pending' | 'issued' | 'failed' | 'renewing';

export interface ManagedCertificate {
  /** The name on the certificate (the route's domain unless given). No wildcard, no IP. */
  domain: string;
  status: ManagedStatus;
  /** The last failure, as the ACME server or the issuer said it (absent once issued again). */
  last_error?: string;
  /** Failed attempts since the last success (backoff). */
  attempts?: number;
  /** When the issuer tries again after a failure (RFC 3339). */
  next_attempt_at?: string;
  /** The issued certificate's id in the certificate store, and its validity. */
  certificate_id?: string;
  not_before?: string;
  expires_at?: string;
  created_at: string;
  updated_at: string;
}

/** Cluster-store keys of the ACME state (not routes: the route watch ignores them). */
export const acmeKeys = {
  /** `{"key_pem","url","directory_url","contact":[…],"created_at"}`: one account per directory. */
  account: 'acme/account',
  /** `{"owner","at"}`: the issuer working on this route's order (two never order one route). */
  order: (routeId: string) => `acme/orders/${routeId}`,
  challengesPrefix: 'acme/challenges/',
  /** `{"domain","key_authorization","created_at"}`: served by every router at /.well-known/acme-challenge/<token>. */
  challenge: (token: string) => `acme/challenges/${token}`,
};

export const ACME_CHALLENGE_PATH = '/.well-known/acme-challenge/';

/** The user's part of `managed_certificate` on a route create or update; the rest is the API's. */
export interface ManagedInput {
  domain?: string;
  /** Update only: force a renewal of an issued certificate (status → `renewing`). */
  renew?: boolean;
}

export const MANAGED_DOMAIN_FIELD = 'managed_certificate.domain';
export const MANAGED_WILDCARD = 'http-01 cannot prove a wildcard name; use your own certificate';
export const MANAGED_WITH_CERTIFICATE =
  'a route whose managed certificate is issued cannot take its own certificate (remove the managed certificate first)';
export const MANAGED_SUB_PATH =
  'a managed certificate belongs on the domain\'s "/" route (a sub-path route is never chosen for TLS)';

/** Does the route's own certificate give way to the issuer (nothing issued yet)? */
export function managedAwaitsIssue(m: ManagedCertificate): boolean {
  return m.status === 'pending' || m.status === 'failed';
}

/**
 * The route domains whose `/` route could hold a managed certificate for `name` (lower-cased,
 * no wildcard): the name itself, the wildcard one label up, and the catch-all.
 */
export function managedRouteDomains(name: string): string[] {
  const dot = name.indexOf('.');
  return dot > 0 ? [name, `*.${name.slice(dot + 1)}`, '*'] : [name, '*'];
}

/**
 * Why `name` (already lower-cased) cannot be a managed certificate of a route on `routeDomain`,
 * or undefined when it can. The route's domain must match the name: equal, the route wildcard
 * `*.x` over one label `a.x`, or the catch-all `*`.
 */
export function managedDomainProblem(name: string, routeDomain: string): string | undefined {
  if (name.includes('*')) return MANAGED_WILDCARD;
  if (isIP(name) || isIP(name.replace(/^\[|\]$/g, ''))) {
    return 'http-01 here cannot prove an IP address; use your own certificate';
  }
  if (routeDomain === '*' || name === routeDomain) return undefined;
  const dot = name.indexOf('.');
  if (routeDomain.startsWith('*.') && dot > 0 && name.slice(dot + 1) === routeDomain.slice(2))
    return undefined;
  return `${name} is not served by this route (domain ${routeDomain})`;
}

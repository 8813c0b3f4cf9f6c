import type { ManagedCertificate } from './managed.js';
import { type Certificate, GO_ZERO_TIME, type Route } from './types.js';

/** A Date as Go's time.Time marshals to JSON in UTC: RFC 3339, fraction without trailing zeros. */
export function goTime(date: Date): string {
  const iso = date.toISOString(); // 2020-01-02T03:04:05.600Z
  return iso.replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

/** Certificate JSON in Go's field order; times always emitted, the rest omitempty. */
export function certificateToJSON(c: Certificate): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (c.id) out.id = c.id;
  if (c.routes && c.routes.length > 0) out.routes = [...c.routes];
  if (c.cert) out.cert = c.cert;
  if (c.key) out.key = c.key;
  out.created_at = c.created_at || GO_ZERO_TIME;
  out.updated_at = c.updated_at || GO_ZERO_TIME;
  return out;
}

/**
 * Route JSON exactly as Flynn emits it: Go's field order; `type`, `service`, `leader` and both
 * timestamps always present; everything else omitempty (so `port: 0`, `sticky: false`, … vanish).
 */
export function routeToJSON(r: Route): Record<string, unknown> {
  const out: Record<string, unknown> = { type: r.type };
  if (r.id) out.id = r.id;
  if (r.parent_ref) out.parent_ref = r.parent_ref;
  out.service = r.service;
  if (r.port) out.port = r.port;
  out.leader = r.leader;
  out.created_at = r.created_at || GO_ZERO_TIME;
  out.updated_at = r.updated_at || GO_ZERO_TIME;
  if (r.type === 'http') {
    if (r.domain) out.domain = r.domain;
    if (r.certificate) out.certificate = certificateToJSON(r.certificate);
    if (r.sticky) out.sticky = true;
    if (r.path) out.path = r.path;
  }
  if (r.drain_backends) out.drain_backends = true;
  if (r.type === 'http' && r.disable_keep_alives) out.disable_keep_alives = true;
  if (r.type === 'http' && r.https_redirect) out.https_redirect = true;
  if (r.type === 'http' && r.managed_certificate)
    out.managed_certificate = managedToJSON(r.managed_certificate);
  return out;
}

/** The whole managed state, in its declared field order; absent fields omitted. */
export function managedToJSON(m: ManagedCertificate): Record<string, unknown> {
  const out: Record<string, unknown> = { domain: m.domain, status: m.status };
  if (m.last_error) out.last_error = m.last_error;
  if (m.attempts) out.attempts = m.attempts;
  if (m.next_attempt_at) out.next_attempt_at = m.next_attempt_at;
  if (m.certificate_id) out.certificate_id = m.certificate_id;
  if (m.not_before) out.not_before = m.not_before;
  if (m.expires_at) out.expires_at = m.expires_at;
  out.created_at = m.created_at || GO_ZERO_TIME;
  out.updated_at = m.updated_at || GO_ZERO_TIME;
  return out;
}

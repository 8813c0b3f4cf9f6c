// The answer (spec §3): Flynn's envelope `{"data":{"status","detail","version"}}` in that field
// order, pretty-printed with two spaces and a trailing newline, `detail` keys sorted. Beyond
// Flynn, each detail entry carries the check's latency (`latency_seconds`, base units as in the
// metrics) and, when unhealthy, a `reason`. `status` is the first field of `data`, so the
// healthy/unhealthy token sits in the first few dozen bytes (health checkers read only the start).

export type Health = 'healthy' | 'unhealthy';

/** What a check found. */
export interface CheckOutcome {
  healthy: boolean;
  /** Why it is unhealthy (ignored when healthy). */
  reason?: string;
  /** Anything useful for an operator (instances, indexes, …). */
  detail?: unknown;
}

/** One entry of `detail`, in its field order. */
export interface ComponentResult {
  status: Health;
  reason?: string;
  latency_seconds: number;
  /** Present (true) for a component that does not count towards the overall status. */
  optional?: true;
  detail?: unknown;
}

export interface StatusResult {
  healthy: boolean;
  detail: Record<string, ComponentResult>;
  /** When the round finished (the cache's clock, ms). */
  checkedAt: number;
}

export function componentResult(
  outcome: CheckOutcome,
  latencySeconds: number,
  optional = false,
): ComponentResult {
  const r: ComponentResult = {
    status: outcome.healthy ? 'healthy' : 'unhealthy',
    latency_seconds: Math.round(latencySeconds * 1e6) / 1e6,
  };
  if (!outcome.healthy) {
    // Field order: status, reason, latency_seconds, optional, detail.
    const { status, latency_seconds } = r;
    const withReason: ComponentResult = { status, reason: outcome.reason || 'unhealthy', latency_seconds };
    if (optional) withReason.optional = true;
    if (outcome.detail !== undefined) withReason.detail = outcome.detail;
    return withReason;
  }
  if (optional) r.optional = true;
  if (outcome.detail !== undefined) r.detail = outcome.detail;
  return r;
}

/** Overall health: every required component healthy (optional ones never count). */
export function overallHealthy(detail: Record<string, ComponentResult>): boolean {
  return Object.values(detail).every((c) => c.optional === true || c.status === 'healthy');
}

function sortedDetail(detail: Record<string, ComponentResult>): Record<string, ComponentResult> {
  const out: Record<string, ComponentResult> = {};
  for (const k of Object.keys(detail).sort()) out[k] = detail[k]!;
  return out;
}

// Go's encoding/json escapes these inside strings; outside strings they never occur in JSON.
const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** JSON.stringify with Go's HTML-safe escaping. */
export function goJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c]!);
}

/** The `data` object: status, detail (sorted), version (omitted when empty). */
export function envelopeData(
  result: Pick<StatusResult, 'healthy' | 'detail'>,
  version: string,
): Record<string, unknown> {
  const data: Record<string, unknown> = { status: result.healthy ? 'healthy' : 'unhealthy' };
  data.detail = sortedDetail(result.detail);
  if (version) data.version = version;
  return data;
}

/** The response body, byte for byte: 2-space pretty JSON plus a trailing newline. */
export function renderEnvelope(result: Pick<StatusResult, 'healthy' | 'detail'>, version: string): string {
  return `${goJson({ data: envelopeData(result, version) }, 2)}\n`;
}

/** 200 when healthy, 500 otherwise (Flynn). */
export function statusCode(result: Pick<StatusResult, 'healthy'>): 200 | 500 {
  return result.healthy ? 200 : 500;
}

// Errors as the client surfaces them: Flynn's hh envelope (`{"code","message","retry"}`) plus the
// HTTP status, or a client-side code for failures that never produced an answer.

/** Codes that are not hh codes: the request never got a usable answer. */
export type ClientErrorCode =
  | 'network_error'
  | 'timeout'
  | 'too_many_redirects'
  | 'bad_redirect'
  | 'aborted'
  | 'closed';

export interface DiscoverdErrorInit {
  code: string;
  message: string;
  /** HTTP status; 0 when no answer arrived. */
  status?: number;
  retry?: boolean;
  detail?: unknown;
  /** The server that answered (or failed), when known. */
  server?: string;
  cause?: unknown;
}

export class DiscoverdError extends Error {
  override readonly name = 'DiscoverdError';
  readonly code: string;
  readonly status: number;
  readonly retry: boolean;
  readonly detail?: unknown;
  readonly server?: string;

  constructor(init: DiscoverdErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.status = init.status ?? 0;
    this.retry = init.retry ?? false;
    if (init.detail !== undefined) this.detail = init.detail;
    if (init.server !== undefined) this.server = init.server;
  }
}

/** hh code a status implies when the body is not an hh envelope (e.g. the plain-text 404). */
function codeForStatus(status: number): { code: string; retry: boolean } {
  switch (status) {
    case 400:
      return { code: 'validation_error', retry: false };
    case 401:
      return { code: 'unauthorized', retry: false };
    case 404:
      return { code: 'not_found', retry: false };
    case 409:
      return { code: 'conflict', retry: false };
    case 412:
      return { code: 'precondition_failed', retry: false };
    case 429:
      return { code: 'ratelimited', retry: true };
    case 502:
    case 503:
    case 504:
      return { code: 'service_unavailable', retry: true };
    default:
      return { code: 'unknown_error', retry: false };
  }
}

/** Builds the error for a non-2xx answer from its body (an hh envelope or anything else). */
export function errorFromResponse(status: number, body: string, server?: string): DiscoverdError {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const o = parsed as Record<string, unknown>;
      if (typeof o.code === 'string') {
        return new DiscoverdError({
          code: o.code,
          message: typeof o.message === 'string' ? o.message : o.code,
          status,
          retry: o.retry === true,
          detail: o.detail,
          server,
        });
      }
    }
  } catch {
    // Not JSON: fall through to the status mapping.
  }
  const { code, retry } = codeForStatus(status);
  const text = body.trim();
  return new DiscoverdError({
    code,
    message: text === '' ? `discoverd: HTTP ${status}` : text.slice(0, 500),
    status,
    retry,
    server,
  });
}

export function isDiscoverdError(err: unknown, code?: string): err is DiscoverdError {
  return err instanceof DiscoverdError && (code === undefined || err.code === code);
}

/** `not_found` or `object_not_found` (Flynn's client checks both). */
export function isNotFound(err: unknown): err is DiscoverdError {
  return err instanceof DiscoverdError && (err.code === 'object_not_found' || err.code === 'not_found');
}

export function isObjectExists(err: unknown): err is DiscoverdError {
  return err instanceof DiscoverdError && err.code === 'object_exists';
}

export function isPreconditionFailed(err: unknown): err is DiscoverdError {
  return err instanceof DiscoverdError && err.code === 'precondition_failed';
}

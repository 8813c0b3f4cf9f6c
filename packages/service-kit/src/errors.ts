// Flynn's JSON error envelope (pkg/httphelper): {"code","message","retry"} plus an optional raw
// JSON "detail" that is left out when empty. The code decides the HTTP status.

export const errorStatus = {
  not_found: 404,
  object_not_found: 404,
  object_exists: 409,
  conflict: 409,
  precondition_failed: 412,
  syntax_error: 400,
  validation_error: 400,
  request_body_too_big: 400,
  unauthorized: 401,
  unknown_error: 500,
  ratelimited: 429,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export interface ErrorEnvelope {
  code: ErrorCode;
  message: string;
  retry: boolean;
  detail?: unknown;
}

export interface HttpErrorOptions {
  retry?: boolean;
  /** Raw JSON detail; omitted from the envelope when undefined. */
  detail?: unknown;
  cause?: unknown;
}

export const UNKNOWN_ERROR_MESSAGE = 'Something went wrong';
export const INVALID_JSON_MESSAGE = 'The provided JSON input is invalid';
export const JSON_CONTENT_TYPE_MESSAGE = 'Content-Type must be application/json';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly retry: boolean;
  readonly detail: unknown;

  constructor(code: ErrorCode, message: string, options: HttpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = errorStatus[code];
    this.retry = options.retry ?? false;
    this.detail = options.detail;
  }

  toJSON(): ErrorEnvelope {
    const env: ErrorEnvelope = { code: this.code, message: this.message, retry: this.retry };
    if (this.detail !== undefined) env.detail = this.detail;
    return env;
  }

  /** Rebuilds an error from a decoded envelope (client side). Unknown codes become unknown_error. */
  static fromEnvelope(body: unknown): HttpError | undefined {
    if (typeof body !== 'object' || body === null) return undefined;
    const { code, message, retry, detail } = body as Record<string, unknown>;
    if (typeof code !== 'string' || typeof message !== 'string') return undefined;
    const known = Object.hasOwn(errorStatus, code) ? (code as ErrorCode) : 'unknown_error';
    return new HttpError(known, message, { retry: retry === true, detail });
  }
}

export function isHttpError(err: unknown): err is HttpError {
  return err instanceof HttpError;
}

const make =
  (code: ErrorCode, defaultRetry = false) =>
  (message: string, options: HttpErrorOptions = {}): HttpError =>
    new HttpError(code, message, { retry: defaultRetry, ...options });

/** Constructors for each code. service_unavailable and ratelimited default to retry: true. */
export const errors = {
  notFound: make('not_found'),
  objectNotFound: make('object_not_found'),
  objectExists: make('object_exists'),
  conflict: make('conflict'),
  preconditionFailed: make('precondition_failed'),
  syntax: (message = INVALID_JSON_MESSAGE, options?: HttpErrorOptions) =>
    make('syntax_error')(message, options),
  validation: make('validation_error'),
  bodyTooBig: (message = 'The request body is too big', options?: HttpErrorOptions) =>
    make('request_body_too_big')(message, options),
  unauthorized: make('unauthorized'),
  unknown: (message = UNKNOWN_ERROR_MESSAGE, options?: HttpErrorOptions) =>
    make('unknown_error')(message, options),
  ratelimited: make('ratelimited', true),
  serviceUnavailable: make('service_unavailable', true),
};

// Go's httphelper sets retry for net.Error and syscall.Errno. In Node those are system errors
// (they carry `syscall`), DNS failures and undici's socket errors; fetch wraps them in `cause`.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EADDRNOTAVAIL',
]);

export function isRetryableError(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 4) return false;
  const e = err as { syscall?: unknown; code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.syscall === 'string') return true;
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || e.code.startsWith('UND_ERR_'))) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isRetryableError(x, depth + 1))) return true;
  return isRetryableError(e.cause, depth + 1);
}

/** Any thrown value as an HttpError: HttpErrors pass through, anything else is unknown_error. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  return errors.unknown(UNKNOWN_ERROR_MESSAGE, { retry: isRetryableError(err), cause: err });
}

export function toEnvelope(err: unknown): ErrorEnvelope {
  return toHttpError(err).toJSON();
}

import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import * as acme from 'acme-client';

// acme-client talks through one shared axios instance: the directory's CA (ACME_CA_FILE, added
// to the system roots) and its retry policy are set there, once per process. Its response
// handler is wrapped (installAcmeHttp) for three reasons, below: network errors, rate limits,
// and aborting an order.

export interface AcmeHttpOptions {
  /** PEM of extra CA certificates the directory's HTTPS may chain to. */
  caPem?: string;
  /** Retries of a request that got no answer or a 5xx (acme-client's default is 5). */
  retries?: number;
  /** First retry pause in seconds, growing linearly (acme-client's default is 5). */
  retryDelaySeconds?: number;
}

type AcmeDefaults = typeof acme.axios.defaults & {
  acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number };
};

export function configureAcmeHttp(opts: AcmeHttpOptions): void {
  const d = acme.axios.defaults as AcmeDefaults;
  if (opts.caPem) d.httpsAgent = new Agent({ ca: [...rootCertificates, opts.caPem], keepAlive: true });
  d.acmeSettings.retryMaxAttempts = opts.retries ?? 3;
  d.acmeSettings.retryDefaultDelay = opts.retryDelaySeconds ?? 1;
  // A directory that never answers must fail the attempt, not hang it.
  d.timeout = 30_000;
  installAcmeHttp();
}

const RATE_LIMITED = 'urn:ietf:params:acme:error:rateLimited';

/**
 * The ACME server refused for a rate limit (HTTP 429 or a `rateLimited` problem). Not retried
 * inside acme-client: its retry sleeps the whole Retry-After (hours at Let's Encrypt) while the
 * order holds a slot and its claim. The issuer records it and waits at least `retryAfterMs`.
 */
export class AcmeRateLimitError extends Error {
  override readonly name = 'AcmeRateLimitError';
  constructor(
    message: string,
    /** The server's Retry-After, when it gave one. */
    readonly retryAfterMs: number | undefined,
    /** The server's answer (errorMessage reads its problem detail). */
    readonly response: { status: number; data?: unknown },
  ) {
    super(message);
  }
}

/** Retry-After (seconds or an HTTP date) in ms from `now`; undefined when absent or past. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const v = value.trim();
  const ms = /^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v) - now;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

// The order a request belongs to: acme-client's calls run inside withAbortSignal, so its requests
// (retries included) carry the order's signal without threading it through acme-client.
const orderSignal = new AsyncLocalStorage<AbortSignal>();

/** Runs `fn` so that every ACME request it makes fails once `signal` aborts (with its reason). */
export function withAbortSignal<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  installAcmeHttp();
  return orderSignal.run(signal, fn);
}

type Rejected = ((error: unknown) => unknown) & { wrappedByFlynn?: true };

interface AxiosLikeError {
  code?: string;
  config?: { retryAttempt?: number; url?: string };
  response?: { status: number; data?: { type?: string; detail?: string }; headers?: Record<string, unknown> };
}

let installed = false;

/** Installs the request hook and wraps acme-client's response handler (once per process). */
export function installAcmeHttp(): void {
  if (installed) return;
  installed = true;
  acme.axios.interceptors.request.use((config) => {
    const signal = orderSignal.getStore();
    if (signal) {
      signal.throwIfAborted();
      config.signal ??= signal;
    }
    return config;
  });
  const handlers = (
    acme.axios.interceptors.response as unknown as { handlers: ({ rejected?: Rejected } | null)[] }
  ).handlers;
  for (const h of handlers) {
    const original = h?.rejected;
    if (!h || !original || original.wrappedByFlynn) continue;
    const wrapped: Rejected = async (error) => {
      // An aborted order: its reason, not a retry of axios's "canceled".
      const signal = orderSignal.getStore();
      if (signal?.aborted) throw signal.reason;
      const e = error as AxiosLikeError;
      const res = e.response;
      if (res && (res.status === 429 || res.data?.type === RATE_LIMITED)) {
        // Marked spent, so nothing that still hands it to acme-client's handler sleeps on it.
        if (e.config)
          e.config.retryAttempt = (acme.axios.defaults as AcmeDefaults).acmeSettings.retryMaxAttempts;
        const detail = typeof res.data?.detail === 'string' ? res.data.detail : `HTTP ${res.status}`;
        throw new AcmeRateLimitError(detail, parseRetryAfter(res.headers?.['retry-after']), res);
      }
      try {
        return await original(error);
      } catch (err) {
        // acme-client answers a request that got no response (ECONNREFUSED, a timeout) with
        // `Cannot read properties of undefined (reading 'config')` once its retries are spent
        // (publishlab/node-acme-client#101, open): the operator must see the connection's error.
        if (err instanceof TypeError && !res) throw error;
        throw err;
      }
    };
    wrapped.wrappedByFlynn = true;
    h.rejected = wrapped;
  }
}

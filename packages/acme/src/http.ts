import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import * as acme from 'acme-client';

// acme-client talks through one shared axios instance: the directory's CA (ACME_CA_FILE, added
// to the system roots) and its retry policy are set there, once per process.

export interface AcmeHttpOptions {
  /** PEM of extra CA certificates the directory's HTTPS may chain to. */
  caPem?: string;
  /** Retries of a request that got no answer, a 5xx or a 429 (acme-client's default is 5). */
  retries?: number;
  /** First retry pause in seconds, growing linearly (acme-client's default is 5). */
  retryDelaySeconds?: number;
}

export function configureAcmeHttp(opts: AcmeHttpOptions): void {
  const d = acme.axios.defaults as typeof acme.axios.defaults & {
    acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number };
  };
  if (opts.caPem) d.httpsAgent = new Agent({ ca: [...rootCertificates, opts.caPem], keepAlive: true });
  d.acmeSettings.retryMaxAttempts = opts.retries ?? 3;
  d.acmeSettings.retryDefaultDelay = opts.retryDelaySeconds ?? 1;
  // A directory that never answers must fail the attempt, not hang it.
  d.timeout = 30_000;
  keepNetworkErrors();
}

type Rejected = ((error: unknown) => unknown) & { keepsNetworkErrors?: true };

/**
 * acme-client's response interceptor answers a request that got no response (ECONNREFUSED, a
 * timeout) with `Cannot read properties of undefined (reading 'config')` once its retries are
 * spent (publishlab/node-acme-client#101, open): the operator would see that instead of why. Its
 * handler is wrapped so that such a request fails with axios's own error (the connection's).
 */
function keepNetworkErrors(): void {
  const handlers = (
    acme.axios.interceptors.response as unknown as { handlers: ({ rejected?: Rejected } | null)[] }
  ).handlers;
  for (const h of handlers) {
    const original = h?.rejected;
    if (!h || !original || original.keepsNetworkErrors) continue;
    const wrapped: Rejected = async (error) => {
      try {
        return await original(error);
      } catch (err) {
        if (err instanceof TypeError && !(error as { response?: unknown }).response) throw error;
        throw err;
      }
    };
    wrapped.keepsNetworkErrors = true;
    h.rejected = wrapped;
  }
}

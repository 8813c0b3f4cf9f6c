import type { RouterConfig } from './config.js';
import type { DataPlaneStatus } from './data-plane.js';

// Messages between the cluster primary and its workers, and the listen failures they report.

/** What a worker needs to serve: sent once, right after it comes online. */
export interface WorkerInit {
  config: RouterConfig;
  defaultCert: { certPem: string; keyPem: string };
  /** base64 of the ERROR_503_PAGE_URL page, fetched once by the primary. */
  errorPage?: string;
}

export type PrimaryMessage =
  | { type: 'init'; init: WorkerInit }
  | { type: 'drain'; id: number; service: string; addr: string }
  | { type: 'shutdown' };

export type WorkerMessage =
  /** Sent once the worker listens for messages (an ESM worker loads after cluster's 'online'). */
  | { type: 'hello' }
  | { type: 'ready'; status: DataPlaneStatus }
  | { type: 'status'; status: DataPlaneStatus }
  | { type: 'drained'; id: number }
  | { type: 'fatal'; message: string; listen?: ListenFailure };

/** A socket that could not be bound: the errno code and the address it was for. */
export interface ListenFailure {
  code: string;
  address: string;
  port: number;
}

const LISTEN_CODES: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available',
};

/** The listen failure a Node error describes (net's listen/bind errors carry address and port). */
export function listenFailureOf(err: unknown): ListenFailure | undefined {
  const e = err as { code?: unknown; address?: unknown; port?: unknown } | null;
  if (typeof e?.code !== 'string' || !(e.code in LISTEN_CODES) || typeof e.port !== 'number')
    return undefined;
  return { code: e.code, address: typeof e.address === 'string' ? e.address : '', port: e.port };
}

/** The router cannot serve on an address: main prints the message as its one line and exits. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(readonly failure: ListenFailure) {
    const where = `${failure.address.includes(':') ? `[${failure.address}]` : failure.address || '*'}:${failure.port}`;
    super(`cannot listen on ${where}: ${LISTEN_CODES[failure.code] ?? failure.code}`);
  }

  /** Worth another try (a port briefly held elsewhere); EACCES and EADDRNOTAVAIL are not. */
  get transient(): boolean {
    return this.failure.code === 'EADDRINUSE';
  }
}

/** The error as a ListenError, when it is (or describes) a listen failure. */
export function asListenError(err: unknown): ListenError | undefined {
  if (err instanceof ListenError) return err;
  const failure = listenFailureOf(err);
  return failure && new ListenError(failure);
}

/** Attempts at a bind that failed with EADDRINUSE (another process may hold the port a moment). */
export const BIND_ATTEMPTS = 5;
const BIND_RETRY_BASE_MS = 100;

/**
 * Runs `attempt` until it does not fail with a transient ListenError, at most BIND_ATTEMPTS times
 * with a doubling pause (0.1 s … 0.8 s). Any other error, or the last one, is thrown.
 */
export async function withBindRetries<T>(
  attempt: () => Promise<T>,
  onRetry: (err: ListenError, n: number) => void = () => {},
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof ListenError) || !err.transient || n >= BIND_ATTEMPTS) throw err;
      onRetry(err, n);
      await new Promise((r) => setTimeout(r, BIND_RETRY_BASE_MS * 2 ** (n - 1)));
    }
  }
}

import { isRedirectStatus } from '@flynn-edge/discoverd-state';
import { type Clock, sleep, systemClock } from './clock.js';
import { DiscoverdError, errorFromResponse } from './errors.js';
import { originOf, type ServerList } from './servers.js';

// One request against the server list, Flynn's way (spec §1.8): every known server in turn
// (remembered leader first for writes, last good first for reads), 100 ms between rounds, until
// the retry deadline; 307s followed by hand (method, body and headers re-sent, the cluster key only
// to trusted peers: see PeerTrust) and the target remembered as the leader. Network errors, timeouts and hh errors with `retry: true` are retried.

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface TransportOptions {
  servers: ServerList;
  requestTimeoutMs?: number;
  retryDeadlineMs?: number;
  /** Pause between two rounds over the server list. */
  roundDelayMs?: number;
  maxRedirects?: number;
  clusterKey?: string;
  fetch?: FetchLike;
  clock?: Clock;
}

export interface RequestOptions {
  /** JSON-encoded unless it is already a string. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Overrides the transport's retry deadline for this request (0: one round only). */
  retryDeadlineMs?: number;
  /** Overrides the transport's per-attempt timeout. */
  timeoutMs?: number;
}

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  /** The server that answered, after redirects. */
  server: string;
}

/** Header carrying the cluster key on every request when one is configured. */
export const CLUSTER_KEY_HEADER = 'authorization';

export function clusterKeyHeaders(key: string | undefined): Record<string, string> {
  return key ? { [CLUSTER_KEY_HEADER]: `Bearer ${key}` } : {};
}

interface Exchange {
  response: Response;
  server: string;
  /** Stops the per-attempt timer. */
  done: () => void;
  /** Maps a failed body read to a (retryable) DiscoverdError. */
  bodyError: (err: unknown) => DiscoverdError;
  /** The cluster key was configured but not sent to the server that answered (not trusted). */
  keyWithheld: boolean;
}

function withoutHeader(headers: Record<string, string>, name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== name));
}

/** A 401 from a server the key was withheld from says why. */
function unauthorizedHint(err: DiscoverdError, ex: Pick<Exchange, 'keyWithheld' | 'server'>): DiscoverdError {
  if (err.status !== 401 || !ex.keyWithheld) return err;
  return new DiscoverdError({
    code: err.code,
    message: `${err.message} (the cluster key was not sent to ${ex.server}: a redirect led there, and it is not a known discoverd peer)`,
    status: err.status,
    retry: err.retry,
    server: err.server,
  });
}

export class Transport {
  readonly servers: ServerList;
  readonly requestTimeoutMs: number;
  readonly retryDeadlineMs: number;
  readonly clock: Clock;
  private readonly roundDelayMs: number;
  private readonly maxRedirects: number;
  private readonly clusterKey: string | undefined;
  private readonly fetchFn: FetchLike;

  constructor(opts: TransportOptions) {
    this.servers = opts.servers;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.retryDeadlineMs = opts.retryDeadlineMs ?? 10_000;
    this.roundDelayMs = opts.roundDelayMs ?? 100;
    this.maxRedirects = opts.maxRedirects ?? 10;
    this.clusterKey = opts.clusterKey;
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.clock = opts.clock ?? systemClock;
  }

  /** A request whose whole body is read; non-2xx answers throw a DiscoverdError. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResult> {
    return this.withRetries(method, opts, async (server) => {
      const ex = await this.exchange(server, method, path, opts, false);
      const { response, server: answered, done, bodyError } = ex;
      try {
        let text: string;
        try {
          text = await response.text();
        } catch (err) {
          throw bodyError(err);
        }
        if (response.status < 200 || response.status > 299) {
          throw unauthorizedHint(errorFromResponse(response.status, text, answered), ex);
        }
        return { status: response.status, headers: response.headers, text, server: answered };
      } finally {
        done();
      }
    });
  }

  /** `request` plus JSON decoding of the body (undefined for an empty body). */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const r = await this.request(method, path, opts);
    if (r.text.trim() === '') return undefined as T;
    try {
      return JSON.parse(r.text) as T;
    } catch (err) {
      throw new DiscoverdError({
        code: 'syntax_error',
        message: `discoverd: invalid JSON from ${r.server}${path}`,
        status: r.status,
        server: r.server,
        cause: err,
      });
    }
  }

  /**
   * Opens a stream (`Accept: text/event-stream`): retried like a request until the answer's
   * headers arrive, then the body is the caller's, with no timeout. Abort `signal` to close it.
   */
  async stream(path: string, opts: RequestOptions = {}): Promise<{ response: Response; server: string }> {
    const headers = { accept: 'text/event-stream', ...opts.headers };
    return this.withRetries('GET', opts, async (server) => {
      const ex = await this.exchange(server, 'GET', path, { ...opts, headers }, true);
      const { response, server: answered, done } = ex;
      done();
      if (response.status < 200 || response.status > 299) {
        const text = await response.text().catch(() => '');
        throw unauthorizedHint(errorFromResponse(response.status, text, answered), ex);
      }
      return { response, server: answered };
    });
  }

  private async withRetries<T>(
    method: string,
    opts: RequestOptions,
    attempt: (server: string) => Promise<T>,
  ): Promise<T> {
    const deadline = this.clock.now() + (opts.retryDeadlineMs ?? this.retryDeadlineMs);
    let lastErr: unknown;
    for (;;) {
      for (const server of this.servers.order(method)) {
        if (opts.signal?.aborted) throw abortError(opts.signal);
        try {
          return await attempt(server);
        } catch (err) {
          if (opts.signal?.aborted) throw abortError(opts.signal);
          if (!(err instanceof DiscoverdError) || !err.retry) throw err;
          if (err.status === 0) this.servers.markFailed(err.server ?? server);
          lastErr = err;
        }
        if (this.clock.now() >= deadline) throw lastErr;
      }
      if (this.clock.now() >= deadline) throw lastErr;
      await sleep(this.clock, this.roundDelayMs, opts.signal).catch(() => {
        throw abortError(opts.signal!);
      });
    }
  }

  /**
   * One attempt on one server: send, follow redirects, stop the per-attempt timer once the
   * headers (stream) or the body (`done`, called by the caller) have arrived.
   */
  private async exchange(
    server: string,
    method: string,
    path: string,
    opts: RequestOptions,
    stream: boolean,
  ): Promise<Exchange> {
    const ctrl = new AbortController();
    let timedOut = false;
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    const timer = this.clock.setTimeout(() => {
      timedOut = true;
      ctrl.abort(new Error('timeout'));
    }, timeoutMs);
    const onAbort = () => ctrl.abort(opts.signal!.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      this.clock.clearTimeout(timer);
      // A stream keeps listening to the caller's signal until it is aborted.
      if (!stream) opts.signal?.removeEventListener('abort', onAbort);
    };

    const body =
      opts.body === undefined
        ? undefined
        : typeof opts.body === 'string'
          ? opts.body
          : JSON.stringify(opts.body);
    const withKey: Record<string, string> = {
      accept: 'application/json',
      ...clusterKeyHeaders(this.clusterKey),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    };
    const withoutKey = withoutHeader(withKey, CLUSTER_KEY_HEADER);

    let url = `${server}${path}`;
    // The key goes only to trusted servers (see PeerTrust), on the first hop too.
    let keepKey = this.servers.trust.trusts(url);
    try {
      for (let hop = 0; hop <= this.maxRedirects; hop++) {
        let response: Response;
        try {
          response = await this.fetchFn(url, {
            method,
            headers: keepKey ? withKey : withoutKey,
            body,
            redirect: 'manual',
            signal: ctrl.signal,
          });
        } catch (err) {
          if (opts.signal?.aborted) throw abortError(opts.signal);
          throw bodyError(err, timedOut, method, url, timeoutMs);
        }
        const answered = originOf(url);
        this.servers.observe(response.headers, answered);
        const location = response.headers.get('location');
        if (isRedirectStatus(response.status) && location) {
          await response.body?.cancel().catch(() => {});
          const next = this.servers.trust.redirect(url, location);
          if ('error' in next) {
            throw new DiscoverdError({
              code: 'bad_redirect',
              message: `discoverd: ${method} ${url}: ${next.error}`,
              status: response.status,
              server: answered,
            });
          }
          url = next.url;
          keepKey = next.keepKey;
          // A 307 to another node is a follower pointing at the Raft leader (or a proxy at a
          // peer): remember it (if trusted). Same-origin redirects only fix up the path.
          if (response.status === 307 && originOf(url) !== answered) this.servers.setLeader(originOf(url));
          continue;
        }
        if (response.status < 500) this.servers.markGood(answered);
        const finalUrl = url;
        return {
          response,
          server: answered,
          keyWithheld: !keepKey && this.clusterKey !== undefined,
          done,
          bodyError: (err: unknown) =>
            opts.signal?.aborted
              ? abortError(opts.signal)
              : bodyError(err, timedOut, method, finalUrl, timeoutMs),
        };
      }
      throw new DiscoverdError({
        code: 'too_many_redirects',
        message: `discoverd: ${method} ${server}${path}: stopped after ${this.maxRedirects} redirects`,
        retry: true,
        server,
      });
    } catch (err) {
      done();
      opts.signal?.removeEventListener('abort', onAbort);
      throw err;
    }
  }
}

function bodyError(err: unknown, timedOut: boolean, method: string, url: string, timeoutMs: number) {
  if (err instanceof DiscoverdError) return err;
  return new DiscoverdError({
    code: timedOut ? 'timeout' : 'network_error',
    message: timedOut
      ? `discoverd: ${method} ${url} timed out after ${timeoutMs} ms`
      : `discoverd: ${method} ${url}: ${describe(err)}`,
    retry: true,
    server: originOf(url),
    cause: err,
  });
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: string }).code;
    return code ? `${err.message} (${code})` : `${err.message} (${cause.message})`;
  }
  return err.message;
}

export function abortError(signal: AbortSignal | undefined): DiscoverdError {
  const reason = signal?.reason;
  return new DiscoverdError({
    code: 'aborted',
    message: `discoverd: request aborted${reason instanceof Error ? `: ${reason.message}` : ''}`,
    cause: reason,
  });
}

import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isRedirectStatus } from '@flynn-edge/discoverd-state';
import { type Clock, sleep, systemClock } from './clock.js';
import { DiscoverdError, errorFromResponse } from './errors.js';
import { type HeaderReader, RawHeaders } from './headers.js';
import { originOf, type ServerList } from './servers.js';

// One request against the server list, Flynn's way (spec §1.8): every known server in turn
// (remembered leader first for writes, last good first for reads), 100 ms between rounds, until
// the retry deadline; 307s followed by hand (method, body and headers re-sent, the cluster key only
// to trusted peers: see PeerTrust) and the target remembered as the leader. Network errors, timeouts and hh errors with `retry: true` are retried.
// Requests go over node:http(s) with a keep-alive agent (a fraction of fetch's cost per round
// trip); streams stay on fetch, whose Response body the SSE reader consumes. An injected `fetch`
// carries everything.

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
  headers: HeaderReader;
  text: string;
  /** The server that answered, after redirects. */
  server: string;
}

/** Header carrying the cluster key on every request when one is configured. */
export const CLUSTER_KEY_HEADER = 'authorization';

export function clusterKeyHeaders(key: string | undefined): Record<string, string> {
  return key ? { [CLUSTER_KEY_HEADER]: `Bearer ${key}` } : {};
}

/** One hop's answer, whichever way it was carried. */
interface Hop {
  status: number;
  headers: HeaderReader;
  text(): Promise<string>;
  /** Drops the body (a redirect's), leaving the connection reusable where it can. */
  discard(): Promise<void>;
  /** The fetch Response (streams read its body). */
  response?: Response;
}

interface HopInit {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  signal: AbortSignal;
}

type SendHop = (url: string, init: HopInit) => Promise<Hop>;

function fetchSender(fetchFn: FetchLike): SendHop {
  return async (url, init) => {
    const response = await fetchFn(url, { ...init, redirect: 'manual' });
    return {
      status: response.status,
      headers: response.headers,
      text: () => response.text(),
      discard: async () => {
        await response.body?.cancel().catch(() => {});
      },
      response,
    };
  };
}

// Shared like fetch's global dispatcher. Idle sockets close after 4 s (before a server's usual
// 5 s keep-alive timeout, so a request rarely lands on a socket the server is closing).
const AGENT_OPTS = { keepAlive: true, timeout: 4000 };
const httpAgent = new http.Agent(AGENT_OPTS);
const httpsAgent = new https.Agent(AGENT_OPTS);

/** The body as text; rejects when the connection ends (or is aborted) before the body does. */
function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
    });
    res.on('end', () => resolve(text));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(new Error('connection closed before the answer ended'));
    });
  });
}

const nodeSender: SendHop = (url, init) =>
  new Promise((resolve, reject) => {
    const secure = url.startsWith('https:');
    const headers: Record<string, string | number> = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
    const req = (secure ? https : http).request(
      url,
      { method: init.method, headers, agent: secure ? httpsAgent : httpAgent, signal: init.signal },
      (res) =>
        resolve({
          status: res.statusCode ?? 0,
          headers: new RawHeaders(res.rawHeaders),
          text: () => readText(res),
          // Drained to its end, the socket goes back to the agent for the next hop.
          discard: () =>
            new Promise<void>((done) => {
              res.on('end', done);
              res.on('close', done);
              res.on('error', done);
              res.resume();
            }),
        }),
    );
    req.on('error', reject);
    req.end(init.body);
  });

interface Exchange {
  hop: Hop;
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
  /** Carries requests; streams always go through fetch. */
  private readonly sendRequest: SendHop;
  private readonly sendStream: SendHop;

  constructor(opts: TransportOptions) {
    this.servers = opts.servers;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.retryDeadlineMs = opts.retryDeadlineMs ?? 10_000;
    this.roundDelayMs = opts.roundDelayMs ?? 100;
    this.maxRedirects = opts.maxRedirects ?? 10;
    this.clusterKey = opts.clusterKey;
    this.sendStream = fetchSender(opts.fetch ?? ((input, init) => globalThis.fetch(input, init)));
    this.sendRequest = opts.fetch ? this.sendStream : nodeSender;
    this.clock = opts.clock ?? systemClock;
  }

  /** A request whose whole body is read; non-2xx answers throw a DiscoverdError. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResult> {
    return this.withRetries(method, opts, async (server) => {
      const ex = await this.exchange(server, method, path, opts, false);
      const { hop, server: answered, done, bodyError } = ex;
      try {
        let text: string;
        try {
          text = await hop.text();
        } catch (err) {
          throw bodyError(err);
        }
        if (hop.status < 200 || hop.status > 299) {
          throw unauthorizedHint(errorFromResponse(hop.status, text, answered), ex);
        }
        return { status: hop.status, headers: hop.headers, text, server: answered };
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
      const { hop, server: answered, done } = ex;
      done();
      if (hop.status < 200 || hop.status > 299) {
        const text = await hop.text().catch(() => '');
        throw unauthorizedHint(errorFromResponse(hop.status, text, answered), ex);
      }
      return { response: hop.response!, server: answered };
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
    const send = stream ? this.sendStream : this.sendRequest;
    try {
      for (let n = 0; n <= this.maxRedirects; n++) {
        let hop: Hop;
        try {
          hop = await send(url, {
            method,
            headers: keepKey ? withKey : withoutKey,
            body,
            signal: ctrl.signal,
          });
        } catch (err) {
          if (opts.signal?.aborted) throw abortError(opts.signal);
          throw bodyError(err, timedOut, method, url, timeoutMs);
        }
        const answered = originOf(url);
        this.servers.observe(hop.headers, answered);
        const location = hop.headers.get('location');
        if (isRedirectStatus(hop.status) && location) {
          await hop.discard();
          const next = this.servers.trust.redirect(url, location);
          if ('error' in next) {
            throw new DiscoverdError({
              code: 'bad_redirect',
              message: `discoverd: ${method} ${url}: ${next.error}`,
              status: hop.status,
              server: answered,
            });
          }
          url = next.url;
          keepKey = next.keepKey;
          // A 307 to another node is a follower pointing at the Raft leader (or a proxy at a
          // peer): remember it (if trusted). Same-origin redirects only fix up the path.
          if (hop.status === 307 && originOf(url) !== answered) this.servers.setLeader(originOf(url));
          continue;
        }
        if (hop.status < 500) this.servers.markGood(answered);
        const finalUrl = url;
        return {
          hop,
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

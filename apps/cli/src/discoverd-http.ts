import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
// The client's server list module alone (not its watches and heartbeats): this file is on the
// CLI's fast paths.
import { DEFAULT_SERVER, PeerTrust, parseDiscoverdEnv } from '@flynn-edge/discoverd-client/servers';
import { CliError } from './output.js';

// Talking to discoverd over HTTP: addresses and the server list, requests with a deadline, 307s
// followed by hand (the method, body and headers are sent again; the cluster key only to trusted
// hosts, see the client's PeerTrust), and every failure turned into a one-line CliError.

export { DEFAULT_SERVER };
export const DEFAULT_PORT = 1111;
/** Per request, as Flynn's discoverd client. */
export const REQUEST_TIMEOUT_MS = 5_000;
/** promote and demote wait for the node to catch up with (or leave) the Raft log. */
export const MEMBERSHIP_TIMEOUT_MS = 90_000;
export const MAX_REDIRECTS = 10;

/**
 * `HOST` or `HOST:PORT` (an `http://` prefix and a trailing slash are tolerated) as a bare
 * `host:port`; the port defaults to 1111, Flynn's discoverd port. A bare IPv6 address gets
 * brackets. Throws an Error with the reason when the address cannot be one.
 */
export function hostPort(input: string, defaultPort = DEFAULT_PORT): string {
  const bad = (why: string) => new Error(`invalid address ${JSON.stringify(input)}: ${why}`);
  const s = input
    .trim()
    .replace(/^https?:\/\//i, '')
    .replace(/\/+$/, '');
  if (s === '') throw bad('want HOST or HOST:PORT');
  if (/[\s/?#@]/.test(s)) throw bad('want HOST or HOST:PORT, without a path or credentials');
  let host: string;
  let port: string;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) throw bad('unclosed [');
    host = s.slice(0, end + 1);
    const rest = s.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) throw bad('want [IPV6]:PORT');
    port = rest === '' ? String(defaultPort) : rest.slice(1);
  } else {
    const colons = s.split(':').length - 1;
    if (colons === 0) {
      host = s;
      port = String(defaultPort);
    } else if (colons === 1) {
      [host, port] = s.split(':') as [string, string];
    } else {
      host = `[${s}]`;
      port = String(defaultPort);
    }
  }
  if (host === '' || host === '[]') throw bad('the host is missing');
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw bad(`port ${JSON.stringify(port)} is not a number from 1 to 65535`);
  }
  return `${host}:${Number(port)}`;
}

/**
 * The discoverd servers to ask, as the discoverd client reads `DISCOVERD` (spec §1.8): a comma
 * list, `none` or empty meaning http://127.0.0.1:1111. An entry with a scheme is used as it is;
 * one without gets `http://` and, unlike Flynn's client, the default port 1111 when it has none.
 */
export function discoverdUrls(value: string | undefined): string[] {
  return parseDiscoverdEnv(value, (e) =>
    /^https?:\/\//i.test(e) ? e.replace(/\/+$/, '') : `http://${hostPort(e)}`,
  );
}

/** `host:port` as a path segment (the colon stays readable, anything odd is escaped). */
export function pathSegment(addr: string): string {
  return encodeURIComponent(addr).replace(/%3A/gi, ':');
}

/** The server could not be reached, or did not answer in time. */
export class NetworkError extends CliError {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly reason: string,
  ) {
    super(`${method} ${url}: ${reason}`);
    this.name = 'NetworkError';
  }
}

/** The server answered with something other than success. */
export class DiscoverdError extends CliError {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    /** Flynn's error code (`conflict`, `service_unavailable`, …), when the body was an envelope. */
    readonly code: string | undefined,
    readonly serverMessage: string,
    /** The envelope's `retry` flag. */
    readonly retry: boolean,
    hint = '',
  ) {
    super(`${method} ${url} answered ${status}${code ? ` ${code}` : ''}: ${serverMessage}${hint}`);
    this.name = 'DiscoverdError';
  }
}

export interface RequestOptions {
  clusterKey?: string;
  timeoutMs?: number;
  /** Follow 307s (default). promote and demote act on one node and must not be sent elsewhere. */
  followRedirects?: boolean;
  body?: unknown;
}

/** Response headers (a small stand-in for fetch's Headers: the CLI only reads a few). */
export interface AnswerHeaders {
  get(name: string): string | null;
}

export interface Answer {
  status: number;
  /** The URL that answered, after redirects. */
  url: string;
  headers: AnswerHeaders;
  text: string;
  /** The URL that answered may receive the cluster key (it was asked, or vouched for by a peer). */
  trusted: boolean;
}

function answerHeaders(h: IncomingHttpHeaders): AnswerHeaders {
  return {
    get(name) {
      const v = h[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
    },
  };
}

/** The deadline passed (named like the fetch error for describeNetworkError). */
class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/**
 * One HTTP exchange with node:http (much cheaper to load than fetch for a short-lived CLI):
 * resolves with the response once its head arrived; the timer covers the whole exchange up to
 * `deadline` (ms since the epoch) unless cleared with the returned `done()`.
 */
export async function send(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: string | undefined,
  deadline: number,
): Promise<{ res: IncomingMessage; done: () => void }> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError('invalid URL');
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method, headers });
    const timer = Number.isFinite(deadline)
      ? setTimeout(() => req.destroy(new TimeoutError('timed out')), Math.max(0, deadline - Date.now()))
      : undefined;
    const done = () => clearTimeout(timer);
    req.on('error', (err) => {
      done();
      reject(err);
    });
    req.on('response', (res) => resolve({ res, done }));
    req.end(body);
  });
}

/** The whole body as text. */
function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      text += d;
    });
    res.on('end', () => resolve(text));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('connection closed by the server')));
  });
}

/**
 * One request with one deadline over all its redirects. Resolves with any HTTP answer (check it
 * with `expectOk`); throws NetworkError when there is none, CliError after too many redirects.
 */
export async function request(method: string, url: string, opts: RequestOptions = {}): Promise<Answer> {
  const timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const headers: Record<string, string> = { accept: 'application/json' };
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const keyed = opts.clusterKey ? { ...headers, authorization: `Bearer ${opts.clusterKey}` } : headers;
  const trust = new PeerTrust([url]);
  let target = url;
  let keepKey = true;
  for (let redirects = 0; ; redirects++) {
    let status: number;
    let resHeaders: AnswerHeaders;
    let text: string;
    try {
      const { res, done } = await send(method, target, keepKey ? keyed : headers, body, deadline);
      try {
        status = res.statusCode ?? 0;
        resHeaders = answerHeaders(res.headers);
        text = await readText(res);
      } finally {
        done();
      }
    } catch (err) {
      throw new NetworkError(method, target, describeNetworkError(err, timeoutMs));
    }
    trust.observe(target, resHeaders.get('discoverd-peers'));
    if (status !== 307 || opts.followRedirects === false) {
      if (status === 401 && !keepKey && opts.clusterKey) {
        text = withheldNote(text, target);
      }
      return { status, url: target, headers: resHeaders, text, trusted: keepKey };
    }
    const location = resHeaders.get('location');
    if (!location) throw new CliError(`${method} ${target} answered 307 without a Location`);
    if (redirects >= MAX_REDIRECTS) {
      throw new CliError(`${method} ${url}: more than ${MAX_REDIRECTS} redirects (last to ${location})`);
    }
    const next = trust.redirect(target, location);
    if ('error' in next) throw new CliError(`${method} ${target}: ${next.error}`);
    ({ url: target, keepKey } = next);
  }
}

/** A 401 from a host the key was withheld from says why (in the envelope's message if any). */
function withheldNote(text: string, url: string): string {
  const note = ` (key not sent to ${originOf(url)}: not a known discoverd peer)`;
  try {
    const env = JSON.parse(text) as { message?: unknown };
    if (env && typeof env === 'object' && typeof env.message === 'string') {
      return JSON.stringify({ ...env, message: env.message + note });
    }
  } catch {
    // not an envelope
  }
  return text.trim() + note;
}

/** The answer as a DiscoverdError unless it is a 2xx. */
export function expectOk(method: string, answer: Answer, hint = ''): Answer {
  if (answer.status >= 200 && answer.status < 300) return answer;
  throw answerError(method, answer, hint);
}

export function answerError(method: string, answer: Answer, hint = ''): DiscoverdError {
  let code: string | undefined;
  let message = answer.text.trim();
  let retry = false;
  try {
    const env = JSON.parse(answer.text) as { code?: unknown; message?: unknown; retry?: unknown };
    if (env && typeof env === 'object' && typeof env.message === 'string') {
      code = typeof env.code === 'string' ? env.code : undefined;
      message = env.message;
      retry = env.retry === true;
    }
  } catch {
    // not Flynn's envelope: a plain-text body (the router's "404 page not found"), or nothing
  }
  message = message.split('\n')[0].trim();
  if (message.length > 200) message = `${message.slice(0, 200)}…`;
  if (message === '')
    message = answer.status === 307 ? `redirect to ${answer.headers.get('location')}` : '(empty body)';
  if (answer.status === 401 && hint === '') hint = ' (set CLUSTER_KEY or pass --cluster-key)';
  return new DiscoverdError(method, answer.url, answer.status, code, message, retry, hint);
}

/** GET, expect 2xx, parse JSON. */
export async function getJson<T>(
  url: string,
  opts: RequestOptions = {},
): Promise<{ value: T; answer: Answer }> {
  const answer = expectOk('GET', await request('GET', url, opts));
  try {
    return { value: JSON.parse(answer.text) as T, answer };
  } catch {
    throw new CliError(`GET ${answer.url} answered invalid JSON: ${answer.text.slice(0, 100)}`);
  }
}

/** `http://host:port` of the URL that answered (after redirects). */
export function originOf(url: string): string {
  return new URL(url).origin;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  EADDRNOTAVAIL: 'address not available',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
};

/** node:http's errors (and fetch's: "fetch failed" with a cause) as a short reason. */
export function describeNetworkError(err: unknown, timeoutMs: number): string {
  const e = err as {
    name?: string;
    message?: string;
    code?: string;
    cause?: { code?: string; message?: string };
  };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return `no answer within ${timeoutMs / 1000} s`;
  }
  const code = e?.code ?? e?.cause?.code;
  if (code && REASONS[code]) return `${REASONS[code]} (${code})`;
  if (e?.cause?.message) return e.cause.message;
  if (e?.name === 'TypeError' && /invalid url/i.test(e.message ?? '')) return 'invalid URL';
  return e?.message ?? String(err);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

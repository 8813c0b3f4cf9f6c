import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
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
  /** Sent as it is (application/octet-stream) instead of `body` as JSON. */
  rawBody?: Buffer;
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
 * How to reach an origin outside the cluster (the controller gateway, from ~/.flynnrc): the TLS pin
 * its certificate must match (Flynn's: base64 of the SHA-256 of the leaf certificate's DER), and
 * an `ip:port` to connect to instead of the URL's host (SNI and Host stay the URL's).
 */
export interface OriginOptions {
  tlsPin?: string;
  connectAddr?: string;
}

const origins = new Map<string, OriginOptions>();

/** Applies to every later request to `origin` (`https://controller.example.com`). */
export function configureOrigin(origin: string, opts: OriginOptions): void {
  origins.set(new URL(origin).origin, opts);
}

/** Flynn's TLS pin of a certificate: base64(sha256(DER)). */
export function certificatePin(der: Buffer): string {
  return createHash('sha256').update(der).digest('base64');
}

/** The pinned certificate was not the one presented: nothing was sent. */
export class TlsPinMismatchError extends CliError {
  constructor(
    readonly host: string,
    readonly got: string,
    readonly want: string,
  ) {
    super(`TLS pin mismatch for ${host} (got ${got}, want ${want})`);
    this.name = 'TlsPinMismatchError';
  }
}

/** The key would have gone over plain HTTP to an address on the internet. */
export class PlainKeyError extends CliError {
  constructor(host: string) {
    super(
      `refusing to send the cluster key over plain http:// to ${host}, which is not a private address (use https)`,
    );
    this.name = 'PlainKeyError';
  }
}

// Loopback, RFC 1918, link-local, CGNAT and unique-local IPv6: addresses that do not leave the
// site, where the cluster's own plain-HTTP APIs live.
const PRIVATE_V4: readonly [number, number, number][] = [
  // [first octet, second octet low, second octet high]
  [127, 0, 255],
  [10, 0, 255],
  [172, 16, 31],
  [192, 168, 168],
  [169, 254, 254],
  [100, 64, 127],
];

/** True for a private, loopback or link-local IP literal (IPv4-mapped IPv6 included). */
export function isPrivateAddress(ip: string): boolean {
  let a = ip.replace(/^\[|\]$/g, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) a = mapped[1]!;
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4) {
    const [o1, o2] = [Number(v4[1]), Number(v4[2])];
    return PRIVATE_V4.some(([f, lo, hi]) => o1 === f && o2 >= lo && o2 <= hi);
  }
  if (a === '::1') return true;
  // fc00::/7 (unique local) and fe80::/10 (link-local).
  return /^f[cd][0-9a-f]{0,2}:/.test(a) || /^fe[89ab][0-9a-f]?:/.test(a);
}

/** A name resolver that refuses public addresses (the key is about to go out in clear). */
const privateOnlyLookup: LookupFunction = (hostname, options, callback) => {
  import('node:dns').then(({ lookup }) =>
    lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as { address: string; family: number }[];
      const bad = list.find((a) => !isPrivateAddress(a.address));
      if (bad || list.length === 0)
        return callback(new PlainKeyError(`${hostname} (${bad?.address ?? 'no address'})`), '', 0);
      if (options.all) return (callback as (e: null, a: typeof list) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    }),
  );
};

/** A TLS connection to `url`'s origin, checked against the pin before anything is written. */
async function connectPinned(u: URL, opts: OriginOptions, deadline: number): Promise<TLSSocket> {
  const { connect } = await import('node:tls');
  const [host, port] = opts.connectAddr
    ? splitHostPort(opts.connectAddr)
    : [u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 443)];
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: u.hostname,
      // With a pin the pin is the check (self-signed certificates), as Flynn's pinned dialer.
      rejectUnauthorized: !opts.tlsPin,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = Number.isFinite(deadline)
      ? setTimeout(() => socket.destroy(new TimeoutError('timed out')), Math.max(0, deadline - Date.now()))
      : undefined;
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      if (opts.tlsPin) {
        const got = certificatePin(socket.getPeerCertificate().raw);
        if (!samePin(got, opts.tlsPin)) {
          socket.destroy();
          reject(new TlsPinMismatchError(u.hostname, got, opts.tlsPin));
          return;
        }
      }
      resolve(socket);
    });
  });
}

function samePin(got: string, want: string): boolean {
  return Buffer.from(got, 'base64').equals(Buffer.from(want.trim(), 'base64'));
}

function splitHostPort(addr: string): [string, number] {
  const hp = hostPort(addr, 443);
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i).replace(/^\[|\]$/g, ''), Number(hp.slice(i + 1))];
}

/**
 * One HTTP exchange with node:http (much cheaper to load than fetch for a short-lived CLI):
 * resolves with the response once its head arrived; the timer covers the whole exchange up to
 * `deadline` (ms since the epoch) unless cleared with the returned `done()`. An origin configured
 * with a TLS pin or a connect address (configureOrigin) is reached over a socket checked first;
 * the cluster key never goes over plain http:// to a public address. A Readable body is streamed
 * (its failure aborts the request; a request that fails, or is never sent, destroys it).
 */
export async function send(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: string | Buffer | Readable | undefined,
  deadline: number,
): Promise<{ res: IncomingMessage; done: () => void }> {
  try {
    return await exchange(method, url, headers, body, deadline);
  } catch (err) {
    if (body instanceof Readable) body.destroy();
    throw err;
  }
}

async function exchange(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: string | Buffer | Readable | undefined,
  deadline: number,
): Promise<{ res: IncomingMessage; done: () => void }> {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError('invalid URL');
  const keyed = Object.keys(headers).some((h) => h.toLowerCase() === 'authorization');
  let lookup: LookupFunction | undefined;
  if (u.protocol === 'http:' && keyed) {
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const { isIP } = await import('node:net');
    if (isIP(host) !== 0) {
      if (!isPrivateAddress(host)) throw new PlainKeyError(u.host);
    } else if (host.toLowerCase() !== 'localhost') {
      lookup = privateOnlyLookup;
    }
  }
  const origin = u.protocol === 'https:' ? origins.get(u.origin) : undefined;
  const socket =
    origin && (origin.tlsPin || origin.connectAddr) ? await connectPinned(u, origin, deadline) : undefined;
  const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise((resolve, reject) => {
    const req = socket
      ? mod.request(u, { method, headers, defaultPort: 443, createConnection: () => socket })
      : mod.request(u, { method, headers, ...(lookup ? { lookup } : {}) });
    const timer = Number.isFinite(deadline)
      ? setTimeout(() => req.destroy(new TimeoutError('timed out')), Math.max(0, deadline - Date.now()))
      : undefined;
    const done = () => clearTimeout(timer);
    req.on('error', (err) => {
      done();
      reject(err);
    });
    req.on('response', (res) => resolve({ res, done }));
    if (body instanceof Readable) {
      // A failed body fails the request with its error; a failed request destroys the body.
      body.once('error', (err) => req.destroy(err));
      req.once('close', () => {
        if (!body.readableEnded) body.destroy();
      });
      body.pipe(req);
    } else req.end(body);
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
  let body: string | Buffer | undefined;
  if (opts.rawBody !== undefined) {
    body = opts.rawBody;
    headers['content-type'] = 'application/octet-stream';
  } else if (opts.body !== undefined) {
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
      // A refused pin or a refused plain-HTTP key is the whole story: said as it is.
      if (err instanceof CliError) throw err;
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

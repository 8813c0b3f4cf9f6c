import { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, request } from 'node:http';
import type { Readable } from 'node:stream';

// One request to an upstream inside the cluster, over plain HTTP as everything inside the cluster
// talks. The body is either buffered (discoverd requests, which may be re-sent after a redirect or
// to another server) or a stream piped through as it arrives (artifact uploads to a host).

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the ones the gateway sets itself. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/**
 * Answer headers that name addresses inside the cluster: a client outside cannot use them, and a
 * discoverd client that follows Discoverd-Peers would replace the gateway with them.
 */
const INTERNAL_ANSWER_HEADERS: ReadonlySet<string> = new Set(['discoverd-peers', 'discoverd-current-peers']);

/** The client's headers as sent upstream: hop-by-hop ones dropped, the key and X-Forwarded-For set. */
export function upstreamHeaders(
  headers: IncomingHttpHeaders,
  clusterKey: string,
  clientAddr: string | undefined,
): OutgoingHttpHeaders {
  const connectionTokens = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connectionTokens.has(name)) continue;
    out[name] = value;
  }
  // Whatever form the client used (bearer or basic), upstreams get the bearer form.
  out.authorization = `Bearer ${clusterKey}`;
  if (clientAddr) {
    const prior = headers['x-forwarded-for'];
    out['x-forwarded-for'] = prior
      ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${clientAddr}`
      : clientAddr;
  }
  return out;
}

/** An upstream answer's headers as sent to the client. */
export function answerHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || INTERNAL_ANSWER_HEADERS.has(name)) continue;
    out[name] = value;
  }
  return out;
}

export interface Exchange {
  res: IncomingMessage;
  /** Ends the exchange early (the client went away). */
  abort(): void;
}

/**
 * Sends one request and resolves once the answer's head arrived. `timeoutMs` bounds the connect,
 * and then the wait for the head once the body is sent: neither a slow upload nor a long stream
 * (an SSE watch, `log -f`) is cut by it.
 */
export function exchange(
  method: string,
  url: string,
  headers: OutgoingHttpHeaders,
  body: Buffer | Readable | undefined,
  timeoutMs: number,
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false });
    let timer: NodeJS.Timeout | undefined;
    const arm = (what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => req.destroy(new Error(`${what} within ${timeoutMs / 1000} s`)), timeoutMs);
    };
    let sent = false;
    arm('no connection');
    req.on('socket', (socket) => {
      socket.once('connect', () => {
        if (!sent) clearTimeout(timer);
      });
    });
    req.on('finish', () => {
      sent = true;
      arm('no answer');
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      resolve({ res, abort: () => req.destroy() });
    });
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    }
  });
}

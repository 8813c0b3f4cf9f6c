import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

// How the transfers reach hosts and discoverd: one request, a body that may be a stream, the
// answer's head with its body still streaming. The `flynn` CLI plugs in its own (TLS pins, the
// controller gateway); flynn-host and tests use nodeTransport (direct, the cluster key as Bearer).

export interface TransferRequest {
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  /** Covers the whole exchange, body included (default 10 minutes: volumes are big). */
  timeoutMs?: number;
}

export interface HttpTransport {
  request(method: string, url: string, opts?: TransferRequest): Promise<IncomingMessage>;
}

export function nodeTransport(clusterKey?: string): HttpTransport {
  return {
    request(method, url, opts = {}) {
      const u = new URL(url);
      const mod = u.protocol === 'https:' ? https : http;
      const headers: Record<string, string> = { ...opts.headers };
      if (clusterKey) headers.authorization = `Bearer ${clusterKey}`;
      return new Promise((resolve, reject) => {
        const req = mod.request(u, { method, headers, timeout: opts.timeoutMs ?? 600_000 });
        req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timed out`)));
        req.on('error', reject);
        req.on('response', resolve);
        const body = opts.body;
        if (body instanceof Readable) {
          body.on('error', (err) => req.destroy(err));
          body.pipe(req);
        } else req.end(body);
      });
    },
  };
}

/** The whole body as text (error answers, small JSON). */
export async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Throws `<what>: <status> <message>` unless 2xx (Flynn's envelope's message when there is one). */
export async function expect2xx(res: IncomingMessage, what: string): Promise<void> {
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return;
  const text = await readBody(res);
  let msg = text;
  try {
    msg = (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    // not JSON
  }
  throw new TransferError(`${what}: ${status} ${msg}`.trim(), status);
}

export class TransferError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'TransferError';
  }
}

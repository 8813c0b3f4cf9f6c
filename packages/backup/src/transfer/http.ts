import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Readable, Transform, type TransformCallback } from 'node:stream';

// How the transfers reach hosts and discoverd: one request, a body that may be a stream, the
// answer's head with its body still streaming. The `flynn` CLI plugs in its own (TLS pins, the
// controller gateway); flynn-host and tests use nodeTransport (direct, the cluster key as Bearer).
//
// A transfer of a volume or an artifact may take hours, so none has an overall deadline once
// bytes flow: an IdleWatchdog fails it when no byte has moved for IDLE_MS (a dead host that
// did not reset the connection).

export interface TransferRequest {
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  /**
   * Deadline for the answer's head when the body is not a stream (default 10 minutes). A stream
   * body has none. Once the head is there, only the idle watchdog applies.
   */
  timeoutMs?: number;
  /** Fail when no byte moved (body sent or answer read) for this long (default IDLE_MS). */
  idleMs?: number;
}

export interface HttpTransport {
  request(method: string, url: string, opts?: TransferRequest): Promise<IncomingMessage>;
}

/** No byte moving for this long fails a transfer. */
export const IDLE_MS = 60_000;
/** Default deadline for the head of an answer to a request without a stream body. */
export const HEAD_TIMEOUT_MS = 10 * 60_000;

/** No byte moved for the watchdog's time. */
export class IdleError extends Error {
  constructor(what: string, idleMs: number) {
    super(`${what}: no data moved for ${idleMs / 1000} s`);
    this.name = 'IdleError';
  }
}

/**
 * Watches one exchange: the request body's bytes as they go out (`body()` wraps it), then the
 * answer's as its socket reads them (`response()`; polled, since a 'data' listener would change
 * how the answer flows). When neither moved for `idleMs`, the body stream or the answer is
 * destroyed with an IdleError, which the request's or the reader's pipeline then reports.
 */
export class IdleWatchdog {
  private sent = 0;
  private last = -1;
  private lastMove = Date.now();
  private socket?: Socket;
  private target?: { destroy(err: Error): void };
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly what: string,
    private readonly idleMs = IDLE_MS,
  ) {}

  /** A pass-through over `body` that counts its bytes; destroyed when idle. */
  body(body: Readable): Readable {
    const counter = new Transform({
      transform: (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) => {
        this.sent += chunk.length;
        cb(null, chunk);
      },
    });
    linkBody(body, counter);
    this.watch(counter);
    return counter;
  }

  /**
   * Watches the request itself until its answer comes: an idle exchange fails the request (a
   * finished body can no longer fail it), and every byte its socket reads counts (interim
   * answers such as `102 Processing` included).
   */
  request(req: ClientRequest): void {
    req.once('socket', (socket) => {
      this.socket = socket;
    });
    this.watch(req);
  }

  /** Watches the answer until it closes (then the watchdog stops). */
  response(res: IncomingMessage): void {
    this.socket = res.socket ?? undefined;
    this.watch(res);
    res.once('close', () => this.stop());
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private moved(): number {
    return this.sent + (this.socket?.bytesRead ?? 0);
  }

  private watch(target: { destroy(err: Error): void }): void {
    this.target = target;
    this.lastMove = Date.now();
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), Math.max(10, Math.min(this.idleMs / 4, 1000)));
    this.timer.unref();
  }

  private check(): void {
    const now = Date.now();
    const moved = this.moved();
    if (moved !== this.last) {
      this.last = moved;
      this.lastMove = now;
      return;
    }
    if (now - this.lastMove < this.idleMs) return;
    this.stop();
    this.target?.destroy(new IdleError(this.what, this.idleMs));
  }
}

/**
 * Pipes `body` into `dest`: a failed body fails `dest` with the body's error; `dest` closing
 * first (a failed request) destroys the body, so its file closes. Not stream.pipeline: that
 * aborts a request without the body's error, and would make the caller's stream emit one.
 */
export function linkBody(body: Readable, dest: NodeJS.WritableStream & { destroy(err?: Error): void }): void {
  body.once('error', (err) => dest.destroy(err));
  dest.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
  body.pipe(dest);
}

export function nodeTransport(clusterKey?: string): HttpTransport {
  return {
    request(method, url, opts = {}) {
      const u = new URL(url);
      const mod = u.protocol === 'https:' ? https : http;
      const headers: Record<string, string> = { ...opts.headers };
      if (clusterKey) headers.authorization = `Bearer ${clusterKey}`;
      const watchdog = new IdleWatchdog(`${method} ${url}`, opts.idleMs);
      return new Promise((resolve, reject) => {
        const req = mod.request(u, { method, headers });
        const streaming = opts.body instanceof Readable;
        const timer = streaming
          ? undefined
          : setTimeout(
              () => req.destroy(new Error(`${method} ${url}: timed out`)),
              opts.timeoutMs ?? HEAD_TIMEOUT_MS,
            );
        req.on('error', (err) => {
          clearTimeout(timer);
          watchdog.stop();
          reject(err);
        });
        req.on('response', (res) => {
          clearTimeout(timer);
          watchdog.response(res);
          resolve(res);
        });
        const body = opts.body;
        if (body instanceof Readable) linkBody(watchdog.body(body), req);
        else req.end(body);
        if (streaming) watchdog.request(req);
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

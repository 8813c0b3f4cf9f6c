// Server-Sent Events writer for a fastify reply or a plain Node ServerResponse.
//
// Bounded per subscriber: before each write the socket's buffered byte count
// (res.writableLength) is compared with maxBufferedBytes; a subscriber that cannot keep up is
// dropped (closed) instead of its buffer growing without limit.

import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

export interface SseOptions {
  /** Send a `:` comment line after this long without any write (Flynn: 30 s). 0 disables. */
  keepAliveMs?: number;
  /** Drop the subscriber once more than this many bytes are waiting to be sent. Default 1 MiB. */
  maxBufferedBytes?: number;
  /**
   * Written as `event: error` when a slow subscriber is dropped (Flynn's discoverd sends
   * "discoverd: channel send failed due to blocked receiver"). The stream then ends; a client
   * that still does not read is disconnected after dropGraceMs.
   */
  dropMessage?: string;
  /** Default 5 s. */
  dropGraceMs?: number;
  /** Extra response headers (merged over the headers already set on a fastify reply). */
  headers?: Record<string, string>;
  /** Called once when the stream ends, with why. */
  onClose?: (reason: SseCloseReason) => void;
}

/** closed: close() was called; client: the peer went away; overflow: dropped as too slow. */
export type SseCloseReason = 'closed' | 'client' | 'overflow';

export interface SseStream {
  /** Writes one event; returns false (and writes nothing) once the stream is closed. */
  send(event: string | undefined, data: string, id?: string): boolean;
  /** Writes a comment line per line of text; an empty text writes the bare `:` keep-alive. */
  comment(text?: string): boolean;
  close(): void;
  readonly closed: boolean;
  readonly closeReason: SseCloseReason | undefined;
}

export const SSE_CONTENT_TYPE = 'text/event-stream; charset=utf-8';
/** Where createHttpServer keeps its open streams so that close() can end them. */
export const kSseStreams: unique symbol = Symbol.for('flynn-edge.service-kit.sse-streams');

interface WithSseRegistry {
  [kSseStreams]?: Set<SseStream>;
}

function isReply(target: FastifyReply | ServerResponse): target is FastifyReply {
  return typeof (target as FastifyReply).hijack === 'function' && 'raw' in target;
}

const LINE_BREAK = /\r\n|\r|\n/;

function field(name: string, value: string): string {
  if (LINE_BREAK.test(value)) throw new TypeError(`SSE ${name} must not contain a line break`);
  return `${name}: ${value}\n`;
}

export function openSse(target: FastifyReply | ServerResponse, options: SseOptions = {}): SseStream {
  const keepAliveMs = options.keepAliveMs ?? 30_000;
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  const headers: Record<string, string | number | string[]> = {};
  let res: ServerResponse;
  let registry: Set<SseStream> | undefined;
  if (isReply(target)) {
    // Take the response over from fastify, keeping headers that hooks already set on the reply.
    for (const [k, v] of Object.entries(target.getHeaders())) if (v !== undefined) headers[k] = v;
    target.hijack();
    res = target.raw;
    registry = (target.server as unknown as WithSseRegistry)[kSseStreams];
  } else {
    res = target;
  }
  Object.assign(headers, {
    'content-type': SSE_CONTENT_TYPE,
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    ...options.headers,
  });
  res.writeHead(200, headers);
  res.flushHeaders();
  res.socket?.setNoDelay(true);

  let closeReason: SseCloseReason | undefined;
  let keepAlive: NodeJS.Timeout | undefined;

  const finish = (reason: SseCloseReason) => {
    if (closeReason !== undefined) return;
    closeReason = reason;
    clearTimeout(keepAlive);
    registry?.delete(stream);
    options.onClose?.(reason);
  };

  const write = (chunk: string): boolean => {
    if (closeReason !== undefined) return false;
    if (res.destroyed) {
      finish('client');
      return false;
    }
    if (res.writableLength > maxBuffered) {
      drop();
      return false;
    }
    res.write(chunk);
    keepAlive?.refresh();
    return true;
  };

  const drop = () => {
    finish('overflow');
    if (options.dropMessage !== undefined) {
      res.write(
        `event: error\n${options.dropMessage
          .split(LINE_BREAK)
          .map((l) => `data: ${l}\n`)
          .join('')}\n`,
      );
    }
    res.end();
    const timer = setTimeout(() => res.destroy(), options.dropGraceMs ?? 5_000);
    timer.unref();
    res.once('close', () => clearTimeout(timer));
  };

  const stream: SseStream = {
    send(event, data, id) {
      let chunk = '';
      if (event !== undefined) chunk += field('event', event);
      if (id !== undefined) chunk += field('id', id);
      for (const line of data.split(LINE_BREAK)) chunk += `data: ${line}\n`;
      return write(`${chunk}\n`);
    },
    comment(text = '') {
      return write(
        text === ''
          ? ':\n'
          : text
              .split(LINE_BREAK)
              .map((l) => `: ${l}\n`)
              .join(''),
      );
    },
    close() {
      if (closeReason !== undefined) return;
      finish('closed');
      res.end();
    },
    get closed() {
      return closeReason !== undefined;
    },
    get closeReason() {
      return closeReason;
    },
  };

  res.once('close', () => finish('client'));
  if (keepAliveMs > 0) {
    // Every write refreshes (re-arms) this timer, the keep-alive comment included.
    keepAlive = setTimeout(() => stream.comment(), keepAliveMs).unref();
  }
  registry?.add(stream);
  return stream;
}

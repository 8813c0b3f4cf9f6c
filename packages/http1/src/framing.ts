import { ChunkedDecoder, type ChunkedLimits, DEFAULT_CHUNKED_LIMITS } from './chunked.js';
import type { RequestHead, ResponseHead } from './head.js';

/**
 * How a message body is delimited:
 * - `none`: no body; the message ended with its head.
 * - `length`: exactly `contentLength` bytes.
 * - `chunked`: chunked coding, tracked by a ChunkedDecoder.
 * - `close`: the body runs until the sender closes the connection (responses only).
 * - `tunnel`: after the head the connection is an opaque byte stream (101, 2xx to CONNECT).
 * - `interim`: a 1xx response other than 101; another response head follows.
 */
export type FramingKind = 'none' | 'length' | 'chunked' | 'close' | 'tunnel' | 'interim';

/**
 * Tracks where a message body ends, without copying it. `feed` returns how many of the given
 * bytes belong to this message (-1 on a framing error, see `error`); `done` turns true when the
 * message is complete. For `close` and `tunnel` the body never ends by itself: `done` stays false
 * and the connection cannot be reused.
 */
export class BodyFraming {
  readonly kind: FramingKind;
  done: boolean;
  error: string | null = null;
  private remaining: number;
  private readonly length: number;
  private readonly decoder: ChunkedDecoder | null;

  constructor(kind: FramingKind, contentLength = 0, limits: ChunkedLimits = DEFAULT_CHUNKED_LIMITS) {
    this.kind = kind;
    this.remaining = kind === 'length' ? contentLength : 0;
    this.length = this.remaining;
    this.decoder = kind === 'chunked' ? new ChunkedDecoder(limits) : null;
    this.done = kind === 'none' || kind === 'interim' || (kind === 'length' && contentLength === 0);
  }

  /** Whether the connection may carry another message after this one (when done). */
  get reusable(): boolean {
    return this.kind !== 'close' && this.kind !== 'tunnel';
  }

  /** Body bytes seen so far: for `chunked`, the decoded data; for `close`/`tunnel`, 0. */
  get bodyBytes(): number {
    return this.decoder !== null ? this.decoder.dataBytes : this.length - this.remaining;
  }

  feed(buf: Uint8Array, start = 0, end = buf.length): number {
    if (this.done) return 0;
    switch (this.kind) {
      case 'length': {
        const n = Math.min(this.remaining, end - start);
        this.remaining -= n;
        if (this.remaining === 0) this.done = true;
        return n;
      }
      case 'chunked': {
        const d = this.decoder!;
        const n = d.feed(buf, start, end);
        this.done = d.done;
        this.error = d.error;
        return n;
      }
      default:
        return end - start; // close / tunnel: everything belongs to the stream
    }
  }
}

/** Framing of a request body that the parser accepted. */
export function requestFraming(head: RequestHead, limits?: ChunkedLimits): BodyFraming {
  if (head.chunked) return new BodyFraming('chunked', 0, limits);
  if (head.contentLength !== null && head.contentLength > 0) {
    return new BodyFraming('length', head.contentLength);
  }
  return new BodyFraming('none');
}

/**
 * Framing of a response to a request with `requestMethod` (RFC 9112 §6.3): HEAD, 1xx, 204 and
 * 304 have no body; 101 and 2xx to CONNECT switch to a tunnel; then chunked, Content-Length, or
 * read until close.
 */
export function responseFraming(
  requestMethod: string,
  head: ResponseHead,
  limits?: ChunkedLimits,
): BodyFraming {
  const s = head.status;
  if (s === 101) return new BodyFraming('tunnel');
  if (s < 200) return new BodyFraming('interim');
  if (requestMethod === 'CONNECT' && s < 300) return new BodyFraming('tunnel');
  if (requestMethod === 'HEAD' || s === 204 || s === 304) return new BodyFraming('none');
  if (head.chunked) return new BodyFraming('chunked', 0, limits);
  if (head.contentLength !== null) return new BodyFraming('length', head.contentLength);
  return new BodyFraming('close');
}

/**
 * Whether a backend connection may go back to the pool once the response `framing` is done:
 * the response was delimited (not close/tunnel) and the backend did not ask to close. The caller
 * must also have finished sending the request body.
 */
export function backendReusable(response: ResponseHead, framing: BodyFraming): boolean {
  return framing.done && framing.reusable && response.keepAlive;
}

// Streaming RFC 6587 octet-counting decoder: `<len> <msg>` frames, optionally each followed by '\n'
// (the on-disk form). Never throws: a frame whose message is malformed yields an error entry and the
// decoder carries on with the next frame; a broken length prefix cannot be resynchronised, so it
// yields a fatal error entry and the decoder ignores all further input.

import { HeaderCache, type LogMessage, type ParseError, parseMessage } from './message.js';

export const DEFAULT_MAX_FRAME = 11_000;

export interface FrameError extends ParseError {
  /** true when the stream cannot be decoded any further (bad or overlong length prefix) */
  fatal?: boolean;
}

export interface FrameDecoderOptions {
  /** largest accepted MSG-LEN (default 11000) */
  maxFrame?: number;
  /**
   * 'none' (default, the wire form): frames follow each other directly;
   * 'optional': a '\n' after a frame is skipped when present;
   * 'required' (the on-disk form): every frame must be followed by '\n'.
   */
  newline?: 'none' | 'optional' | 'required';
}

export class FrameDecoder {
  readonly maxFrame: number;
  readonly newline: 'none' | 'optional' | 'required';
  private chunks: Buffer[] = [];
  private pendingLen = 0;
  /** total bytes needed (from the start of the pending data) before another frame can complete */
  private needed = 0;
  private failed = false;
  /** bytes consumed by complete frames so far (useful for readers that need offsets) */
  consumed = 0;
  private readonly headers = new HeaderCache();

  constructor(opts: FrameDecoderOptions = {}) {
    this.maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
    this.newline = opts.newline ?? 'none';
    this.maxDigits = Math.max(5, String(this.maxFrame).length);
  }
  private readonly maxDigits: number;

  /** True after a fatal framing error. */
  get isFailed(): boolean {
    return this.failed;
  }

  /** Bytes buffered waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.pendingLen;
  }

  /**
   * Feeds bytes; returns the frames completed by them, in order. Returned `msg` buffers may be views
   * of the pushed chunk, so do not reuse a chunk's memory after pushing it.
   */
  push(chunk: Buffer): Array<LogMessage | FrameError> {
    const out: Array<LogMessage | FrameError> = [];
    if (this.failed || chunk.length === 0) return out;
    if (this.needed > 0 && this.pendingLen + chunk.length < this.needed) {
      this.chunks.push(chunk);
      this.pendingLen += chunk.length;
      return out;
    }
    const data =
      this.chunks.length === 0
        ? chunk
        : Buffer.concat([...this.chunks, chunk], this.pendingLen + chunk.length);
    this.needed = 0;
    const len = data.length;
    let pos = 0;
    while (pos < len) {
      if (this.newline === 'optional' && data[pos] === 0x0a) {
        pos++;
        continue;
      }
      // MSG-LEN: 1-5 digits (more when maxFrame needs them), no leading zero, then a space
      let i = pos;
      let n = 0;
      while (i < len && i - pos <= this.maxDigits) {
        const c = data[i]!;
        if (c === 0x20) break;
        if (c < 0x30 || c > 0x39) {
          return this.fail(
            out,
            `bad MSG-LEN: unexpected byte 0x${c.toString(16).padStart(2, '0')} at frame start`,
          );
        }
        n = n * 10 + (c - 0x30);
        i++;
      }
      if (i - pos > this.maxDigits) return this.fail(out, `MSG-LEN was longer than ${this.maxDigits} digits`);
      if (i >= len) break; // need more bytes for the length
      if (i === pos) return this.fail(out, 'expected MSG-LEN, got space');
      if (data[pos] === 0x30)
        return this.fail(out, 'MSG-LEN must be a positive number without leading zeros');
      if (n > this.maxFrame) return this.fail(out, `maximum MSG-LEN is ${this.maxFrame}, got ${n}`);
      const start = i + 1;
      const end = start + n;
      const need = this.newline === 'required' ? end + 1 : end;
      if (need > len) {
        this.needed = need - pos;
        break;
      }
      if (this.newline === 'required') {
        if (data[end] !== 0x0a) return this.fail(out, 'frame not followed by a newline');
      }
      out.push(parseMessage(data.subarray(start, end), this.headers));
      pos = need;
    }
    this.consumed += pos;
    if (pos >= len) {
      this.chunks = [];
      this.pendingLen = 0;
    } else {
      this.chunks = [data.subarray(pos)];
      this.pendingLen = len - pos;
    }
    return out;
  }

  private fail(out: Array<LogMessage | FrameError>, error: string): Array<LogMessage | FrameError> {
    this.failed = true;
    this.chunks = [];
    this.pendingLen = 0;
    out.push({ error, fatal: true });
    return out;
  }
}

import { COLON, CR, FIELD_VALUE, HEX, HTAB, LF, SP, TOKEN } from './chars.js';

// Size-line states come before SizeLf (the line-length limit counts them).
enum S {
  Size,
  SizeWs, // BWS after the size: only ';' may follow
  ExtName, // after ';' and BWS: the first name byte
  ExtNameRest,
  ExtNameWs, // BWS after a name: '=' or ';'
  ExtValue, // after '=' and BWS: the first value byte
  ExtToken,
  ExtQuoted,
  ExtEscape,
  ExtValueEnd, // after a value: ';', BWS or CR
  ExtValueWs, // BWS after a value: ';'
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerName,
  TrailerValue,
  TrailerLf,
  FinalLf,
  Done,
  Error,
}

export interface ChunkedLimits {
  /** Longest chunk-size line (size and extensions), excluding CRLF. Default 4096. */
  maxSizeLine: number;
  /** Largest trailer section, in bytes. Default 65536. */
  maxTrailerBytes: number;
  /** Most trailer fields. Default 100. */
  maxTrailers: number;
}

export const DEFAULT_CHUNKED_LIMITS: Readonly<ChunkedLimits> = Object.freeze({
  maxSizeLine: 4096,
  maxTrailerBytes: 65536,
  maxTrailers: 100,
});

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Tracks the framing of a chunked body without copying it. Feed it the bytes that follow the
 * head, in order; `feed` returns how many of the given bytes belong to the message. When `done`
 * becomes true the message (including trailers and the final CRLF) has ended and any remaining
 * bytes belong to the next message. When `error` is set the stream is broken: close it.
 */
export class ChunkedDecoder {
  done = false;
  error: string | null = null;
  /** Chunk data bytes seen so far (the decoded body length, excluding sizes and trailers). */
  dataBytes = 0;
  private state = S.Size;
  private remaining = 0; // bytes of chunk data still to come
  private digits = 0;
  private lineLen = 0;
  private trailerBytes = 0;
  private trailers = 0;
  private readonly limits: ChunkedLimits;

  constructor(limits: ChunkedLimits = DEFAULT_CHUNKED_LIMITS) {
    this.limits = limits;
  }

  /** Returns the number of bytes of buf[start, end) consumed by this message. */
  feed(buf: Uint8Array, start = 0, end = buf.length): number {
    let i = start;
    let state = this.state;
    if (state === S.Done || state === S.Error) return 0;
    while (i < end) {
      if (state === S.Data) {
        const n = Math.min(this.remaining, end - i);
        this.remaining -= n;
        this.dataBytes += n;
        i += n;
        if (this.remaining === 0) state = S.DataCr;
        continue;
      }
      const c = buf[i++];
      switch (state) {
        case S.Size: {
          const h = HEX[c];
          if (h !== 255) {
            this.remaining = this.remaining * 16 + h;
            if (this.remaining > MAX_SAFE) return this.fail('chunk size overflow');
            this.digits++;
          } else if (this.digits === 0) {
            return this.fail('invalid chunk size');
          } else if (c === CR) {
            state = S.SizeLf;
          } else if (c === SP || c === HTAB) {
            state = S.SizeWs;
          } else if (c === 0x3b) {
            state = S.ExtName;
          } else {
            return this.fail('invalid chunk size');
          }
          break;
        }
        // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] )
        case S.SizeWs:
        case S.ExtNameWs:
        case S.ExtValueWs:
          if (c === 0x3b) state = S.ExtName;
          else if (c === 0x3d && state === S.ExtNameWs) state = S.ExtValue;
          else if (c !== SP && c !== HTAB) return this.fail('invalid chunk size line');
          break;
        case S.ExtName:
          if (TOKEN[c] === 1) state = S.ExtNameRest;
          else if (c !== SP && c !== HTAB) return this.fail('invalid chunk extension');
          break;
        case S.ExtNameRest:
          if (c === CR) state = S.SizeLf;
          else if (c === 0x3b) state = S.ExtName;
          else if (c === 0x3d) state = S.ExtValue;
          else if (c === SP || c === HTAB) state = S.ExtNameWs;
          else if (TOKEN[c] === 0) return this.fail('invalid chunk extension');
          break;
        case S.ExtValue:
          if (TOKEN[c] === 1) state = S.ExtToken;
          else if (c === 0x22) state = S.ExtQuoted;
          else if (c !== SP && c !== HTAB) return this.fail('invalid chunk extension');
          break;
        case S.ExtToken:
        case S.ExtValueEnd:
          if (c === CR) state = S.SizeLf;
          else if (c === 0x3b) state = S.ExtName;
          else if (c === SP || c === HTAB) state = S.ExtValueWs;
          else if (state === S.ExtValueEnd || TOKEN[c] === 0) return this.fail('invalid chunk extension');
          break;
        case S.ExtQuoted:
          if (c === 0x22) state = S.ExtValueEnd;
          else if (c === 0x5c) state = S.ExtEscape;
          else if (FIELD_VALUE[c] === 0) return this.fail('invalid chunk extension');
          break;
        case S.ExtEscape:
          if (FIELD_VALUE[c] === 0) return this.fail('invalid chunk extension');
          state = S.ExtQuoted;
          break;
        case S.SizeLf:
          if (c !== LF) return this.fail('bare CR in chunk size line');
          this.digits = 0;
          this.lineLen = 0;
          state = this.remaining === 0 ? S.TrailerStart : S.Data;
          continue;
        case S.DataCr:
          if (c !== CR) return this.fail('missing CRLF after chunk data');
          state = S.DataLf;
          break;
        case S.DataLf:
          if (c !== LF) return this.fail('missing CRLF after chunk data');
          state = S.Size;
          this.lineLen = 0;
          continue;
        case S.TrailerStart:
          if (c === CR) {
            state = S.FinalLf;
          } else if (TOKEN[c] === 1) {
            if (++this.trailers > this.limits.maxTrailers) return this.fail('too many trailer fields');
            state = S.TrailerName;
          } else {
            return this.fail(c === SP || c === HTAB ? 'obsolete line folding' : 'invalid trailer');
          }
          break;
        case S.TrailerName:
          if (c === COLON) state = S.TrailerValue;
          else if (TOKEN[c] === 0) return this.fail('invalid trailer name');
          break;
        case S.TrailerValue:
          if (c === CR) state = S.TrailerLf;
          else if (FIELD_VALUE[c] === 0) return this.fail('invalid trailer value');
          break;
        case S.TrailerLf:
          if (c !== LF) return this.fail('bare CR in trailer');
          state = S.TrailerStart;
          break;
        case S.FinalLf:
          if (c !== LF) return this.fail('bare CR at end of chunked body');
          this.state = S.Done;
          this.done = true;
          return i - start;
      }
      if (state < S.SizeLf) {
        if (++this.lineLen > this.limits.maxSizeLine) return this.fail('chunk size line too long');
      } else if (state >= S.TrailerStart) {
        if (++this.trailerBytes > this.limits.maxTrailerBytes) return this.fail('trailers too large');
      }
    }
    this.state = state;
    return i - start;
  }

  private fail(reason: string): number {
    this.state = S.Error;
    this.error = reason;
    return -1;
  }
}

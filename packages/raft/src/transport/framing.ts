// Stream framing for Raft connections. An outbound connection sends:
//
//   0xFF                       selects Raft on a port shared with HTTP (as Flynn's discoverd did)
//   frame(hello)               see hello.ts
//   frame(message)*            frame = u32 big-endian payload length | payload (an encoded Message)

import type { Message } from '../core/types.js';
import { encodeMessageWithPrefix } from './codec.js';

export const RAFT_PROTOCOL_BYTE = 0xff;
export const FRAME_HEADER_BYTES = 4;
const MAX_U32 = 0xffff_ffff;

/**
 * Encodes `msg` as a length-prefixed frame. Returns null (allocating nothing) when the frame would be larger
 * than `maxBytes`. Throws when the message cannot be encoded.
 */
export function encodeFrame(msg: Message, maxBytes = Infinity): Buffer | null {
  const frame = encodeMessageWithPrefix(msg, FRAME_HEADER_BYTES, maxBytes);
  if (frame === null) return null;
  const len = frame.length - FRAME_HEADER_BYTES;
  if (len > MAX_U32) throw new Error(`encodeFrame: message of ${len} bytes exceeds the u32 frame length`);
  frame.writeUInt32BE(len, 0);
  return frame;
}

/**
 * Splits a byte stream into frame payloads. Frames wholly inside one chunk are delivered as views of it
 * (no copy); only frames that straddle chunks are assembled, from the chunks that actually arrived (never
 * from an allocation of the announced length). Buffered bytes never exceed maxFrameBytes plus one chunk,
 * because a length above the cap is rejected before any of its payload is kept.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Payload length of the frame being assembled, or -1 while its header is still incomplete. */
  private frameLen = -1;

  /** The cap applies to every header read after it is changed (a connection raises it after its hello). */
  constructor(public maxFrameBytes: number) {}

  /** Bytes held while waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Bytes of the incomplete frame received so far, header included; 0 between frames. */
  get partialFrameBytes(): number {
    return this.buffered + (this.frameLen >= 0 ? FRAME_HEADER_BYTES : 0);
  }

  /** Announced payload length of the incomplete frame, or -1 while its header is incomplete. */
  get announcedBytes(): number {
    return this.frameLen;
  }

  /** Drops everything buffered (the connection is gone: keep no reference to its bytes). */
  reset(): void {
    this.chunks = [];
    this.buffered = 0;
    this.frameLen = -1;
  }

  /** Feeds `chunk`, calling `onFrame` for each complete payload in order. Throws on an oversized length. */
  push(chunk: Buffer, onFrame: (payload: Buffer) => void): void {
    if (chunk.length === 0) return;
    if (this.buffered === 0 && this.frameLen < 0) {
      // Fast path: nothing pending, parse straight out of the chunk.
      let p = 0;
      while (chunk.length - p >= FRAME_HEADER_BYTES) {
        const len = this.checkLength(chunk.readUInt32BE(p));
        if (chunk.length - p - FRAME_HEADER_BYTES < len) break;
        p += FRAME_HEADER_BYTES;
        onFrame(chunk.subarray(p, p + len));
        p += len;
      }
      if (p === chunk.length) return;
      chunk = chunk.subarray(p);
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.frameLen < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) return;
        this.frameLen = this.checkLength(this.take(FRAME_HEADER_BYTES).readUInt32BE(0));
      }
      if (this.buffered < this.frameLen) return;
      const len = this.frameLen;
      this.frameLen = -1;
      onFrame(this.take(len));
    }
  }

  private checkLength(len: number): number {
    if (len > this.maxFrameBytes) {
      throw new Error(`frame of ${len} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
    }
    return len;
  }

  /** Removes the next `n` buffered bytes (caller ensures n <= buffered). */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let used = 0;
    while (filled < n) {
      const c = this.chunks[used];
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k === c.length) used++;
      else this.chunks[used] = c.subarray(k);
    }
    this.chunks.splice(0, used);
    return out;
  }
}

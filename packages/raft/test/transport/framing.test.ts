import { describe, expect, it, vi } from 'vitest';
import { MessageType } from '../../src/core/types.js';
import { decodeMessage } from '../../src/transport/codec.js';
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder } from '../../src/transport/framing.js';
import { decodeHello, encodeHello, MAX_HELLO_BYTES, verifyHello } from '../../src/transport/hello.js';
import { app, msg } from './helpers.js';

describe('framing', () => {
  it('prefixes a big-endian payload length', () => {
    const f = encodeFrame(msg({ type: MessageType.Heartbeat, from: 'a', to: 'b', term: 3 }))!;
    expect(f.readUInt32BE(0)).toBe(f.length - FRAME_HEADER_BYTES);
    expect(decodeMessage(f.subarray(FRAME_HEADER_BYTES)).term).toBe(3);
  });

  it('returns null when a frame would exceed the budget', () => {
    const m = app('a', 'b', 1, 10, 100);
    const size = encodeFrame(m)!.length;
    expect(encodeFrame(m, size)).not.toBeNull();
    expect(encodeFrame(m, size - 1)).toBeNull();
  });

  it('reassembles frames from chunks split at every position', () => {
    const frames = [1, 2, 3].map((i) => encodeFrame(app('a', 'b', i, 3, 50))!);
    const stream = Buffer.concat(frames);
    for (let cut1 = 0; cut1 <= stream.length; cut1 += 7) {
      for (let cut2 = cut1; cut2 <= stream.length; cut2 += 13) {
        const d = new FrameDecoder(1 << 20);
        const got: number[] = [];
        for (const part of [stream.subarray(0, cut1), stream.subarray(cut1, cut2), stream.subarray(cut2)]) {
          d.push(part, (p) => got.push(decodeMessage(p).commit));
        }
        expect(got).toEqual([1, 2, 3]);
        expect(d.bufferedBytes).toBe(0);
      }
    }
  });

  it('reassembles a frame delivered one byte at a time', () => {
    const f = encodeFrame(app('a', 'b', 9, 4, 30))!;
    const d = new FrameDecoder(1 << 20);
    const got: number[] = [];
    for (let i = 0; i < f.length; i++) d.push(f.subarray(i, i + 1), (p) => got.push(decodeMessage(p).commit));
    expect(got).toEqual([9]);
  });

  it('rejects an oversized length before buffering its payload', () => {
    const d = new FrameDecoder(1000);
    expect(() => d.push(Buffer.from([0, 0, 0x03, 0xe9]), () => {})).toThrow(/exceeds/);
    const d2 = new FrameDecoder(1000);
    d2.push(Buffer.from([0xff, 0xff]), () => {});
    expect(() => d2.push(Buffer.from([0xff, 0xff, 1, 2, 3]), () => {})).toThrow(/exceeds/);
  });

  it('round-trips hellos and rejects malformed ones', () => {
    const h = encodeHello('node-1', 'node-2');
    expect(h.readUInt32BE(0)).toBe(h.length - 4);
    expect(decodeHello(h.subarray(4))).toEqual({ from: 'node-1', to: 'node-2', keyed: false });
    const payload = h.subarray(4);
    for (let n = 0; n < payload.length; n++) expect(() => decodeHello(payload.subarray(0, n))).toThrow();
    expect(() => decodeHello(Buffer.concat([payload, Buffer.of(0)]))).toThrow();
    const badVersion = Buffer.from(payload);
    badVersion[0] = 9;
    expect(() => decodeHello(badVersion)).toThrow();
    expect(() => decodeHello(encodeHello('', 'x').subarray(4))).toThrow();
  });

  it('signs hellos with the cluster key, and verifies them in constant time', () => {
    const h = encodeHello('node-1', 'node-2', 'k1').subarray(4);
    expect(decodeHello(h)).toEqual({ from: 'node-1', to: 'node-2', keyed: true });
    expect(verifyHello(h, 'k1')).toBe(true);
    expect(verifyHello(h, 'k2')).toBe(false);
    // Not the key in clear: neither the key nor the same bytes twice.
    expect(h.includes(Buffer.from('k1'))).toBe(false);
    expect(encodeHello('node-1', 'node-2', 'k1').subarray(4).equals(h)).toBe(false);
    // Every byte is covered by the mac, the ids included.
    for (let i = 0; i < h.length; i++) {
      const bad = Buffer.from(h);
      bad[i] ^= 1;
      expect(verifyHello(bad, 'k1')).toBe(false);
    }
    expect(verifyHello(encodeHello('node-1', 'node-2').subarray(4), 'k1')).toBe(false);
    for (let n = 0; n < h.length; n++) expect(() => decodeHello(h.subarray(0, n))).toThrow();
    const longest = encodeHello('x'.repeat(1024), 'y'.repeat(1024), 'k1');
    expect(longest.length - 4).toBe(MAX_HELLO_BYTES);
  });

  it('grows with the bytes that arrive, never with the length announced', () => {
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const d = new FrameDecoder(64 * 1024 * 1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(64 * 1024 * 1024);
    d.push(header, () => {});
    for (let i = 0; i < 100; i++) d.push(Buffer.alloc(1000), () => {});
    expect(d.partialFrameBytes).toBe(4 + 100_000);
    expect(d.announcedBytes).toBe(64 * 1024 * 1024);
    expect(alloc.mock.calls.every(([n]) => n < 1024 * 1024)).toBe(true);
    alloc.mockRestore();
    d.reset();
    expect(d.bufferedBytes).toBe(0);
    expect(d.partialFrameBytes).toBe(0);
  });
});

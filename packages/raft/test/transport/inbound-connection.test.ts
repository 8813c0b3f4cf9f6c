import { EventEmitter } from 'node:events';
import type net from 'node:net';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Message } from '../../src/core/types.js';
import type { TransportError } from '../../src/transport/errors.js';
import { encodeFrame } from '../../src/transport/framing.js';
import { encodeHello } from '../../src/transport/hello.js';
import { InboundConnection, type InboundConnectionOptions } from '../../src/transport/inbound-connection.js';
import { app } from './helpers.js';

// The inbound half against a fake socket and a fake clock: the hello deadline and proof of
// membership, the per-frame minimum rate, and what a closed connection keeps.

const MiB = 1024 * 1024;
const KEY = 'unit-key';

class FakeSocket extends EventEmitter {
  destroyed = false;
  remoteAddress = '127.0.0.9';
  setNoDelay(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.emit('close');
    return this;
  }
  send(b: Buffer): void {
    if (!this.destroyed) this.emit('data', b);
  }
}

interface Harness {
  socket: FakeSocket;
  conn: InboundConnection;
  got: Message[];
  failures: TransportError[];
}

function open(opts: Partial<InboundConnectionOptions> = {}): Harness {
  const socket = new FakeSocket();
  const got: Message[] = [];
  const failures: TransportError[] = [];
  const conn = new InboundConnection(socket as unknown as net.Socket, {
    localId: 'b',
    maxFrameBytes: 64 * MiB,
    handshakeTimeoutMs: 5000,
    frameGraceMs: 5000,
    minFrameBytesPerSecond: MiB,
    clusterKey: KEY,
    isPeer: (id) => id === 'a' || id === 'c',
    onHello: () => {},
    onMessage: (m) => got.push(m),
    onDiscard: () => {},
    onFailure: (e) => failures.push(e),
    onClose: () => {},
    ...opts,
  });
  conn.start();
  return { socket, conn, got, failures };
}

const hello = (from = 'a', key: string | null = KEY) =>
  Buffer.concat([Buffer.of(0xff), encodeHello(from, 'b', key ?? undefined)]);

function header(len: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(len);
  return h;
}

/** Advances the fake clock, then lets the deferred checks (setImmediate) run. */
function advance(ms: number): void {
  vi.advanceTimersByTime(ms);
  vi.advanceTimersByTime(0);
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('InboundConnection', () => {
  it('closes a connection that sends the marker and nothing else once the hello deadline passes', () => {
    const h = open();
    h.socket.send(Buffer.of(0xff));
    advance(4900);
    expect(h.socket.destroyed).toBe(false);
    advance(200);
    expect(h.socket.destroyed).toBe(true);
    expect(h.failures[0].message).toMatch(/no hello within 5000 ms/);
  });

  it('closes at once a hello without the key, with another key, or from outside the configuration', () => {
    for (const [bytes, why] of [
      [hello('a', null), /without the cluster key/],
      [hello('a', 'other-key'), /another cluster key/],
      [hello('mallory', KEY), /not a member/],
    ] as const) {
      const h = open();
      h.socket.send(bytes);
      expect(h.socket.destroyed).toBe(true);
      expect(h.failures).toHaveLength(1);
      expect(h.failures[0].kind).toBe('auth');
      expect(h.failures[0].message).toMatch(why);
    }
  });

  it('accepts a signed hello from a member; without a key or lookup, any hello', () => {
    const h = open();
    h.socket.send(Buffer.concat([hello('c'), encodeFrame(app('c', 'b', 5))!]));
    expect(h.conn.peerId).toBe('c');
    expect(h.got.map((m) => m.commit)).toEqual([5]);
    const open2 = open({ clusterKey: undefined, isPeer: undefined });
    open2.socket.send(Buffer.concat([hello('anyone', null), encodeFrame(app('anyone', 'b', 6))!]));
    expect(open2.got.map((m) => m.commit)).toEqual([6]);
  });

  it('refuses a hello frame announcing more than a hello can hold', () => {
    const h = open();
    h.socket.send(Buffer.concat([Buffer.of(0xff), header(64 * MiB)]));
    expect(h.socket.destroyed).toBe(true);
    expect(h.failures[0].kind).toBe('protocol');
  });

  it('closes a 64 MiB frame that trickles in after the grace, holding only what arrived', () => {
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const h = open();
    h.socket.send(Buffer.concat([hello(), header(64 * MiB)]));
    let sent = 0;
    for (let t = 0; t < 4900 && !h.socket.destroyed; t += 100) {
      h.socket.send(Buffer.alloc(100, 1));
      sent += 100;
      advance(100);
    }
    expect(h.socket.destroyed).toBe(false);
    for (let t = 0; t < 1000 && !h.socket.destroyed; t += 100) {
      h.socket.send(Buffer.alloc(100, 1));
      advance(100);
    }
    expect(h.socket.destroyed).toBe(true);
    expect(h.failures[0].message).toMatch(/frame too slow/);
    expect(sent).toBeGreaterThan(4000);
    expect(alloc.mock.calls.every(([n]) => n < MiB)).toBe(true);
    alloc.mockRestore();
  });

  it('lets a large frame arriving above the minimum rate take longer than the grace', () => {
    const h = open();
    const frame = encodeFrame(app('a', 'b', 7, 12, MiB))!; // ~12 MiB at 2 MiB/s: 6 s
    h.socket.send(hello());
    const chunk = 64 * 1024;
    for (let p = 0; p < frame.length; p += chunk) {
      h.socket.send(frame.subarray(p, p + chunk));
      advance(Math.round((chunk / (2 * MiB)) * 1000));
    }
    expect(h.failures).toEqual([]);
    expect(h.got.map((m) => m.commit)).toEqual([7]);
    // A frame that stalls after a fast start is closed once the rate catches up with it.
    const half = frame.subarray(0, frame.length / 2);
    h.socket.send(half);
    advance(5000 + (half.length / MiB) * 1000 - 200);
    expect(h.socket.destroyed).toBe(false);
    advance(400);
    expect(h.socket.destroyed).toBe(true);
  });

  it('keeps idle time between frames free', () => {
    const h = open();
    h.socket.send(hello());
    advance(60_000);
    h.socket.send(encodeFrame(app('a', 'b', 1))!);
    advance(60_000);
    expect(h.socket.destroyed).toBe(false);
    expect(h.got).toHaveLength(1);
  });

  it('starts each frame its own clock, also when the previous one ends in the same chunk', () => {
    const h = open();
    h.socket.send(hello());
    const f1 = encodeFrame(app('a', 'b', 1))!;
    const f2 = encodeFrame(app('a', 'b', 2))!;
    h.socket.send(f1.subarray(0, 3));
    advance(4000);
    h.socket.send(Buffer.concat([f1.subarray(3), f2.subarray(0, 3)]));
    advance(4500); // 8.5 s after f1 began, 4.5 s after f2 did
    expect(h.socket.destroyed).toBe(false);
    advance(600);
    expect(h.socket.destroyed).toBe(true);
    expect(h.got.map((m) => m.commit)).toEqual([1]);
  });

  it('keeps no reference to buffered bytes once closed', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const h = open();
    let ref: WeakRef<ArrayBuffer>;
    (() => {
      const part = Buffer.alloc(4 * MiB, 1);
      ref = new WeakRef(part.buffer);
      h.socket.send(Buffer.concat([hello(), header(8 * MiB)]));
      h.socket.send(part);
    })();
    h.conn.close();
    vi.useRealTimers();
    // A WeakRef holds its target until the end of the job that created it.
    await new Promise((r) => setTimeout(r, 0));
    gc();
    // h.conn itself is still referenced here: only its buffers must be gone.
    expect(h.conn).toBeDefined();
    expect(ref!.deref()).toBeUndefined();
  });
});

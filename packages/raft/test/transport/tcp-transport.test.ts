import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Message, MessageType } from '../../src/core/types.js';
import type { TransportError } from '../../src/transport/errors.js';
import { encodeFrame } from '../../src/transport/framing.js';
import { encodeHello } from '../../src/transport/hello.js';
import { TcpTransport, type TransportOptions } from '../../src/transport/tcp-transport.js';
import { app, closeServer, connectRaw, entries, msg, rawServer, tick, waitFor } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function transport(id: string, opts: Partial<TransportOptions> = {}): TcpTransport {
  const t = new TcpTransport({ id, backoffMinMs: 5, backoffMaxMs: 50, ...opts });
  cleanups.push(() => t.close());
  return t;
}

async function node(id: string, opts: Partial<TransportOptions> = {}): Promise<TcpTransport> {
  const t = transport(id, opts);
  await t.listen('127.0.0.1', 0);
  return t;
}

function addr(t: TcpTransport): string {
  const a = t.address()!;
  return `${a.host}:${a.port}`;
}

function collect(t: TcpTransport): Message[] {
  const got: Message[] = [];
  t.on('message', (m) => got.push(m));
  return got;
}

async function server(onConn: (s: net.Socket) => void): Promise<number> {
  const sockets: net.Socket[] = [];
  const { server, port } = await rawServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    onConn(s);
  });
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return closeServer(server);
  });
  return port;
}

const seqs = (ms: Message[]) => ms.map((m) => m.commit);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('TcpTransport', () => {
  it('exchanges messages in order in both directions', async () => {
    const a = await node('a');
    const b = await node('b');
    a.setPeer('b', addr(b));
    b.setPeer('a', addr(a));
    const atA = collect(a);
    const atB = collect(b);
    const n = 3000;
    for (let i = 0; i < n; i++) {
      a.send(app('a', 'b', i, 2, 16));
      b.send(app('b', 'a', i));
      if (i % 97 === 0) await tick();
    }
    await waitFor(() => atA.length === n && atB.length === n, 'all messages');
    expect(seqs(atB)).toEqual(range(0, n));
    expect(seqs(atA)).toEqual(range(0, n));
    expect(atB[123]).toStrictEqual(app('a', 'b', 123, 2, 16));
    const snap = msg({
      type: MessageType.Snap,
      from: 'a',
      to: 'b',
      snapshot: { index: 10, term: 2, config: { voters: ['a', 'b'], learners: [] } },
      data: new Uint8Array(3 * 1024 * 1024).fill(7),
      offset: 0,
      done: true,
    });
    a.send(snap);
    await waitFor(() => atB.length === n + 1, 'snapshot chunk');
    expect(atB[n].snapshot).toEqual(snap.snapshot);
    expect(Buffer.from(atB[n].data!).equals(Buffer.from(snap.data!))).toBe(true);
    await waitFor(() => a.stats().queuedBytes === 0, 'queue drained');
    expect(a.stats()).toMatchObject({ sent: n + 1, dropped: 0, reconnects: 0, queuedBytes: 0 });
    expect(b.stats()).toMatchObject({ received: n + 1, protocolErrors: 0 });
  });

  it('coalesces messages queued in one tick into a single socket write', async () => {
    let received = 0;
    const port = await server((s) => s.on('data', (c: Buffer) => (received += c.length)));
    const a = transport('a', { peers: { b: `127.0.0.1:${port}` } });
    a.send(app('a', 'b', 0));
    await waitFor(() => a.stats().sent === 1 && a.stats().queuedBytes === 0, 'connection up');
    // _write/_writev are the stream's per-write hooks: each call is one write syscall attempt.
    const proto = net.Socket.prototype as unknown as Record<'_write' | '_writev', () => void>;
    const writes = vi.spyOn(proto, '_write');
    const writevs = vi.spyOn(proto, '_writev');
    try {
      for (let i = 1; i <= 64; i++) a.send(app('a', 'b', i, 1, 100));
      await waitFor(() => a.stats().sent === 65, 'batch written');
      expect(writes.mock.calls.length + writevs.mock.calls.length).toBe(1);
    } finally {
      writes.mockRestore();
      writevs.mockRestore();
    }
  });

  it('drops and counts messages to unknown peers, and never throws from send', async () => {
    const a = transport('a');
    a.send(app('a', 'nobody', 1));
    a.send(null as unknown as Message);
    a.send({ ...app('a', 'nobody', 1), to: undefined } as unknown as Message);
    a.setPeer('b', '127.0.0.1:1');
    a.send({ ...app('a', 'b', 1), term: Number.NaN });
    expect(a.stats().dropped).toBe(4);
    expect(() => a.setPeer('c', 'no-port')).toThrow(/host:port/);
  });

  it('reconnects to a peer that restarts on the same port, delivering what was queued', async () => {
    const errors: TransportError[] = [];
    const a = transport('a', { onError: (e) => errors.push(e) });
    const b = await node('b');
    const port = b.address()!.port;
    a.setPeer('b', `127.0.0.1:${port}`);
    const atB = collect(b);
    a.send(app('a', 'b', 0));
    await waitFor(() => atB.length === 1, 'first message');

    await b.close();
    // Wait until A has noticed and failed at least one redial, so nothing below is written to a dead socket.
    await waitFor(() => errors.some((e) => e.kind === 'dial'), 'a failed redial');
    for (let i = 1; i <= 50; i++) a.send(app('a', 'b', i));
    expect(a.stats().queuedBytes).toBeGreaterThan(0);

    const b2 = transport('b');
    await b2.listen('127.0.0.1', port);
    const atB2 = collect(b2);
    await waitFor(() => atB2.length === 50, 'queued messages after restart');
    expect(seqs(atB2)).toEqual(range(1, 51));
    for (let i = 51; i <= 100; i++) a.send(app('a', 'b', i));
    await waitFor(() => atB2.length === 100, 'later messages');
    expect(seqs(atB2)).toEqual(range(1, 101));
    expect(a.stats().reconnects).toBe(1);
    expect(a.stats().dropped).toBe(0);
  });

  it('keeps memory bounded and counts drops when a peer never reads', async () => {
    const stuck = await server((s) => s.pause());
    const c = await node('c');
    const atC = collect(c);
    const maxQueueBytes = 1024 * 1024;
    const a = transport('a', { maxQueueBytes, peers: { b: `127.0.0.1:${stuck}`, c: addr(c) } });

    const m = msg({ type: MessageType.App, from: 'a', to: 'b', entries: entries(16, 1000) });
    const frameBytes = encodeFrame(m)!.length;
    const count = Math.ceil((200 * 1024 * 1024) / frameBytes);
    const baseline = process.memoryUsage().arrayBuffers;
    let maxQueued = 0;
    let maxArrayBuffers = 0;
    for (let i = 0; i < count; i++) {
      a.send(m);
      maxQueued = Math.max(maxQueued, a.stats().queuedBytes);
      if (i % 32 === 0) {
        await tick();
        maxArrayBuffers = Math.max(maxArrayBuffers, process.memoryUsage().arrayBuffers - baseline);
      }
    }
    const s = a.stats();
    expect(maxQueued).toBeLessThanOrEqual(maxQueueBytes);
    expect(s.queuedBytes).toBeLessThanOrEqual(maxQueueBytes);
    expect(s.dropped).toBeGreaterThan(count / 2);
    // Every message was either handed to the socket, dropped, or is still in the bounded queue.
    expect(s.sent + s.dropped).toBeLessThanOrEqual(count);
    expect(s.sent + s.dropped).toBeGreaterThanOrEqual(count - Math.floor(maxQueueBytes / frameBytes));
    expect(maxArrayBuffers).toBeLessThan(32 * 1024 * 1024);

    // The stuck peer does not hold up others.
    a.send(app('a', 'c', 1));
    await waitFor(() => atC.length === 1, 'message to the healthy peer');
  });

  it('closes garbage inbound connections without disturbing others', async () => {
    const errors: TransportError[] = [];
    const a = transport('a');
    const b = await node('b', { onError: (e) => errors.push(e), maxFrameBytes: 1024 * 1024 });
    a.setPeer('b', addr(b));
    const atB = collect(b);
    a.send(app('a', 'b', 0));
    await waitFor(() => atB.length === 1, 'first message');

    const ff = Buffer.of(0xff);
    const hello = encodeHello('x', 'b');
    const garbage = [
      Buffer.from('GET / HTTP/1.1\r\nHost: b\r\n\r\n'),
      Buffer.concat([ff, hello, Buffer.from([0xff, 0xff, 0xff, 0xff])]),
      Buffer.concat([ff, hello, Buffer.from([0x00, 0x20, 0x00, 0x00])]), // 2 MiB > maxFrameBytes
      Buffer.concat([ff, hello, Buffer.from([0, 0, 0, 3, 1, 2, 3])]),
      Buffer.concat([ff, hello, Buffer.from([0, 0, 0, 0])]),
      Buffer.concat([ff, encodeHello('x', 'not-b')]),
      Buffer.concat([ff, Buffer.from([0, 0, 0, 2, 9, 9])]),
    ];
    const closed: boolean[] = [];
    for (const [i, g] of garbage.entries()) {
      const s = await connectRaw(b.address()!.port);
      cleanups.push(() => s.destroy());
      closed[i] = false;
      s.on('close', () => {
        closed[i] = true;
      });
      s.resume();
      s.write(g);
      a.send(app('a', 'b', i + 1));
    }
    await waitFor(() => closed.every(Boolean), 'garbage connections closed');
    expect(b.stats().protocolErrors).toBe(garbage.length);
    expect(errors.filter((e) => e.kind === 'protocol')).toHaveLength(garbage.length);

    for (let i = garbage.length + 1; i <= 100; i++) a.send(app('a', 'b', i));
    await waitFor(() => atB.length === 101, 'messages on the good connection');
    expect(seqs(atB)).toEqual(range(0, 101));
    expect(a.stats().reconnects).toBe(0);
  });

  it('closes inbound connections that never finish the handshake', async () => {
    const b = await node('b', { handshakeTimeoutMs: 50 });
    const s = await connectRaw(b.address()!.port);
    cleanups.push(() => s.destroy());
    let closed = false;
    s.on('close', () => {
      closed = true;
    });
    s.resume();
    s.write(Buffer.of(0xff, 0, 0));
    await waitFor(() => closed, 'handshake timeout');
    expect(b.stats().protocolErrors).toBe(1);
  });

  it('accepts connections from a multiplexer with the head split anywhere', async () => {
    const b = transport('b');
    const atB = collect(b);
    const stream = Buffer.concat([
      Buffer.of(0xff),
      encodeHello('a', 'b'),
      encodeFrame(app('a', 'b', 1, 2, 10))!,
      encodeFrame(app('a', 'b', 2, 1, 5))!,
    ]);
    // A multiplexer that reads `total` bytes, hands the first `split` over as head and pushes the rest back.
    let split = 0;
    const port = await server((s) => {
      let buf = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < stream.length) return;
        s.off('data', onData);
        s.pause();
        if (buf.length > split) s.unshift(buf.subarray(split));
        b.acceptConnection(s, buf.subarray(0, split));
      };
      s.on('data', onData);
    });
    for (split = 1; split <= stream.length; split++) {
      const before = atB.length;
      const s = await connectRaw(port);
      cleanups.push(() => s.destroy());
      s.write(stream);
      await waitFor(() => atB.length === before + 2, `messages with split ${split}`);
      expect(seqs(atB.slice(before))).toEqual([1, 2]);
    }
    expect(atB[0]).toStrictEqual(app('a', 'b', 1, 2, 10));
    expect(b.stats().protocolErrors).toBe(0);
  });

  it('accepts a head of 0xFF plus half a hello, with the rest arriving later', async () => {
    const b = transport('b');
    const atB = collect(b);
    const hello = encodeHello('a', 'b');
    const half = Math.floor(hello.length / 2);
    const first = Buffer.concat([Buffer.of(0xff), hello.subarray(0, half)]);
    let handedOver = false;
    const port = await server((s) => {
      let buf = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < first.length) return;
        s.off('data', onData);
        s.pause();
        b.acceptConnection(s, buf);
        handedOver = true;
      };
      s.on('data', onData);
    });
    const s = await connectRaw(port);
    cleanups.push(() => s.destroy());
    s.write(first);
    await waitFor(() => handedOver, 'hand-over');
    const frame = encodeFrame(app('a', 'b', 7))!;
    s.write(Buffer.concat([hello.subarray(half), frame.subarray(0, 3)]));
    await tick();
    s.write(frame.subarray(3));
    await waitFor(() => atB.length === 1, 'message');
    expect(atB[0]).toStrictEqual(app('a', 'b', 7));
  });

  it('closes the connection of a removed peer and drops later messages to it', async () => {
    let accepted = 0;
    let closed = 0;
    const port = await server((s) => {
      accepted++;
      s.on('close', () => closed++);
      s.resume();
    });
    const a = transport('a', { peers: { b: `127.0.0.1:${port}` } });
    a.send(app('a', 'b', 1));
    await waitFor(() => accepted === 1 && a.stats().sent === 1, 'connection');
    a.removePeer('b');
    await waitFor(() => closed === 1, 'connection closed');
    a.send(app('a', 'b', 2));
    expect(a.stats().dropped).toBe(1);
  });

  it('follows a peer to a new address', async () => {
    const b1 = await node('b');
    const b2 = await node('b');
    const at1 = collect(b1);
    const at2 = collect(b2);
    const a = transport('a', { peers: { b: addr(b1) } });
    a.send(app('a', 'b', 1));
    await waitFor(() => at1.length === 1, 'message at old address');
    a.setPeer('b', addr(b2));
    a.send(app('a', 'b', 2));
    await waitFor(() => at2.length === 1, 'message at new address');
    expect(seqs(at2)).toEqual([2]);
  });

  it('reports a throwing listener through onError and keeps delivering', async () => {
    const errors: TransportError[] = [];
    const b = await node('b', { onError: (e) => errors.push(e) });
    const a = transport('a', { peers: { b: addr(b) } });
    let calls = 0;
    b.on('message', () => {
      calls++;
      if (calls === 1) throw new Error('boom');
    });
    a.send(app('a', 'b', 1));
    a.send(app('a', 'b', 2));
    await waitFor(() => calls === 2, 'both messages');
    expect(errors.map((e) => e.kind)).toEqual(['listener']);
  });

  it('discards messages whose recipient is another node', async () => {
    const b = await node('b');
    const atB = collect(b);
    const s = await connectRaw(b.address()!.port);
    cleanups.push(() => s.destroy());
    s.write(
      Buffer.concat([
        Buffer.of(0xff),
        encodeHello('a', 'b'),
        encodeFrame(app('a', 'c', 1))!,
        encodeFrame(app('z', 'b', 2))!,
        encodeFrame(app('a', 'b', 3))!,
      ]),
    );
    await waitFor(() => atB.length === 1, 'the well-addressed message');
    expect(seqs(atB)).toEqual([3]);
    expect(b.stats().dropped).toBe(2);
  });

  it('rejects sockets handed over after close, and close is idempotent', async () => {
    const b = await node('b');
    await b.close();
    await b.close();
    expect(b.address()).toBeNull();
    const port = await server((s) => b.acceptConnection(s, Buffer.of(0xff)));
    const s = await connectRaw(port);
    let closed = false;
    s.on('close', () => {
      closed = true;
    });
    s.resume();
    await waitFor(() => closed, 'socket closed');
    await expect(b.listen('127.0.0.1', 0)).rejects.toThrow(/closed/);
  });
});

/** A raw connection to `port` from `localAddress`, recording when it closes. */
async function rawFrom(
  port: number,
  localAddress: string,
): Promise<{ s: net.Socket; closed: () => boolean }> {
  const s = net.connect({ host: '127.0.0.1', port, localAddress });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  s.on('error', () => {});
  s.resume();
  let closed = false;
  s.on('close', () => {
    closed = true;
  });
  cleanups.push(() => s.destroy());
  return { s, closed: () => closed };
}

describe('TcpTransport inbound admission (issue 11)', () => {
  it('exchanges messages between nodes sharing the cluster key, and refuses other keys', async () => {
    const errors: TransportError[] = [];
    const b = await node('b', { clusterKey: 'k1', onError: (e) => errors.push(e) });
    const atB = collect(b);
    const good = transport('a', { clusterKey: 'k1', peers: { b: addr(b) } });
    const wrong = transport('c', { clusterKey: 'k2', peers: { b: addr(b) } });
    const none = transport('d', { peers: { b: addr(b) } });
    good.send(app('a', 'b', 1));
    wrong.send(app('c', 'b', 2));
    none.send(app('d', 'b', 3));
    await waitFor(() => atB.length === 1 && b.stats().refused >= 2, 'one delivery, two refusals');
    expect(seqs(atB)).toEqual([1]);
    expect(errors.filter((e) => e.kind === 'auth').map((e) => e.message)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/another cluster key/),
        expect.stringMatching(/without/),
      ]),
    );
  });

  it('takes a sender once it is in the configuration (a node being added)', async () => {
    const members = new Set(['a']);
    const b = await node('b', { isPeer: (id) => members.has(id) });
    const atB = collect(b);
    const c = transport('c', { peers: { b: addr(b) }, backoffMaxMs: 20 });
    c.send(app('c', 'b', 1));
    await waitFor(() => b.stats().refused >= 1, 'refused while outside the configuration');
    expect(atB).toHaveLength(0);
    members.add('c');
    // Raft retransmits; the reconnect after the refusal carries the next message.
    await waitFor(() => {
      c.send(app('c', 'b', 2));
      return atB.length > 0;
    }, 'delivered once a member');
    expect(atB[0].from).toBe('c');
  });

  it('caps connections per source address and in total, and frees the slots when they close', async () => {
    const b = await node('b', { maxInboundPerAddress: 3, maxInbound: 5 });
    const port = b.address()!.port;
    const first = [];
    for (let i = 0; i < 4; i++) first.push(await rawFrom(port, '127.0.0.21'));
    await waitFor(() => first[3].closed(), 'the fourth from one address refused');
    expect(first.slice(0, 3).some((c) => c.closed())).toBe(false);
    const other = [await rawFrom(port, '127.0.0.22'), await rawFrom(port, '127.0.0.22')];
    const over = await rawFrom(port, '127.0.0.23');
    await waitFor(() => over.closed(), 'the sixth in all refused');
    expect(other.some((c) => c.closed())).toBe(false);
    expect(b.stats()).toMatchObject({ inbound: 5, refused: 2 });
    for (const c of [...first, ...other]) c.s.destroy();
    await waitFor(() => b.stats().inbound === 0, 'slots freed');
    const again = [];
    for (let i = 0; i < 3; i++) again.push(await rawFrom(port, '127.0.0.21'));
    await waitFor(() => b.stats().inbound === 3, 'accepted again');
    expect(again.some((c) => c.closed())).toBe(false);
  });

  it('closes a member connection whose frame trickles, and keeps the others', async () => {
    const b = await node('b', { frameGraceMs: 200, minFrameBytesPerSecond: 10_000 });
    const atB = collect(b);
    const a = transport('a', { peers: { b: addr(b) } });
    const { s, closed } = await rawFrom(b.address()!.port, '127.0.0.24');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(64 * 1024 * 1024);
    s.write(Buffer.concat([Buffer.of(0xff), encodeHello('x', 'b'), header]));
    const started = Date.now();
    const pump = setInterval(() => s.write(Buffer.alloc(100)), 20);
    cleanups.push(() => clearInterval(pump));
    await waitFor(() => closed(), 'the trickling connection closed');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(b.stats().protocolErrors).toBe(1);
    a.send(app('a', 'b', 1));
    await waitFor(() => atB.length === 1, 'a well-behaved peer still delivers');
  });
});

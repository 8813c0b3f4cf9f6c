// Measurements, not assertions: prints codec and loopback rates for App messages with 10 × 100-byte entries.
// Both transports share this one thread, so the figure is the cost of encode + write + read + decode together.
import { afterEach, expect, it } from 'vitest';
import { type Message, MessageType } from '../../src/core/types.js';
import { decodeMessage, encodeMessage } from '../../src/transport/codec.js';
import { TcpTransport } from '../../src/transport/tcp-transport.js';
import { entries, msg, tick, waitFor } from './helpers.js';

const DURATION_MS = 1500;
const appMsg = (seq: number): Message =>
  msg({
    type: MessageType.App,
    from: 'a',
    to: 'b',
    term: 5,
    index: 1_000_000 + seq * 10,
    logTerm: 5,
    commit: 1_000_000 + seq * 10,
    entries: entries(10, 100, 1_000_001 + seq * 10, 5),
  });

const transports: TcpTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
});

it('codec rate (report only)', () => {
  const m = appMsg(0);
  const enc = encodeMessage(m);
  let n = 0;
  let t0 = performance.now();
  while (performance.now() - t0 < 500) {
    for (let i = 0; i < 1000; i++) encodeMessage(m);
    n += 1000;
  }
  const encRate = n / ((performance.now() - t0) / 1000);
  n = 0;
  t0 = performance.now();
  while (performance.now() - t0 < 500) {
    for (let i = 0; i < 1000; i++) decodeMessage(enc);
    n += 1000;
  }
  const decRate = n / ((performance.now() - t0) / 1000);
  console.log(
    `codec: App 10x100B = ${enc.length} bytes; encode ${Math.round(encRate).toLocaleString('en')} msg/s, ` +
      `decode ${Math.round(decRate).toLocaleString('en')} msg/s`,
  );
  expect(encRate).toBeGreaterThan(0);
});

it('loopback throughput and round trip (report only)', async () => {
  const a = new TcpTransport({ id: 'a' });
  const b = new TcpTransport({ id: 'b' });
  transports.push(a, b);
  await a.listen('127.0.0.1', 0);
  await b.listen('127.0.0.1', 0);
  a.setPeer('b', `127.0.0.1:${b.address()!.port}`);
  b.setPeer('a', `127.0.0.1:${a.address()!.port}`);

  // Streaming: keep a window of messages in flight (below the 8 MiB queue cap, so nothing is dropped).
  let received = 0;
  b.on('message', () => received++);
  const messages = Array.from({ length: 1024 }, (_, i) => appMsg(i));
  const window = 4000;
  let issued = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < DURATION_MS) {
    while (issued - received < window) a.send(messages[issued++ % messages.length]);
    await tick();
  }
  await waitFor(() => received === issued, 'stream drained');
  const secs = (performance.now() - t0) / 1000;
  const bytes = encodeMessage(messages[0]).length + 4;
  console.log(
    `stream a->b: ${Math.round(received / secs).toLocaleString('en')} msg/s ` +
      `(${((received * bytes) / secs / 1e6).toFixed(0)} MB/s of frames, ${received} messages in ${secs.toFixed(2)} s)`,
  );
  expect(a.stats().dropped).toBe(0);

  // Ping-pong: one message each way at a time, i.e. the transport's share of a commit round trip.
  b.removeAllListeners('message');
  b.on('message', (m) => b.send({ ...m, from: 'b', to: 'a', type: MessageType.AppResp, entries: [] }));
  const rtts: number[] = [];
  let pending: (() => void) | null = null;
  a.on('message', () => pending?.());
  const ping = msg({ type: MessageType.Heartbeat, from: 'a', to: 'b', term: 5 });
  for (let i = 0; i < 2000; i++) {
    const s = performance.now();
    await new Promise<void>((resolve) => {
      pending = resolve;
      a.send(ping);
    });
    rtts.push(performance.now() - s);
  }
  rtts.sort((x, y) => x - y);
  const pct = (p: number) => rtts[Math.floor(rtts.length * p)].toFixed(3);
  console.log(`round trip a->b->a: p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`);
});

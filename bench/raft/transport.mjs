// Transport micro-benchmark: codec rate, and loopback streaming of App messages with 10 × 100-byte
// entries between two TcpTransports in this one process (so the figure is encode + write + read +
// decode together). Usage: node bench/raft/transport.mjs   (prints; not a test)
import { decodeMessage, encodeMessage, MessageType, TcpTransport } from '@flynn-edge/raft';

const entries = (seq) =>
  Array.from({ length: 10 }, (_, i) => ({
    index: 1_000_001 + seq * 10 + i,
    term: 5,
    type: 0,
    data: new Uint8Array(100),
  }));
const app = (seq) => ({
  type: MessageType.App,
  from: 'a',
  to: 'b',
  term: 5,
  index: 1_000_000 + seq * 10,
  logTerm: 5,
  commit: 0,
  entries: entries(seq),
  reject: false,
  rejectHint: 0,
  context: 0,
  offset: 0,
  done: false,
});

function rate(fn, ms = 500) {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
  }
  return Math.round(n / ((performance.now() - t0) / 1000));
}

const m = app(0);
const enc = encodeMessage(m);
console.log(
  `codec: encode ${rate(() => encodeMessage(m)).toLocaleString('en')} msg/s, decode ${rate(() => decodeMessage(enc)).toLocaleString('en')} msg/s (${enc.length} bytes each)`,
);

const b = new TcpTransport({ id: 'b' });
await b.listen('127.0.0.1', 0);
const a = new TcpTransport({ id: 'a', peers: { b: `127.0.0.1:${b.address().port}` } });
let received = 0;
b.on('message', () => received++);
const t0 = performance.now();
let sent = 0;
while (performance.now() - t0 < 1500) {
  // Keep the queue below the drop threshold: send in bursts and let the loop run.
  for (let i = 0; i < 200; i++) a.send(app(sent++));
  await new Promise((r) => setImmediate(r));
  while (a.stats().queuedBytes > 4 * 1024 * 1024) await new Promise((r) => setImmediate(r));
}
const secs = (performance.now() - t0) / 1000;
console.log(
  `stream a->b: ${Math.round(received / secs).toLocaleString('en')} msg/s received (${sent} sent, ${a.stats().dropped} dropped)`,
);
await a.close();
await b.close();

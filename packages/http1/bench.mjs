// Micro-benchmark: heads/s for a typical ~300-byte browser request. Not a test.
// Run after building: npm run build && node bench.mjs
import { existsSync } from 'node:fs';

if (!existsSync(new URL('./dist/index.js', import.meta.url))) {
  console.error('build first: npx tsc -p tsconfig.json');
  process.exit(1);
}
const { parseRequestHead, rewriteRequestHead, createScanState, DEFAULT_LIMITS, ChunkedDecoder } =
  await import('./dist/index.js');

const REQ =
  'GET /assets/js/app.min.js?v=20231101 HTTP/1.1\r\n' +
  'Host: www.example.com\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n' +
  'Accept: */*\r\n' +
  'Accept-Language: en-US,en;q=0.5\r\n' +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Referer: https://www.example.com/\r\n' +
  'Connection: keep-alive\r\n' +
  'Cookie: sid=abc123def456\r\n' +
  '\r\n';
const buf = Buffer.from(REQ, 'latin1');

function measure(name, fn, ms = 1500) {
  for (let i = 0; i < 20000; i++) fn(); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    now = process.hrtime.bigint();
  }
  const secs = Number(now - start) / 1e9;
  const rate = n / secs;
  console.log(
    `${name.padEnd(38)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} /s  ${(1e6 / rate).toFixed(3)} µs`,
  );
}

console.log(`request head: ${buf.length} bytes, node ${process.version}`);
const st = createScanState();
let sink = 0;
measure('parseRequestHead', () => {
  const r = parseRequestHead(buf, 0, DEFAULT_LIMITS, st);
  sink += r.consumed;
});
measure('parseRequestHead + rewriteRequestHead', () => {
  const r = parseRequestHead(buf, 0, DEFAULT_LIMITS, st);
  const out = rewriteRequestHead(r.head, {
    append: [
      ['X-Forwarded-For', '10.0.0.1'],
      ['X-Forwarded-Proto', 'http'],
      ['X-Forwarded-Port', '80'],
    ],
    set: [
      ['X-Request-Start', '1700000000000'],
      ['X-Request-Id', '6f1c1a8e-5c4b-4d0f-9a43-0b5c2a7f1e11'],
    ],
  });
  sink += out.length;
});
const chunked = Buffer.from(`400\r\n${'x'.repeat(1024)}\r\n0\r\n\r\n`, 'latin1');
measure('ChunkedDecoder (1 KiB chunk + end)', () => {
  const d = new ChunkedDecoder();
  sink += d.feed(chunked);
});
if (sink === 42) console.log('');

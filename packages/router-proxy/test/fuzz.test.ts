import net from 'node:net';
import { createScanState, parseResponseHead, responseFraming } from '@flynn-edge/http1';
import { createRng, type Rng } from '@flynn-edge/raft/rng';
import { httpMutator } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProxyHandle, route, startBackend, startProxy } from './helpers.js';

const SEED = Number(process.env.FUZZ_SEED ?? 4242);
/** A fixed count (not a time budget), so a seed names exactly the inputs that ran. */
const CASES_PER_WORKER = Number(process.env.FUZZ_CASES ?? 100);

let p: ProxyHandle;
let b: Awaited<ReturnType<typeof startBackend>>;

beforeAll(async () => {
  p = await startProxy({ timeouts: { headerMs: 1000, idleMs: 1000 } });
  b = await startBackend((req, res, body) => {
    res.setHeader('X-Len', String(body.length));
    res.end(req.method === 'HEAD' ? undefined : `ok ${body.length}`);
  });
  p.resolver.set('app.test', route(), [{ addr: b.addr }]);
  p.resolver.set('other.test', route({ sticky: true }), [{ addr: b.addr }]);
});
afterAll(async () => {
  await p.stop();
  await b.close();
});

const SEEDS = [
  'GET / HTTP/1.1\r\nHost: app.test\r\n\r\n',
  'POST /x HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello',
  'POST /c HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'HEAD / HTTP/1.1\r\nHost: other.test\r\nCookie: _backend=abc\r\n\r\n',
  'GET /?q=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: missing.test\r\n\r\n',
];

/**
 * Sends one input (in random pieces), then reads whatever comes back until the proxy closes or a
 * quiet period passes. Every response must parse; the connection ends or stays usable.
 */
async function exchange(
  port: number,
  input: Buffer,
  rng: Rng,
): Promise<{ responses: number; closed: boolean }> {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  let buf = Buffer.alloc(0);
  let closed = false;
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
  });
  const closedP = new Promise<void>((r) =>
    s.once('close', () => {
      closed = true;
      r();
    }),
  );
  let off = 0;
  while (off < input.length) {
    const n = 1 + rng.int(input.length - off);
    s.write(input.subarray(off, off + n));
    off += n;
  }
  await Promise.race([closedP, new Promise((r) => setTimeout(r, 150))]);
  s.destroy();
  // Every byte received must be a sequence of valid responses.
  let pos = 0;
  let responses = 0;
  while (pos < buf.length) {
    const r = parseResponseHead(buf, pos, undefined, createScanState());
    if ('error' in r) throw new Error(`invalid response bytes: ${JSON.stringify(buf.toString('latin1'))}`);
    if (!r.done) throw new Error(`truncated response: ${JSON.stringify(buf.toString('latin1'))}`);
    const f = responseFraming('GET', r.head);
    pos += r.consumed;
    if (f.kind === 'close' || f.kind === 'tunnel') break;
    pos += f.feed(buf, pos, buf.length);
    if (!f.done && f.kind !== 'interim') {
      // A HEAD answer carries Content-Length without a body.
      if (r.head.headers.some(([n]) => n.toLowerCase() === 'x-len')) {
        responses++;
        continue;
      }
      throw new Error(`truncated body: ${JSON.stringify(buf.toString('latin1'))}`);
    }
    responses++;
  }
  return { responses, closed };
}

describe('fuzz', () => {
  it(`survives ${8 * CASES_PER_WORKER} random and mutated requests (seed ${SEED})`, async () => {
    let runs = 0;
    let answered = 0;
    // Eight concurrent workers, each with its own seeded stream.
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        const rng = createRng(SEED * 31 + w);
        const m = httpMutator(() => rng.next(), { tokens: ['Host: app.test\r\n'], pipelined: SEEDS });
        for (let i = 0; i < CASES_PER_WORKER; i++) {
          const input =
            rng.int(5) === 0
              ? m.randomBytes()
              : Buffer.from(m.mutate(SEEDS[rng.int(SEEDS.length)]), 'latin1');
          const r = await exchange(p.port, input, rng);
          answered += r.responses;
          runs++;
        }
      }),
    );
    const rng = createRng(SEED);
    expect(runs).toBe(8 * CASES_PER_WORKER);
    expect(answered).toBeGreaterThan(0);
    // Still healthy afterwards.
    const ok = await exchange(p.port, Buffer.from(SEEDS[0]), rng);
    expect(ok.responses).toBe(1);
    expect(p.proxy.inFlight(b.addr)).toBe(0);
  });
});

import { createRng } from '@flynn-edge/raft/rng';
import { httpMutator } from '@flynn-edge/testkit';
import { describe, expect, it } from 'vitest';
import {
  ChunkedDecoder,
  createScanState,
  DEFAULT_LIMITS,
  parseRequestHead,
  parseResponseHead,
  type RequestParseResult,
  rewriteRequestHead,
} from '../src/index.js';

/** A seeded generator (the Raft simulator's), so failures reproduce. */
function rng(seed: number): () => number {
  const r = createRng(seed);
  return () => r.next();
}

/**
 * FUZZ_SEED and FUZZ_CASES (per test) override the defaults for longer local runs. A fixed case
 * count, not a time budget, so a seed names exactly the inputs that ran, however loaded the machine.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const CASES = Number(process.env.FUZZ_CASES ?? 0);

const SEEDS = [
  'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
  'POST /x?y=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello',
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
  'GET http://a/b HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nExpect: 100-continue\r\n\r\n',
];
const STATUSES = new Set([400, 414, 431, 501, 505]);

function checkShape(r: RequestParseResult, avail: number): void {
  if ('error' in r) {
    expect(STATUSES.has(r.error.status)).toBe(true);
    expect(typeof r.error.reason).toBe('string');
  } else if (r.done) {
    expect(r.consumed).toBeGreaterThan(0);
    expect(r.consumed).toBeLessThanOrEqual(avail);
  } else {
    expect(Object.keys(r)).toEqual(['done']);
  }
}

function summary(r: RequestParseResult): string {
  if ('error' in r) return `error ${r.error.status}`;
  return r.done ? `done ${r.consumed}` : 'more';
}

describe('fuzz', () => {
  it('request parser never throws and is consistent when fed incrementally', () => {
    const r = rng(SEED);
    const m = httpMutator(r, { tokens: ['Host: b\r\n'] });
    let done = 0;
    for (let i = 0; i < (CASES || 10_000); i++) {
      const buf =
        r() < 0.2 ? m.randomBytes() : Buffer.from(m.mutate(SEEDS[Math.floor(r() * SEEDS.length)]), 'latin1');
      const offset = r() < 0.2 && buf.length > 0 ? Math.floor(r() * buf.length) : 0;
      const whole = parseRequestHead(buf, offset);
      checkShape(whole, buf.length - offset);

      // Incrementally, split at a random point, with a scan state: same outcome.
      const cut = offset + Math.floor(r() * (buf.length - offset + 1));
      const st = createScanState();
      let inc = parseRequestHead(buf.subarray(0, cut), offset, DEFAULT_LIMITS, st);
      checkShape(inc, cut - offset);
      if ('done' in inc && !inc.done) inc = parseRequestHead(buf, offset, DEFAULT_LIMITS, st);
      expect(summary(inc)).toBe(summary(whole));

      if ('done' in whole && whole.done) {
        done++;
        // What we forward parses again to the same request.
        const out = rewriteRequestHead(whole.head);
        const again = parseRequestHead(out, 0);
        expect(again).toMatchObject({
          done: true,
          consumed: out.length,
          head: {
            method: whole.head.method,
            target: whole.head.target,
            host: whole.head.host ?? expect.any(String),
            contentLength: whole.head.contentLength,
            chunked: whole.head.chunked,
          },
        });
      }
    }
    expect(done).toBeGreaterThan(10);
  });

  it('response parser never throws', () => {
    const r = rng(SEED + 1);
    const m = httpMutator(r);
    const seeds = [
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n',
      'HTTP/1.1 204 No Content\r\n\r\n',
      'HTTP/1.0 101 Switching\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n',
    ];
    for (let i = 0; i < (CASES || 10_000); i++) {
      const buf = Buffer.from(m.mutate(seeds[Math.floor(r() * seeds.length)]), 'latin1');
      const res = parseResponseHead(buf, 0);
      if ('error' in res) expect(res.error.status).toBe(502);
      else if (res.done) expect(res.consumed).toBeLessThanOrEqual(buf.length);
    }
  });

  it('chunked decoder never throws and does not depend on how input is split', () => {
    const r = rng(SEED + 2);
    const m = httpMutator(r);
    const seeds = ['5\r\nhello\r\n0\r\n\r\n', 'a;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\n', '0\r\n\r\n'];
    for (let c = 0; c < (CASES || 10_000); c++) {
      const buf = Buffer.from(m.mutate(seeds[Math.floor(r() * seeds.length)]), 'latin1');
      const a = new ChunkedDecoder();
      const n = a.feed(buf);
      expect(n).toBeLessThanOrEqual(buf.length);
      expect(a.done && a.error !== null).toBe(false);
      if (a.error !== null) expect(n).toBe(-1);

      const d = new ChunkedDecoder();
      let total = 0;
      let i = 0;
      let failed = false;
      while (i < buf.length && !d.done) {
        const step = 1 + Math.floor(r() * 5);
        const m = d.feed(buf, i, Math.min(buf.length, i + step));
        if (m < 0) {
          failed = true;
          break;
        }
        total += m;
        i += step;
      }
      expect(failed).toBe(a.error !== null);
      expect(d.done).toBe(a.done);
      if (a.done) expect(total).toBe(n);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { ChunkedDecoder } from '../src/index.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Feeds `parts` in order; returns total consumed, done, error. Stops at done or error. */
function run(
  parts: Buffer[],
  d = new ChunkedDecoder(),
): { consumed: number; done: boolean; error: string | null } {
  let consumed = 0;
  for (const p of parts) {
    const n = d.feed(p);
    if (n < 0) return { consumed, done: d.done, error: d.error };
    consumed += n;
    if (d.done) break;
  }
  return { consumed, done: d.done, error: d.error };
}

const VALID: string[] = [
  '0\r\n\r\n',
  '5\r\nhello\r\n0\r\n\r\n',
  'A\r\n0123456789\r\n0\r\n\r\n',
  'a;name=value\r\n0123456789\r\n0;last\r\n\r\n',
  '3 ; ext="quoted; \\" str"\r\nabc\r\n0\r\n\r\n',
  '3\t;x\r\nabc\r\n000\r\n\r\n',
  '1\r\n\r\r\n2\r\n\r\n\r\n0\r\n\r\n', // data bytes may be CR/LF
  '5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:\tabc def\r\n\r\n',
  '00000000000000000001\r\nx\r\n0\r\n\r\n',
];

describe('ChunkedDecoder: valid bodies', () => {
  for (const body of VALID) {
    it(`decodes ${JSON.stringify(body)} whole, and split at every offset`, () => {
      const full = b(`${body}GET / HTTP/1.1\r\n`);
      expect(run([full])).toEqual({ consumed: body.length, done: true, error: null });
      for (let cut = 0; cut <= full.length; cut++) {
        expect(run([full.subarray(0, cut), full.subarray(cut)])).toEqual({
          consumed: body.length,
          done: true,
          error: null,
        });
      }
    });
  }

  it('decodes byte by byte', () => {
    const body = b(VALID[7]);
    const d = new ChunkedDecoder();
    for (let i = 0; i < body.length; i++) {
      expect(d.done).toBe(false);
      expect(d.feed(body, i, i + 1)).toBe(1);
    }
    expect(d.done).toBe(true);
    expect(d.feed(b('x'))).toBe(0);
  });

  it('streams a large chunk without per-byte work (partial feeds)', () => {
    const d = new ChunkedDecoder();
    expect(d.feed(b('100000\r\n'))).toBe(8);
    const data = Buffer.alloc(0x100000, 1);
    expect(d.feed(data, 0, 1000)).toBe(1000);
    expect(d.feed(data, 1000)).toBe(data.length - 1000);
    expect(d.feed(b('\r\n0\r\n\r\nextra'))).toBe(7);
    expect(d.done).toBe(true);
  });
});

describe('ChunkedDecoder: rejections', () => {
  const bad: Array<[string, string]> = [
    ['empty size', '\r\n'],
    ['non-hex size', 'g\r\n'],
    ['negative', '-1\r\n'],
    ['0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
    ['bare LF after size', '5\nhello\r\n0\r\n\r\n'],
    ['bare CR after size', '5\rhello\r\n0\r\n\r\n'],
    ['space inside size', '1 0\r\n'],
    ['overflow', `${'f'.repeat(14)}\r\n`],
    ['missing CRLF after data', '5\r\nhelloX\r\n0\r\n\r\n'],
    ['LF only after data', '5\r\nhello\n0\r\n\r\n'],
    ['data longer than size', '3\r\nhello\r\n0\r\n\r\n'],
    ['CTL in extension', '5;a\x01\r\nhello\r\n0\r\n\r\n'],
    ['LF in extension', '5;a\nhello\r\n0\r\n\r\n'],
    ['bare LF final', '0\r\n\n'],
    ['bare CR final', '0\r\n\rX'],
    ['obs-fold in trailer', '0\r\nA: 1\r\n folded\r\n\r\n'],
    ['space before colon in trailer', '0\r\nA : 1\r\n\r\n'],
    ['bad trailer name', '0\r\nA(: 1\r\n\r\n'],
    ['CTL in trailer', '0\r\nA: \x00\r\n\r\n'],
    ['bare LF in trailer', '0\r\nA: 1\n\r\n'],
    ['long size line', `1;${'a'.repeat(5000)}\r\n`],
  ];
  for (const [name, body] of bad) {
    it(name, () => {
      const r = run([b(body)]);
      expect(r.done).toBe(false);
      expect(r.error).toEqual(expect.any(String));
      // A broken decoder stays broken.
      const d = new ChunkedDecoder();
      d.feed(b(body));
      expect(d.feed(b('0\r\n\r\n'))).toBe(0);
    });
  }

  it('limits trailers', () => {
    const many = `0\r\n${'A: 1\r\n'.repeat(101)}\r\n`;
    expect(run([b(many)]).error).toMatch(/trailer/);
    const big = `0\r\nA: ${'x'.repeat(70000)}\r\n\r\n`;
    expect(run([b(big)]).error).toMatch(/trailer/);
  });
});

// Found by the differential test against llhttp (test/differential.test.ts): the size line must
// follow RFC 9112 §7.1.1 exactly, since the router forwards it untouched to the backend.
describe('ChunkedDecoder: chunk-size line grammar (RFC 9112 §7.1.1)', () => {
  const accepted = [
    '5;a=b\r\nhello\r\n0\r\n\r\n',
    '5 ;a\r\nhello\r\n0\r\n\r\n', // BWS before ';'
    '5; a = "q v" ;b\r\nhello\r\n0\r\n\r\n',
    '5;a="x\\"y"\r\nhello\r\n0;last\r\n\r\n',
    '5;a=\x80\xff\r\nhello\r\n0\r\n\r\n'.replace('=\x80\xff', '="\x80\xff"'), // obs-text, quoted
  ];
  for (const body of accepted) {
    it(`accepts ${JSON.stringify(body)}`, () => {
      expect(run([b(body)])).toEqual({ consumed: body.length, done: true, error: null });
    });
  }
  const rejected: Array<[string, string]> = [
    ['whitespace after the size without an extension', '5 \r\nhello\r\n0\r\n\r\n'],
    ['HTAB after the last-chunk size', '0\t\r\n\r\n'],
    ['an empty extension', '5;\r\nhello\r\n0\r\n\r\n'],
    ['an extension name that is not a token', '5;a b\r\nhello\r\n0\r\n\r\n'],
    ['obs-text in an extension name', '5;n\xb5e\r\nhello\r\n0\r\n\r\n'],
    ['an empty extension value', '5;a=\r\nhello\r\n0\r\n\r\n'],
    ['an unterminated quoted value', '5;a="x\r\nhello\r\n0\r\n\r\n'],
    ['text after a quoted value', '5;a="x"y\r\nhello\r\n0\r\n\r\n'],
    ['whitespace before CRLF after an extension', '5;a \r\nhello\r\n0\r\n\r\n'],
    ['an extension without a name', '5;=b\r\nhello\r\n0\r\n\r\n'],
  ];
  for (const [name, body] of rejected) {
    it(`rejects ${name}`, () => {
      const r = run([b(body)]);
      expect(r.done).toBe(false);
      expect(r.error).toEqual(expect.any(String));
    });
  }
});

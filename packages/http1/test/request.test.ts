import { describe, expect, it } from 'vitest';
import {
  createScanState,
  DEFAULT_LIMITS,
  parseRequestHead,
  type RequestHead,
  type RequestParseResult,
} from '../src/index.js';

const b = (s: string) => Buffer.from(s, 'latin1');

function ok(s: string): { head: RequestHead; consumed: number } {
  const r = parseRequestHead(b(s), 0);
  if (!('done' in r) || !r.done) throw new Error(`expected done, got ${JSON.stringify(r)}`);
  return r;
}

function status(s: string | Buffer): number | 'done' | 'more' {
  const r = parseRequestHead(typeof s === 'string' ? b(s) : s, 0);
  if ('error' in r) return r.error.status;
  return r.done ? 'done' : 'more';
}

const BROWSER =
  'GET /assets/app.js?v=3 HTTP/1.1\r\n' +
  'Host: www.example.com\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n' +
  'Accept: */*\r\n' +
  'Accept-Language: en-US,en;q=0.5\r\n' +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Connection: keep-alive\r\n' +
  'Referer: https://www.example.com/\r\n' +
  '\r\n';

describe('valid requests', () => {
  it('parses a browser request', () => {
    const { head, consumed } = ok(BROWSER);
    expect(consumed).toBe(BROWSER.length);
    expect(head.method).toBe('GET');
    expect(head.target).toBe('/assets/app.js?v=3');
    expect(head.versionMinor).toBe(1);
    expect(head.host).toBe('www.example.com');
    expect(head.keepAlive).toBe(true);
    expect(head.contentLength).toBe(null);
    expect(head.chunked).toBe(false);
    expect(head.upgrade).toBe(null);
    expect(head.expectContinue).toBe(false);
    expect(head.headers[1]).toEqual([
      'User-Agent',
      'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0',
    ]);
    expect(head.headers.length).toBe(7);
  });

  it('keeps header case and trims OWS, keeps inner whitespace and obs-text', () => {
    const { head } = ok(
      'GET / HTTP/1.1\r\nhOsT:   a.b  \r\nX-Thing:\tx  y\t\r\nX-Latin: caf\xe9\r\nX-Empty:\r\n\r\n',
    );
    expect(head.headers).toEqual([
      ['hOsT', 'a.b'],
      ['X-Thing', 'x  y'],
      ['X-Latin', 'caf\xe9'],
      ['X-Empty', ''],
    ]);
    expect(head.host).toBe('a.b');
  });

  it('handles pipelined heads in one buffer', () => {
    const one = 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n';
    const two = 'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc';
    const three = 'GET /3 HTTP/1.1\r\nHost: a\r\n\r\n';
    const buf = b(one + two + three);
    const st = createScanState();
    const r1 = parseRequestHead(buf, 0, DEFAULT_LIMITS, st);
    expect(r1).toMatchObject({ done: true, consumed: one.length, head: { target: '/1' } });
    const r2 = parseRequestHead(buf, one.length, DEFAULT_LIMITS, st);
    expect(r2).toMatchObject({ done: true, head: { target: '/2', contentLength: 3, method: 'POST' } });
    const off3 = one.length + two.length;
    const r3 = parseRequestHead(buf, off3, DEFAULT_LIMITS, st);
    expect(r3).toMatchObject({ done: true, consumed: three.length, head: { target: '/3' } });
  });

  it('parses a head split at every byte offset, incrementally with a scan state', () => {
    const full = b(`${BROWSER}NEXT`);
    for (let cut = 0; cut <= full.length; cut++) {
      const st = createScanState();
      let r: RequestParseResult = parseRequestHead(full.subarray(0, cut), 0, DEFAULT_LIMITS, st);
      if (cut < BROWSER.length) {
        expect(r).toEqual({ done: false });
        r = parseRequestHead(full, 0, DEFAULT_LIMITS, st);
      }
      expect(r).toMatchObject({ done: true, consumed: BROWSER.length });
    }
  });

  it('parses a head fed one byte at a time', () => {
    const full = b(BROWSER);
    const st = createScanState();
    for (let n = 1; n < full.length; n++) {
      expect(parseRequestHead(full.subarray(0, n), 0, DEFAULT_LIMITS, st)).toEqual({ done: false });
    }
    expect(parseRequestHead(full, 0, DEFAULT_LIMITS, st)).toMatchObject({
      done: true,
      consumed: full.length,
    });
  });

  it('applies HTTP/1.0 and 1.1 keep-alive defaults and Connection tokens', () => {
    expect(ok('GET / HTTP/1.0\r\n\r\n').head.keepAlive).toBe(false);
    expect(ok('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').head.keepAlive).toBe(true);
    expect(ok('GET / HTTP/1.0\r\nConnection: foo, keep-alive\r\n\r\n').head.keepAlive).toBe(true);
    expect(ok('GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n').head.keepAlive).toBe(false);
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\n\r\n').head.keepAlive).toBe(true);
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n').head.keepAlive).toBe(false);
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n').head.keepAlive).toBe(
      false,
    );
    expect(ok('GET / HTTP/1.0\r\n\r\n').head.versionMinor).toBe(0);
    expect(ok('GET / HTTP/1.0\r\n\r\n').head.host).toBe(null);
  });

  it('accepts absolute-form, authority-form and asterisk-form targets', () => {
    expect(ok('GET http://example.com:8080/a?b HTTP/1.1\r\nHost: example.com:8080\r\n\r\n').head.target).toBe(
      'http://example.com:8080/a?b',
    );
    expect(ok('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n').head.method).toBe(
      'CONNECT',
    );
    expect(ok('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n').head.target).toBe('*');
    expect(ok('GET /[ipv6] HTTP/1.1\r\nHost: [::1]:80\r\n\r\n').head.host).toBe('[::1]:80');
  });

  it('reports upgrade, expect and framing', () => {
    const up = ok(
      'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    expect(up.head.upgrade).toBe('websocket');
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n').head.upgrade).toBe(null);
    const ex = ok('PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 10\r\n\r\n');
    expect(ex.head.expectContinue).toBe(true);
    expect(ex.head.contentLength).toBe(10);
    expect(ok('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n').head.chunked).toBe(true);
    expect(ok('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n').head.contentLength).toBe(0);
  });

  it('folds identical Content-Length repeats', () => {
    expect(ok('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n').head.contentLength).toBe(5);
    expect(
      ok('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n').head.contentLength,
    ).toBe(5);
    expect(
      ok(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${Number.MAX_SAFE_INTEGER}\r\n\r\n`).head
        .contentLength,
    ).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('skips up to two empty lines before the request line', () => {
    expect(ok('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n').consumed).toBe(31);
    expect(status('\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n')).toBe(400);
    expect(status('\r')).toBe('more');
    expect(status('\r\n')).toBe('more');
  });

  it('accepts heads exactly at the limits', () => {
    const line = `GET /${'a'.repeat(8192 - 'GET / HTTP/1.1'.length)} HTTP/1.1`;
    expect(line.length).toBe(8192);
    expect(status(`${line}\r\nHost: a\r\n\r\n`)).toBe('done');
    expect(status(`${line}x\r\nHost: a\r\n\r\n`)).toBe(414);

    // 100 fields, header block of exactly 65536 bytes.
    const fields = ['Host: a\r\n'];
    for (let i = 1; i < 100; i++) fields.push(`X-F${String(i).padStart(2, '0')}: \r\n`);
    let block = fields.join('');
    const pad = 65536 - 2 - block.length;
    fields[1] = `X-F01: ${'v'.repeat(pad)}\r\n`;
    block = `${fields.join('')}\r\n`;
    expect(block.length).toBe(65536);
    expect(status(`GET / HTTP/1.1\r\n${block}`)).toBe('done');
    fields[1] = `X-F01: ${'v'.repeat(pad + 1)}\r\n`;
    expect(status(`GET / HTTP/1.1\r\n${fields.join('')}\r\n`)).toBe(431);
    fields[1] = 'X-F01: v\r\n';
    fields.push('X-More: 1\r\n');
    expect(status(`GET / HTTP/1.1\r\n${fields.join('')}\r\n`)).toBe(431);
  });

  it('rejects over-limit heads before they are complete', () => {
    expect(status(`GET /${'a'.repeat(9000)}`)).toBe(414);
    expect(status(`GET / HTTP/1.1\r\nX: ${'a'.repeat(70000)}`)).toBe(431);
  });

  it('honours custom limits', () => {
    const limits = { maxStartLine: 20, maxHeaderBytes: 30, maxHeaders: 2 };
    expect(parseRequestHead(b('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), 0, limits)).toMatchObject({ done: true });
    expect(parseRequestHead(b('GET /aaaaaaaaaa HTTP/1.1\r\n\r\n'), 0, limits)).toMatchObject({
      error: { status: 414 },
    });
    expect(parseRequestHead(b('GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n'), 0, limits)).toMatchObject(
      {
        error: { status: 431 },
      },
    );
  });
});

describe('rejections', () => {
  const H = 'Host: a\r\n';
  const cases: Array<[string, string, number]> = [
    ['bare LF after request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 400],
    ['bare LF ending a header', `GET / HTTP/1.1\r\nHost: a\n\r\n`, 400],
    ['bare LF as the empty line', `GET / HTTP/1.1\r\n${H}\n`, 400],
    ['leading bare LF', `\nGET / HTTP/1.1\r\n${H}\r\n`, 400],
    ['bare CR in header value', `GET / HTTP/1.1\r\n${H}X: a\rb\r\n\r\n`, 400],
    ['bare CR as a line', `GET / HTTP/1.1\r\n${H}\rX: 1\r\n\r\n`, 400],
    ['bare CR in request line', `GET /\r HTTP/1.1\r\n${H}\r\n`, 400],
    ['lowercase http', `GET / http/1.1\r\n${H}\r\n`, 400],
    ['two spaces', `GET  / HTTP/1.1\r\n${H}\r\n`, 400],
    ['missing target', `GET HTTP/1.1\r\n${H}\r\n`, 400],
    ['trailing space', `GET / HTTP/1.1 \r\n${H}\r\n`, 400],
    ['HTTP/1', `GET / HTTP/1\r\n${H}\r\n`, 400],
    ['method with invalid char', `G(T / HTTP/1.1\r\n${H}\r\n`, 400],
    ['empty method', ` / HTTP/1.1\r\n${H}\r\n`, 400],
    ['target with CTL', `GET /\x01 HTTP/1.1\r\n${H}\r\n`, 400],
    ['target with DEL', `GET /\x7f HTTP/1.1\r\n${H}\r\n`, 400],
    ['target with tab', `GET /\ta HTTP/1.1\r\n${H}\r\n`, 400],
    ['HTTP/2.0', `GET / HTTP/2.0\r\n${H}\r\n`, 505],
    ['HTTP/1.2', `GET / HTTP/1.2\r\n${H}\r\n`, 505],
    ['HTTP/0.9', `GET / HTTP/0.9\r\n${H}\r\n`, 505],
    ['obs-fold SP', `GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n`, 400],
    ['obs-fold HTAB', `GET / HTTP/1.1\r\n${H}X: a\r\n\tb\r\n\r\n`, 400],
    ['space before first header', `GET / HTTP/1.1\r\n ${H}\r\n`, 400],
    ['space before colon', `GET / HTTP/1.1\r\n${H}Content-Length : 1\r\n\r\n`, 400],
    ['tab before colon', `GET / HTTP/1.1\r\n${H}X\t: 1\r\n\r\n`, 400],
    ['invalid name char', `GET / HTTP/1.1\r\n${H}X(y): 1\r\n\r\n`, 400],
    ['empty name', `GET / HTTP/1.1\r\n${H}: 1\r\n\r\n`, 400],
    ['no colon', `GET / HTTP/1.1\r\n${H}Xyz\r\n\r\n`, 400],
    ['NUL in value', `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`, 400],
    ['DEL in value', `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`, 400],
    ['CL and TE', `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n`, 400],
    ['TE and CL', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n`, 400],
    ['differing CL fields', `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\n`, 400],
    ['differing CL list', `POST / HTTP/1.1\r\n${H}Content-Length: 1, 2\r\n\r\n`, 400],
    ['CL empty element', `POST / HTTP/1.1\r\n${H}Content-Length: 1,,1\r\n\r\n`, 400],
    ['CL empty', `POST / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`, 400],
    ['CL sign', `POST / HTTP/1.1\r\n${H}Content-Length: +1\r\n\r\n`, 400],
    ['CL negative', `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 400],
    ['CL hex', `POST / HTTP/1.1\r\n${H}Content-Length: 0x10\r\n\r\n`, 400],
    ['CL inner space', `POST / HTTP/1.1\r\n${H}Content-Length: 1 0\r\n\r\n`, 400],
    ['CL overflow', `POST / HTTP/1.1\r\n${H}Content-Length: 9007199254740992\r\n\r\n`, 400],
    ['CL huge', `POST / HTTP/1.1\r\n${H}Content-Length: ${'9'.repeat(40)}\r\n\r\n`, 400],
    ['TE gzip', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, 501],
    ['TE gzip, chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`, 501],
    ['TE chunked, gzip', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`, 400],
    [
      'TE chunked twice',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`,
      400,
    ],
    ['TE chunked list twice', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n`, 400],
    ['TE empty', `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\r\n`, 400],
    ['TE with params', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked;q=1\r\n\r\n`, 400],
    ['TE garbage', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: "chunked"\r\n\r\n`, 400],
    ['TE chunkedx', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunkedx\r\n\r\n`, 501],
    ['TE in HTTP/1.0', `POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n`, 400],
    ['missing Host', 'GET / HTTP/1.1\r\nX: 1\r\n\r\n', 400],
    ['two Hosts', `GET / HTTP/1.1\r\n${H}${H}\r\n`, 400],
    ['Host with space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400],
    ['Host with comma', 'GET / HTTP/1.1\r\nHost: a,b\r\n\r\n', 400],
    ['Host with slash', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 400],
    ['invalid Connection token', `GET / HTTP/1.1\r\n${H}Connection: a b\r\n\r\n`, 400],
    ['three empty lines first', `\r\n\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`, 400],
  ];
  for (const [name, input, want] of cases) {
    it(`${name} → ${want}`, () => {
      const r = parseRequestHead(b(input), 0);
      expect(r).toMatchObject({ error: { status: want } });
      if ('error' in r) expect(typeof r.error.reason).toBe('string');
    });
  }

  it('rejects bare LF before the head is complete', () => {
    expect(status('GET / HTTP/1.1\n')).toBe(400);
    expect(status('GET / HTTP/1.1\r\nHost: a\n')).toBe(400);
  });

  it('rejects at a non-zero offset the same way', () => {
    const buf = b(`GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nX : 1\r\n\r\n`);
    const first = parseRequestHead(buf, 0);
    expect(first).toMatchObject({ done: true });
    if ('done' in first && first.done) {
      expect(parseRequestHead(buf, first.consumed)).toMatchObject({ error: { status: 400 } });
    }
  });
});

describe('string interning', () => {
  it('does not alias the caller buffer: reusing it cannot change earlier or later results', () => {
    const buf = b('GET / HTTP/1.1\r\nHost: a\r\nX-Val: keep\r\n\r\n');
    const r1 = parseRequestHead(buf, 0);
    buf.write('GET / HTTP/1.1\r\nHost: a\r\nX-Val: kEEp\r\n\r\n', 'latin1');
    const r2 = parseRequestHead(buf, 0);
    expect(r1).toMatchObject({
      head: {
        headers: [
          ['Host', 'a'],
          ['X-Val', 'keep'],
        ],
      },
    });
    expect(r2).toMatchObject({
      head: {
        headers: [
          ['Host', 'a'],
          ['X-Val', 'kEEp'],
        ],
      },
    });
    const r3 = parseRequestHead(b('GET / HTTP/1.1\r\nHost: a\r\nX-Val: keep\r\n\r\n'), 0);
    expect(r3).toMatchObject({
      head: {
        headers: [
          ['Host', 'a'],
          ['X-Val', 'keep'],
        ],
      },
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, type ProxyHandle, RawClient, route, startBackend, startProxy } from './helpers.js';

let p: ProxyHandle;
let b: Awaited<ReturnType<typeof startBackend>>;
let seen = 0;

beforeAll(async () => {
  p = await startProxy();
  b = await startBackend((_req, res) => {
    seen++;
    res.end('ok');
  });
  p.resolver.set('app.test', route(), [{ addr: b.addr }]);
});
afterAll(async () => {
  await p.stop();
  await b.close();
});

const H = 'Host: app.test\r\n';
const cases: [string, string, number][] = [
  [
    'Content-Length and Transfer-Encoding',
    `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    400,
  ],
  [
    'Transfer-Encoding and Content-Length',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n`,
    400,
  ],
  [
    'conflicting Content-Lengths',
    `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`,
    400,
  ],
  ['Content-Length list that conflicts', `POST / HTTP/1.1\r\n${H}Content-Length: 4, 5\r\n\r\nabcde`, 400],
  ['signed Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: +4\r\n\r\nabcd`, 400],
  ['obs-fold', `GET / HTTP/1.1\r\n${H}X-A: 1\r\n  folded\r\n\r\n`, 400],
  [
    'obs-fold of Transfer-Encoding',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`,
    400,
  ],
  ['whitespace before colon', `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 400],
  ['bare LF in the head', `GET / HTTP/1.1\n${H}\r\n`, 400],
  ['bare LF between fields', `GET / HTTP/1.1\r\n${H}X-A: 1\nX-B: 2\r\n\r\n`, 400],
  ['bare CR in a value', `GET / HTTP/1.1\r\n${H}X-A: 1\r2\r\n\r\n`, 400],
  ['chunked not last', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, 400],
  [
    'chunked twice',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    400,
  ],
  [
    'Transfer-Encoding in HTTP/1.0',
    `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    400,
  ],
  [
    'invalid chunk size',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
    400,
  ],
  [
    'negative chunk size',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n`,
    400,
  ],
  [
    'chunk size overflow',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n`,
    400,
  ],
  [
    'chunk data without CRLF',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n`,
    400,
  ],
  [
    'bare LF after chunk size',
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n`,
    400,
  ],
  ['two Hosts', `GET / HTTP/1.1\r\n${H}${H}\r\n`, 400],
  ['missing Host', 'GET / HTTP/1.1\r\nX: y\r\n\r\n', 400],
  ['space in target', `GET /a b HTTP/1.1\r\n${H}\r\n`, 400],
  ['request line over 8 KiB', `GET /${'a'.repeat(9000)} HTTP/1.1\r\n${H}\r\n`, 414],
  [
    'header block over 64 KiB',
    `GET / HTTP/1.1\r\n${H}${'X-Big: '.concat('b'.repeat(8000), '\r\n').repeat(9)}\r\n`,
    431,
  ],
  [
    'more than 100 fields',
    `GET / HTTP/1.1\r\n${H}${Array.from({ length: 101 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`,
    431,
  ],
  ['unknown transfer coding', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, 501],
];

describe('request smuggling defences', () => {
  it.each(cases)('%s → error and closed connection', async (_name, raw, status) => {
    const c = new RawClient(p.port);
    try {
      c.write(raw);
      const r = await c.read('POST');
      expect(r.status).toBe(status);
      expect(r.headers.connection).toEqual(['close']);
      await c.waitClosed();
      // Nothing after the error response: a smuggled request never got an answer.
      expect(c.rest().length).toBe(0);
    } finally {
      c.destroy();
    }
  });

  it('no smuggled request reached the backend', async () => {
    const before = seen;
    const c = new RawClient(p.port);
    c.write(get('app.test'));
    expect((await c.read()).status).toBe(200);
    c.destroy();
    expect(seen).toBe(before + 1);
  });
});

import { describe, expect, it } from 'vitest';
import {
  isValidRequestId,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
  rewriteRequestHead,
  rewriteResponseHead,
  serializeHead,
} from '../src/index.js';

const b = (s: string) => Buffer.from(s, 'latin1');

function req(s: string): RequestHead {
  const r = parseRequestHead(b(s), 0);
  if (!('done' in r) || !r.done) throw new Error(`bad request ${JSON.stringify(r)}`);
  return r.head;
}
function res(s: string): ResponseHead {
  const r = parseResponseHead(b(s), 0);
  if (!('done' in r) || !r.done) throw new Error(`bad response ${JSON.stringify(r)}`);
  return r.head;
}
const str = (buf: Buffer) => buf.toString('latin1');

describe('rewriteRequestHead', () => {
  it('drops hop-by-hop headers and those named by Connection, keeps order and case', () => {
    const h = req(
      'GET /p?q HTTP/1.0\r\n' +
        'Host: Example.com\r\n' +
        'Connection: keep-alive, X-Secret, x-other\r\n' +
        'X-Secret: 1\r\n' +
        'accept: */*\r\n' +
        'Keep-Alive: timeout=5\r\n' +
        'Proxy-Connection: keep-alive\r\n' +
        'TE: trailers\r\n' +
        'Trailer: X-Sum\r\n' +
        'Upgrade: h2c\r\n' +
        'X-OTHER: 2\r\n' +
        'X-Kept: 3\r\n' +
        '\r\n',
    );
    expect(str(rewriteRequestHead(h))).toBe(
      'GET /p?q HTTP/1.1\r\nHost: Example.com\r\naccept: */*\r\nX-Kept: 3\r\n\r\n',
    );
  });

  it('keeps framing as one normalised header in place', () => {
    const cl = req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\nX: y\r\n\r\n');
    expect(str(rewriteRequestHead(cl))).toBe(
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX: y\r\n\r\n',
    );
    const ch = req('POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\nHost: a\r\n\r\n');
    expect(str(rewriteRequestHead(ch))).toBe(
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: a\r\n\r\n',
    );
  });

  it('does not let Connection remove Host or framing', () => {
    const h = req(
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: Content-Length, host\r\n\r\n',
    );
    expect(str(rewriteRequestHead(h))).toBe('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n');
  });

  it('appends X-Forwarded-* folding existing lines, sets and removes headers', () => {
    const h = req(
      'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Request-Id: bad\r\nx-forwarded-for: 2.2.2.2\r\nX-Keep: k\r\nX-Drop: d\r\n\r\n',
    );
    const out = rewriteRequestHead(h, {
      append: [
        ['X-Forwarded-For', '10.0.0.1'],
        ['X-Forwarded-Proto', 'http'],
      ],
      set: [
        ['X-Request-Id', '0123456789abcdef0123'],
        ['X-Request-Start', '1700000000000'],
      ],
      remove: ['x-drop'],
    });
    expect(str(out)).toBe(
      'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.1\r\nX-Request-Id: 0123456789abcdef0123\r\n' +
        'X-Keep: k\r\nX-Request-Start: 1700000000000\r\nX-Forwarded-Proto: http\r\n\r\n',
    );
  });

  it('forwards an upgrade only when asked', () => {
    const h = req(
      'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n',
    );
    expect(str(rewriteRequestHead(h, { upgrade: true }))).toBe(
      'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n',
    );
    expect(str(rewriteRequestHead(h))).toBe('GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\n\r\n');
  });

  it('round-trips obs-text bytes and rejects header injection', () => {
    const h = req('GET /caf\xe9 HTTP/1.1\r\nHost: a\r\nX: \xff\r\n\r\n');
    expect(rewriteRequestHead(h).equals(b('GET /caf\xe9 HTTP/1.1\r\nHost: a\r\nX: \xff\r\n\r\n'))).toBe(true);
    expect(() => rewriteRequestHead(h, { set: [['X-A', 'a\r\nEvil: 1']] })).toThrow(TypeError);
    expect(() => rewriteRequestHead(h, { append: [['X A', 'a']] })).toThrow(TypeError);
    expect(() => rewriteRequestHead(h, { target: '/a b' })).toThrow(TypeError);
  });
});

describe('rewriteResponseHead', () => {
  it('strips hop-by-hop headers and keeps framing', () => {
    const h = res(
      'HTTP/1.1 200 OK\r\nConnection: close, X-Int\r\nX-Int: 1\r\nContent-Length: 3\r\nServer: s\r\n\r\n',
    );
    expect(str(rewriteResponseHead(h))).toBe('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: s\r\n\r\n');
    expect(str(rewriteResponseHead(h, { set: [['Connection', 'close']] }))).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: s\r\nConnection: close\r\n\r\n',
    );
  });

  it('keeps Upgrade for a 101 when upgrading', () => {
    const h = res(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n',
    );
    expect(str(rewriteResponseHead(h, { upgrade: true }))).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n',
    );
  });
});

describe('serializeHead', () => {
  it('serialises as given and validates', () => {
    expect(str(serializeHead('HTTP/1.1 404 Not Found', [['Content-Length', '10']]))).toBe(
      'HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\n',
    );
    expect(() => serializeHead('HTTP/1.1 200 OK\r\nX: 1', [])).toThrow(TypeError);
    expect(() => serializeHead('HTTP/1.1 200 OK', [['X', '\n']])).toThrow(TypeError);
  });
});

describe('HTTP/1.0 without Host', () => {
  it('gets a Host header when forwarded as HTTP/1.1', () => {
    expect(str(rewriteRequestHead(req('GET / HTTP/1.0\r\nX: 1\r\n\r\n')))).toBe(
      'GET / HTTP/1.1\r\nX: 1\r\nHost: \r\n\r\n',
    );
    expect(str(rewriteRequestHead(req('GET http://b.c:81/x HTTP/1.0\r\n\r\n')))).toBe(
      'GET http://b.c:81/x HTTP/1.1\r\nHost: b.c:81\r\n\r\n',
    );
  });
});

describe('isValidRequestId', () => {
  it('follows the 20–200 chars of [a-zA-Z0-9+/=-] rule', () => {
    expect(isValidRequestId('a'.repeat(20))).toBe(true);
    expect(isValidRequestId('a'.repeat(19))).toBe(false);
    expect(isValidRequestId(`${'A0+/=-'.repeat(33)}ab`)).toBe(true);
    expect(isValidRequestId('a'.repeat(201))).toBe(false);
    expect(isValidRequestId(`${'a'.repeat(20)}_`)).toBe(false);
    expect(isValidRequestId(`${'a'.repeat(20)} `)).toBe(false);
  });
});

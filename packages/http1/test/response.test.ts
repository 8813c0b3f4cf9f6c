import { describe, expect, it } from 'vitest';
import {
  BodyFraming,
  backendReusable,
  createScanState,
  DEFAULT_LIMITS,
  parseRequestHead,
  parseResponseHead,
  type ResponseHead,
  requestFraming,
  responseFraming,
} from '../src/index.js';

const b = (s: string) => Buffer.from(s, 'latin1');

function head(s: string): { head: ResponseHead; consumed: number } {
  const r = parseResponseHead(b(s), 0);
  if (!('done' in r) || !r.done) throw new Error(`expected done, got ${JSON.stringify(r)}`);
  return r;
}

describe('parseResponseHead', () => {
  it('parses status, reason, headers and framing', () => {
    const { head: h, consumed } = head('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello');
    expect(consumed).toBe(46);
    expect(h).toMatchObject({ versionMinor: 1, status: 200, reason: 'OK', contentLength: 5, chunked: false });
    expect(h.keepAlive).toBe(true);
    expect(head('HTTP/1.1 404 \r\n\r\n').head.reason).toBe('');
    expect(head('HTTP/1.1 204\r\n\r\n').head.status).toBe(204);
    expect(head('HTTP/1.0 200 OK\r\n\r\n').head.keepAlive).toBe(false);
    expect(head('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n').head.keepAlive).toBe(false);
    expect(head('HTTP/1.1 200 Very Fine\r\nTransfer-Encoding: chunked\r\n\r\n').head).toMatchObject({
      reason: 'Very Fine',
      chunked: true,
    });
    expect(
      head('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n').head
        .upgrade,
    ).toBe('websocket');
  });

  it('is incremental', () => {
    const s = b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    const st = createScanState();
    for (let n = 0; n < s.length; n++) {
      expect(parseResponseHead(s.subarray(0, n), 0, DEFAULT_LIMITS, st)).toEqual({ done: false });
    }
    expect(parseResponseHead(s, 0, DEFAULT_LIMITS, st)).toMatchObject({ done: true, consumed: s.length });
  });

  for (const [name, s] of [
    ['bare LF', 'HTTP/1.1 200 OK\nX: 1\r\n\r\n'],
    ['bad version', 'HTTP/2.0 200 OK\r\n\r\n'],
    ['short status', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['status below 100', 'HTTP/1.1 099 OK\r\n\r\n'],
    ['no space', 'HTTP/1.1 200OK\r\n\r\n'],
    ['CL and TE', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['conflicting CL', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'],
    ['gzip TE', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: 1\r\n 2\r\n\r\n'],
  ]) {
    it(`rejects ${name} with 502`, () => {
      expect(parseResponseHead(b(s), 0)).toMatchObject({ error: { status: 502 } });
    });
  }
});

describe('responseFraming', () => {
  const f = (method: string, s: string) => responseFraming(method, head(s).head);

  it('HEAD responses have no body despite Content-Length', () => {
    const fr = f('HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
    expect(fr.kind).toBe('none');
    expect(fr.done).toBe(true);
    expect(fr.feed(b('HTTP/1.1'))).toBe(0);
  });

  it('204 and 304 have no body', () => {
    expect(f('GET', 'HTTP/1.1 204 No Content\r\n\r\n').done).toBe(true);
    expect(f('GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n').kind).toBe('none');
    expect(f('GET', 'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n').done).toBe(true);
  });

  it('1xx is interim: another head follows', () => {
    const fr = f('POST', 'HTTP/1.1 100 Continue\r\n\r\n');
    expect(fr.kind).toBe('interim');
    expect(fr.done).toBe(true);
    expect(f('GET', 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n').kind).toBe('interim');
  });

  it('101 and 2xx to CONNECT become a tunnel that is never reusable', () => {
    const fr = f(
      'GET',
      'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    expect(fr.kind).toBe('tunnel');
    expect(fr.done).toBe(false);
    expect(fr.reusable).toBe(false);
    expect(fr.feed(b('abc'))).toBe(3);
    expect(f('CONNECT', 'HTTP/1.1 200 OK\r\n\r\n').kind).toBe('tunnel');
    expect(f('CONNECT', 'HTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n').kind).toBe('length');
  });

  it('Content-Length counts bytes and stops at the boundary', () => {
    const r = head('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
    const fr = responseFraming('GET', r.head);
    expect(fr.feed(b('hel'))).toBe(3);
    expect(fr.done).toBe(false);
    expect(fr.feed(b('loHTTP/1.1'))).toBe(2);
    expect(fr.done).toBe(true);
    expect(backendReusable(r.head, fr)).toBe(true);
    expect(f('GET', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').done).toBe(true);
  });

  it('chunked responses end after the last chunk and trailers', () => {
    const r = head('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
    const fr = responseFraming('GET', r.head);
    expect(fr.kind).toBe('chunked');
    const body = b('3\r\nabc\r\n0\r\nX: y\r\n\r\n');
    expect(fr.feed(body, 0, 10)).toBe(10);
    expect(fr.done).toBe(false);
    expect(fr.feed(body, 10)).toBe(body.length - 10);
    expect(fr.done).toBe(true);
    expect(backendReusable(r.head, fr)).toBe(true);
    const bad = responseFraming('GET', r.head);
    expect(bad.feed(b('zz\r\n'))).toBe(-1);
    expect(bad.error).toEqual(expect.any(String));
  });

  it('no framing means read until close; not reusable', () => {
    const r = head('HTTP/1.1 200 OK\r\n\r\n');
    const fr = responseFraming('GET', r.head);
    expect(fr.kind).toBe('close');
    expect(fr.feed(b('anything'))).toBe(8);
    expect(fr.done).toBe(false);
    expect(backendReusable(r.head, fr)).toBe(false);
  });

  it('Connection: close from the backend prevents reuse', () => {
    const r = head('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    expect(backendReusable(r.head, responseFraming('GET', r.head))).toBe(false);
  });
});

describe('requestFraming', () => {
  const req = (s: string) => {
    const r = parseRequestHead(b(s), 0);
    if (!('done' in r) || !r.done) throw new Error('bad');
    return requestFraming(r.head);
  };
  it('derives the request body framing', () => {
    expect(req('GET / HTTP/1.1\r\nHost: a\r\n\r\n').kind).toBe('none');
    expect(req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n').done).toBe(true);
    const cl = req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n');
    expect(cl.kind).toBe('length');
    expect(cl.feed(b('abcdGET'))).toBe(4);
    expect(cl.done).toBe(true);
    const ch = req('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
    expect(ch.feed(b('1\r\na\r\n0\r\n\r\nGET'))).toBe(11);
    expect(ch.done).toBe(true);
    expect(new BodyFraming('none').reusable).toBe(true);
  });
});

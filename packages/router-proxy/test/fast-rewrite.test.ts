import { type Header, parseRequestHead, rewriteRequestHead } from '@flynn-edge/http1';
import { createRng } from '@flynn-edge/raft/rng';
import { describe, expect, it } from 'vitest';
import { fastRewrite, type ProxyFields } from '../src/fast-rewrite.js';

const FIELDS: ProxyFields = {
  forwardedFor: '127.0.0.1',
  forwardedProto: 'http',
  forwardedPort: '8080',
  requestStart: '1700000000000',
  requestId: '0123456789abcdef0123',
  routerHost: 'router-1',
};

const VOCAB: Header[] = [
  ['Accept', '*/*'],
  ['User-Agent', 'x/1'],
  ['Connection', 'keep-alive'],
  ['Connection', 'close'],
  ['Connection', 'keep-alive, X-Hop'],
  ['X-Hop', '1'],
  ['Keep-Alive', 'timeout=5'],
  ['TE', 'trailers'],
  ['Trailer', 'X-T'],
  ['Upgrade', 'websocket'],
  ['Proxy-Connection', 'keep-alive'],
  ['X-Forwarded-For', '10.0.0.1'],
  ['x-forwarded-for', '10.0.0.2, 10.0.0.3'],
  ['X-Forwarded-Proto', 'https'],
  ['X-Forwarded-Port', '443'],
  ['X-Forwarded-Port', ''],
  ['X-Request-Id', 'client-id'],
  ['X-Request-Start', '1'],
  ['Flynn-Router-Host', 'evil'],
  ['Cookie', 'a=b'],
  ['Content-Length', '3'],
  ['Transfer-Encoding', 'chunked'],
];

/** The expected request as the general rewrite produces it, with the proxy's edits. */
function general(head: ReturnType<typeof parse>): Buffer {
  return rewriteRequestHead(head, {
    append: [
      ['X-Forwarded-For', FIELDS.forwardedFor],
      ['X-Forwarded-Proto', FIELDS.forwardedProto],
      ['X-Forwarded-Port', FIELDS.forwardedPort],
    ],
    set: [
      ['X-Request-Start', FIELDS.requestStart],
      ['X-Request-Id', FIELDS.requestId],
      ['Flynn-Router-Host', FIELDS.routerHost],
    ],
  });
}

function parse(b: Buffer) {
  const r = parseRequestHead(b, 0);
  if (!('done' in r) || !r.done) throw new Error(`does not parse: ${JSON.stringify(b.toString('latin1'))}`);
  return r.head;
}

/** Fields as a sorted multiset of lowercased name: value lines (order of distinct names is free). */
function normalised(b: Buffer): string[] {
  const h = parse(b);
  return [`${h.method} ${h.target}`, ...h.headers.map(([n, v]) => `${n.toLowerCase()}: ${v}`).sort()];
}

describe('fastRewrite', () => {
  it('agrees with the general rewrite whenever it applies (random heads)', () => {
    const rng = createRng(7);
    let fastCount = 0;
    for (let run = 0; run < 3000; run++) {
      const fields: Header[] = [['Host', 'app.test']];
      const n = rng.int(8);
      for (let i = 0; i < n; i++) fields.push(VOCAB[rng.int(VOCAB.length)]);
      // Shuffle so that Host is anywhere.
      for (let i = fields.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [fields[i], fields[j]] = [fields[j], fields[i]];
      }
      const method = rng.int(2) === 0 ? 'GET' : 'POST';
      const raw = Buffer.from(
        `${method} /p?q=${run} HTTP/1.1\r\n${fields.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`,
        'latin1',
      );
      const r = parseRequestHead(raw, 0);
      if (!('done' in r) || !r.done) continue;
      const fast = fastRewrite(raw, 0, r.consumed, r.head, FIELDS);
      if (fast === null) continue;
      fastCount++;
      expect(normalised(fast)).toEqual(normalised(general(r.head)));
    }
    expect(fastCount).toBeGreaterThan(300);
  });

  it('leaves unusual heads to the general rewrite', () => {
    for (const raw of [
      'GET / HTTP/1.0\r\nHost: a\r\n\r\n',
      '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Other\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    ]) {
      const b = Buffer.from(raw, 'latin1');
      const r = parseRequestHead(b, 0);
      if (!('done' in r) || !r.done) throw new Error(raw);
      expect(fastRewrite(b, 0, r.consumed, r.head, FIELDS)).toBeNull();
    }
  });
});

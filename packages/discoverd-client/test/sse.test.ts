import { describe, expect, it } from 'vitest';
import { decodeSseJson, readSse, type SseMessage, SseParser, SseServerError } from '../src/sse.js';

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
}

describe('SseParser', () => {
  it('parses data lines, ignores comments, joins multi-line data', () => {
    const p = new SseParser();
    const out = p.push(':\n\ndata: {"a":1}\n\n: keep-alive\ndata: x\ndata:y\n\n');
    expect(out).toEqual([{ data: '{"a":1}' }, { data: 'x\ny' }]);
  });

  it('handles chunk boundaries anywhere, and \\r\\n / \\r line endings', () => {
    const text = 'data: one\r\n\r\nevent: error\rdata: boom\r\rdata: three\n\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SseParser();
      const out = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut)), ...p.end()];
      expect(out).toEqual([{ data: 'one' }, { event: 'error', data: 'boom' }, { data: 'three' }]);
    }
  });

  it('keeps event and id fields, drops a message without data and an unterminated one', () => {
    const p = new SseParser();
    expect(p.push('event: ping\n\nid: 5\nevent: x\ndata: d\n\ndata: partial\n')).toEqual([
      { event: 'x', data: 'd', id: '5' },
    ]);
    expect(p.end()).toEqual([]);
  });
});

describe('decodeSseJson', () => {
  it('decodes JSON and turns event: error into "Server error: <message>"', () => {
    expect(decodeSseJson({ data: '{"service":"x","kind":"current"}' })).toEqual({
      service: 'x',
      kind: 'current',
    });
    const err = (() => {
      try {
        decodeSseJson({ event: 'error', data: 'discoverd: channel send failed due to blocked receiver' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SseServerError);
    expect((err as Error).message).toBe(
      'Server error: discoverd: channel send failed due to blocked receiver',
    );
  });
});

describe('readSse', () => {
  it('reads a body to its end, splitting multi-byte characters across chunks', async () => {
    const bytes = new TextEncoder().encode('data: {"v":"é"}\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(new Uint8Array([b]));
        c.close();
      },
    });
    const got: SseMessage[] = [];
    await readSse(body, (m) => got.push(m));
    expect(got).toEqual([{ data: '{"v":"é"}' }]);
    const got2: SseMessage[] = [];
    await readSse(streamOf([':\n', 'data: 1\n', '\n']), (m) => got2.push(m));
    expect(got2).toEqual([{ data: '1' }]);
  });
});

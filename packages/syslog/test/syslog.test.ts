import { createRng } from '@flynn-edge/raft/rng';
import { describe, expect, it } from 'vitest';
import {
  compareCursor,
  encodeMessage,
  escapeSdValue,
  FrameDecoder,
  formatFrames,
  formatTimestamp,
  frameHead,
  frameMessage,
  frameSize,
  HeaderCache,
  jobIdOf,
  type LogMessage,
  MAX_LINE,
  parseMessage,
  parseStructuredData,
  processTypeOf,
  splitLine,
  stripFrameNewlines,
} from '../src/index.js';

function msg(over: Partial<LogMessage> = {}): LogMessage {
  return {
    timestamp: '2021-02-18T12:00:00.123456Z',
    hostname: 'host1',
    appName: '5d4b3cf2-0f52-4a8b-9a4b-6e3c1f0a2b3c',
    procId: 'web.host1-0f3a',
    msgId: 'ID1',
    seq: 42,
    msg: Buffer.from('hello world'),
    ...over,
  };
}

function expectMsg(v: LogMessage | { error: string }): LogMessage {
  if ('error' in v) throw new Error(`unexpected parse error: ${v.error}`);
  return v;
}

describe('encode/parse', () => {
  it('encodes exactly the Flynn line format', () => {
    const m = msg();
    expect(encodeMessage(m).toString()).toBe(
      '<190>1 2021-02-18T12:00:00.123456Z host1 5d4b3cf2-0f52-4a8b-9a4b-6e3c1f0a2b3c web.host1-0f3a ID1 [flynn seq="42"] hello world',
    );
    const framed = frameMessage(m, true).toString();
    const body = encodeMessage(m).toString();
    expect(framed).toBe(`${body.length} ${body}\n`);
    expect(frameMessage(m, false).toString()).toBe(`${body.length} ${body}`);
  });

  it('round trips, including empty fields and empty message', () => {
    for (const m of [
      msg(),
      msg({ msg: Buffer.alloc(0) }),
      msg({ procId: '-', msgId: 'ID3', seq: 0xffffffff }),
    ]) {
      const back = expectMsg(parseMessage(encodeMessage(m)));
      expect(back).toEqual(m);
    }
    const empty = msg({ hostname: '', appName: '', procId: '' });
    const back = expectMsg(parseMessage(encodeMessage(empty)));
    expect([back.hostname, back.appName, back.procId]).toEqual(['-', '-', '-']);
    expect(
      encodeMessage(msg({ msg: Buffer.alloc(0) }))
        .toString()
        .endsWith('"]'),
    ).toBe(true);
  });

  it('carries any bytes: invalid UTF-8, NUL, spaces, brackets, 1 MB', () => {
    const weird = Buffer.from([0xff, 0xfe, 0x00, 0x20, 0x5d, 0x22, 0x5c, 0x0a, 0xc3, 0x28, 0x00]);
    expect(expectMsg(parseMessage(encodeMessage(msg({ msg: weird })))).msg.equals(weird)).toBe(true);
    const rng = createRng(7);
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = rng.int(256);
    const framed = frameMessage(msg({ msg: big }), true);
    const dec = new FrameDecoder({ maxFrame: 2_000_000, newline: 'required' });
    const out: Array<LogMessage | { error: string }> = [];
    for (let i = 0; i < framed.length; i += 4096) out.push(...dec.push(framed.subarray(i, i + 4096)));
    expect(out).toHaveLength(1);
    expect(expectMsg(out[0]!).msg.equals(big)).toBe(true);
  });

  it('escapes and unescapes ", \\ and ] in SD params', () => {
    expect(escapeSdValue('a"b\\c]d')).toBe('a\\"b\\\\c\\]d');
    const v = 'x"y\\z]w [q]';
    const sd = Buffer.from(`[other k="${escapeSdValue(v)}" k2="plain"][flynn seq="9"]`);
    const parsed = parseStructuredData(sd);
    if ('error' in parsed) throw new Error(parsed.error);
    expect(parsed.end).toBe(sd.length);
    expect(parsed.elements).toEqual([
      {
        id: 'other',
        params: [
          ['k', v],
          ['k2', 'plain'],
        ],
      },
      { id: 'flynn', params: [['seq', '9']] },
    ]);
    const line = Buffer.from(
      `<190>1 2021-02-18T12:00:00.123456Z h a p ID2 [other k="${escapeSdValue(v)}"][flynn seq="9"] body]`,
    );
    const m = expectMsg(parseMessage(line));
    expect(m.seq).toBe(9);
    expect(m.msg.toString()).toBe('body]');
    // escaped seq value still parses through the general path
    expect(expectMsg(parseMessage(Buffer.from('<190>1 - h a p ID1 [flynn x="y\\"" seq="1"] x'))).seq).toBe(1);
  });

  it('rejects malformed messages with clear errors', () => {
    const bad = [
      '',
      'hello',
      '<999>1 2021-02-18T12:00:00Z h a p ID1 [flynn seq="1"] x',
      '<190>2 2021-02-18T12:00:00Z h a p ID1 [flynn seq="1"] x',
      '<190>1 yesterday h a p ID1 [flynn seq="1"] x',
      '<190>1 2021-02-18T12:00:00Z h a p ID1 - x',
      '<190>1 2021-02-18T12:00:00Z h a p ID1 [flynn seq="4294967296"] x',
      '<190>1 2021-02-18T12:00:00Z h a p ID1 [flynn seq="12"',
      '<190>1 2021-02-18T12:00:00Z h a p ID1 [flynn seq="1"]x',
      '<190>1 2021-02-18T12:00:00Z h a',
    ];
    for (const b of bad) {
      const r = parseMessage(Buffer.from(b));
      expect('error' in r, b).toBe(true);
    }
    expect(() => encodeMessage(msg({ hostname: 'has space' }))).toThrow(/hostname/);
    expect(() => encodeMessage(msg({ seq: -1 }))).toThrow(/uint32/);
  });
});

describe('helpers', () => {
  it('formats microsecond UTC timestamps', () => {
    expect(formatTimestamp(0)).toBe('1970-01-01T00:00:00.000000Z');
    expect(formatTimestamp(1613649600123456n)).toBe('2021-02-18T12:00:00.123456Z');
    expect(formatTimestamp(1613649600123456)).toBe('2021-02-18T12:00:00.123456Z');
    expect(formatTimestamp(-1n)).toBe('1969-12-31T23:59:59.999999Z');
  });

  it('orders cursors by time then seq, across timestamp forms', () => {
    const a = { time: '2021-02-18T12:00:00.123456Z', seq: 5 };
    expect(compareCursor(a, { ...a, seq: 6 })).toBeLessThan(0);
    expect(compareCursor(a, { time: '2021-02-18T12:00:00.123457Z', seq: 0 })).toBeLessThan(0);
    expect(compareCursor(a, a)).toBe(0);
    expect(compareCursor({ time: '2021-02-18T12:00:00.1234Z', seq: 1 }, a)).toBeLessThan(0);
    expect(compareCursor({ time: '2021-02-18T13:00:00.123456+01:00', seq: 5 }, a)).toBe(0);
    expect(compareCursor({ time: '2021-02-18T12:00:01Z', seq: 0 }, a)).toBeGreaterThan(0);
  });

  it('splits PROCID and long lines', () => {
    expect(jobIdOf('web.host1-abc')).toBe('host1-abc');
    expect(processTypeOf('web.host1-abc')).toBe('web');
    expect(jobIdOf('host1-abc')).toBe('host1-abc');
    expect(processTypeOf('host1-abc')).toBeUndefined();
    expect(jobIdOf('-')).toBe('');
    const line = Buffer.alloc(MAX_LINE * 2 + 5, 0x61);
    const parts = splitLine(line);
    expect(parts.map((p) => p.length)).toEqual([MAX_LINE, MAX_LINE, 5]);
    expect(splitLine(Buffer.alloc(MAX_LINE))).toHaveLength(1);
    expect(splitLine(Buffer.alloc(0))).toHaveLength(1);
  });
});

describe('FrameDecoder', () => {
  function corpus(n: number, seed: number): LogMessage[] {
    const rng = createRng(seed);
    const out: LogMessage[] = [];
    for (let i = 0; i < n; i++) {
      const len = rng.int(10) === 0 ? rng.int(MAX_LINE + 1) : rng.int(80);
      const body = Buffer.alloc(len);
      for (let j = 0; j < len; j++) body[j] = rng.int(256);
      out.push(
        msg({
          seq: i,
          msgId: ['ID1', 'ID2', 'ID3'][rng.int(3)]!,
          procId: rng.int(2) ? `web.h-${i}` : `h-${i}`,
          msg: body,
          timestamp: formatTimestamp(1613649600000000n + BigInt(i)),
        }),
      );
    }
    return out;
  }

  for (const newline of [false, true]) {
    it(`decodes across seeded random chunk splits (newline=${newline})`, () => {
      const msgs = corpus(300, 11);
      const stream = Buffer.concat(msgs.map((m) => frameMessage(m, newline)));
      for (let seed = 1; seed <= 20; seed++) {
        const rng = createRng(seed);
        const dec = new FrameDecoder({ newline: newline ? 'required' : 'none' });
        const out: Array<LogMessage | { error: string }> = [];
        let i = 0;
        while (i < stream.length) {
          const n = rng.int(4) === 0 ? 1 + rng.int(3) : 1 + rng.int(3000);
          out.push(...dec.push(Buffer.from(stream.subarray(i, i + n))));
          i += n;
        }
        expect(out.length).toBe(msgs.length);
        out.forEach((o, k) => {
          const got = expectMsg(o);
          expect(got.seq).toBe(msgs[k]!.seq);
          expect(encodeMessage(got).equals(encodeMessage(msgs[k]!))).toBe(true);
        });
        expect(dec.bufferedBytes).toBe(0);
        expect(dec.consumed).toBe(stream.length);
      }
    });
  }

  it("newline 'optional' accepts both forms", () => {
    const msgs = corpus(10, 3);
    const stream = Buffer.concat(msgs.map((m, i) => frameMessage(m, i % 2 === 0)));
    const out = new FrameDecoder({ newline: 'optional' }).push(stream);
    expect(out.map((o) => expectMsg(o).seq)).toEqual(msgs.map((m) => m.seq));
  });

  it('reports fatal framing errors and stops', () => {
    const good = frameMessage(msg(), false);
    const cases: Array<[string, RegExp]> = [
      ['abc ', /bad MSG-LEN/],
      [' 12 ', /got space/],
      ['123456 ', /longer than 5/],
      ['99999 ', /maximum MSG-LEN is 11000/],
      ['012 ', /leading zeros/],
      ['-5 ', /bad MSG-LEN/],
    ];
    for (const [prefix, re] of cases) {
      const dec = new FrameDecoder();
      const out = dec.push(Buffer.concat([good, Buffer.from(prefix), good]));
      expect(out).toHaveLength(2);
      expectMsg(out[0]!);
      expect(out[1]).toMatchObject({ fatal: true });
      expect((out[1] as { error: string }).error).toMatch(re);
      expect(dec.isFailed).toBe(true);
      expect(dec.push(good)).toEqual([]);
    }
    // newline required but missing
    const dec = new FrameDecoder({ newline: 'required' });
    const out = dec.push(Buffer.concat([good, good]));
    expect(out[0]).toMatchObject({ fatal: true, error: expect.stringMatching(/newline/) });
  });

  it('a malformed message inside a good frame is an error entry, then decoding continues', () => {
    const junk = Buffer.from('not syslog at all');
    const stream = Buffer.concat([
      frameMessage(msg({ seq: 1 }), false),
      Buffer.from(`${junk.length} `),
      junk,
      frameMessage(msg({ seq: 2 }), false),
    ]);
    const out = new FrameDecoder().push(stream);
    expect(out).toHaveLength(3);
    expect(expectMsg(out[0]!).seq).toBe(1);
    expect(out[1]).toHaveProperty('error');
    expect(out[1]).not.toHaveProperty('fatal');
    expect(expectMsg(out[2]!).seq).toBe(2);
  });

  it('keeps an incomplete tail buffered', () => {
    const f = frameMessage(msg(), true);
    const dec = new FrameDecoder({ newline: 'required' });
    expect(dec.push(f.subarray(0, f.length - 1))).toEqual([]);
    expect(dec.bufferedBytes).toBe(f.length - 1);
    expect(dec.push(f.subarray(f.length - 1))).toHaveLength(1);
  });
});

describe('batches of frames', () => {
  it('formatFrames makes byte for byte the frames frameMessage makes, one buffer for many lines', () => {
    const rng = createRng(7);
    const data = Buffer.from(Array.from({ length: 4000 }, () => rng.int(256)));
    const starts: number[] = [];
    const ends: number[] = [];
    for (let p = 0; p < data.length; ) {
      const len = rng.int(3) === 0 ? 0 : rng.int(120);
      starts.push(p);
      ends.push(Math.min(data.length, p + len));
      p += len + 1;
    }
    // seqs cross a digit boundary and the uint32 wrap
    for (const seq0 of [0, 95, 0xffffffff - 3]) {
      const head = frameHead('2021-02-18T12:00:00.123456Z', 'host1', 'app', 'web.host1-0f3a', 'ID1');
      for (const newline of [true, false]) {
        const got = formatFrames(head, seq0, data, starts, ends, newline);
        const want = Buffer.concat(
          starts.map((s, i) =>
            frameMessage(
              msg({ appName: 'app', seq: (seq0 + i) >>> 0, msg: data.subarray(s, ends[i]) }),
              newline,
            ),
          ),
        );
        expect(got.equals(want)).toBe(true);
        let size = 0;
        for (let i = 0; i < starts.length; i++)
          size += frameSize(head.length, (seq0 + i) >>> 0, ends[i]! - starts[i]!, newline);
        expect(size).toBe(got.length);
        if (newline) {
          const wire = stripFrameNewlines(got, starts.length);
          expect(wire.equals(formatFrames(head, seq0, data, starts, ends, false))).toBe(true);
        }
      }
    }
  });

  it('frameHead checks the header fields like encodeMessage', () => {
    expect(() => frameHead('2021-02-18T12:00:00.123456Z', 'host 1', 'a', 'p', 'ID1')).toThrow(/hostname/);
    expect(frameHead('', '', '', '', '').toString()).toBe('<190>1 - - - - - [flynn seq="');
  });

  it('parsing with a HeaderCache gives the same results, and still rejects a bad timestamp', () => {
    const cache = new HeaderCache();
    const inputs = [
      encodeMessage(msg({ seq: 1 })),
      encodeMessage(msg({ seq: 2, msg: Buffer.alloc(0) })),
      encodeMessage(msg({ seq: 3, procId: 'web.other' })),
      encodeMessage(msg({ seq: 4 })),
      Buffer.from('<190>1 yesterday host1 app p ID1 [flynn seq="5"] x'),
      Buffer.from('<190>1 2021-02-18T12:00:00.123456Z host1 5d4b3cf2 web'),
      encodeMessage(msg({ seq: 6 })),
    ];
    for (const b of inputs) expect(parseMessage(b, cache)).toEqual(parseMessage(b));
    expect(parseMessage(inputs[4]!, cache)).toEqual({ error: 'bad timestamp "yesterday"' });
  });
});

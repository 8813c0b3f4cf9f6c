import { describe, expect, it } from 'vitest';
import { EntryType, type Message, MessageType } from '../../src/core/types.js';
import { decodeMessage, encodeMessage } from '../../src/transport/codec.js';
import { bytes, entries, msg } from './helpers.js';

const ALL_TYPES = Object.values(MessageType).filter((v): v is MessageType => typeof v === 'number');

/** Replaces byte arrays by their hex so large payloads compare quickly (deep-equal walks them per element). */
function hexed(m: Message): unknown {
  const hex = (d: Uint8Array) => Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('hex');
  const out: Record<string, unknown> = { ...m, entries: m.entries.map((e) => ({ ...e, data: hex(e.data) })) };
  if (m.data !== undefined) out.data = hex(m.data);
  return out;
}

function roundTrip(m: Message): Message {
  const decoded = decodeMessage(encodeMessage(m));
  expect(hexed(decoded)).toStrictEqual(hexed(m));
  for (const e of decoded.entries) expect(e.data).toBeInstanceOf(Uint8Array);
  if (m.data !== undefined) expect(decoded.data).toBeInstanceOf(Uint8Array);
  return decoded;
}

/** A message of `type` with every field set to something non-default. */
function full(type: MessageType): Message {
  const m = msg({
    type,
    from: 'node-a',
    to: 'node-b',
    term: 7,
    index: 1234,
    logTerm: 6,
    commit: 1200,
    entries: type === MessageType.App ? entries(3, 20, 1235, 7) : [],
    reject: type === MessageType.AppResp || type === MessageType.VoteResp,
    rejectHint: 999,
    context: 42,
    offset: 4096,
    done: type === MessageType.Snap,
  });
  if (type === MessageType.Snap) {
    m.snapshot = {
      index: 1000,
      term: 5,
      config: { voters: ['node-a', 'node-b', 'node-c'], learners: ['node-d'] },
    };
    m.data = bytes(300);
  }
  return m;
}

describe('codec round trip', () => {
  it.each(ALL_TYPES.map((t) => [MessageType[t], t] as const))('%s with every field set', (_name, type) => {
    roundTrip(full(type));
  });

  it.each(ALL_TYPES.map((t) => [MessageType[t], t] as const))('%s with defaults', (_name, type) => {
    roundTrip(msg({ type, from: 'a', to: 'b' }));
  });

  it('keeps absent optional fields absent', () => {
    const d = roundTrip(msg({ type: MessageType.App, from: 'a', to: 'b' }));
    expect('snapshot' in d).toBe(false);
    expect('data' in d).toBe(false);
  });

  it('distinguishes empty data from absent data, and snapshot without data', () => {
    const d = roundTrip(msg({ type: MessageType.Snap, from: 'a', to: 'b', data: new Uint8Array(0) }));
    expect(d.data).toBeInstanceOf(Uint8Array);
    expect(d.data!.length).toBe(0);
    const s = roundTrip(
      msg({
        type: MessageType.Snap,
        from: 'a',
        to: 'b',
        snapshot: { index: 1, term: 1, config: { voters: [], learners: [] } },
      }),
    );
    expect('data' in s).toBe(false);
  });

  it('round-trips boundary numbers, including negatives', () => {
    const values = [
      0,
      1,
      63,
      64,
      127,
      128,
      8191,
      8192,
      2 ** 31 - 1,
      2 ** 31,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 35 + 17,
      2 ** 52,
      Number.MAX_SAFE_INTEGER,
      -1,
      -64,
      -65,
      -(2 ** 31),
      -Number.MAX_SAFE_INTEGER,
    ];
    for (const v of values) {
      roundTrip(
        msg({
          type: MessageType.AppResp,
          from: 'a',
          to: 'b',
          term: v,
          index: v,
          logTerm: v,
          commit: v,
          rejectHint: v,
          context: v,
          offset: v,
          entries: [{ term: v, index: v, type: EntryType.Normal, data: new Uint8Array([1]) }],
        }),
      );
    }
  });

  it('round-trips many 100-byte entries, empty entries and conf changes', () => {
    const es = entries(1000, 100, 5000, 3);
    es[10] = { term: 3, index: 5010, type: EntryType.Normal, data: new Uint8Array(0) };
    es[20] = { term: 3, index: 5020, type: EntryType.ConfChange, data: bytes(17, 9) };
    const m = msg({
      type: MessageType.App,
      from: 'a',
      to: 'b',
      term: 3,
      index: 4999,
      logTerm: 3,
      entries: es,
    });
    const buf = encodeMessage(m);
    // ~100 data bytes plus a few bytes of header per entry: no per-entry bloat.
    expect(buf.length).toBeLessThan(1000 * 110);
    roundTrip(m);
  });

  it('round-trips a big entry and a big snapshot chunk', () => {
    roundTrip(msg({ type: MessageType.App, from: 'a', to: 'b', entries: entries(1, 5 * 1024 * 1024) }));
    roundTrip(
      msg({
        type: MessageType.Snap,
        from: 'a',
        to: 'b',
        term: 9,
        offset: 3 * 1024 * 1024,
        snapshot: { index: 123_456, term: 8, config: { voters: ['a', 'b', 'c'], learners: [] } },
        data: bytes(2 * 1024 * 1024, 5),
        done: true,
      }),
    );
  });

  it('round-trips non-ASCII node ids', () => {
    roundTrip(msg({ type: MessageType.Vote, from: 'nœud-α', to: '节点-🚀', term: 1 }));
  });

  it('detaches decoded data from the input buffer', () => {
    const m = msg({ type: MessageType.App, from: 'a', to: 'b', entries: entries(2, 10) });
    const buf = encodeMessage(m);
    const d = decodeMessage(buf);
    buf.fill(0);
    expect(d).toStrictEqual(m);
  });

  it('accepts a plain Uint8Array view at an offset', () => {
    const m = full(MessageType.App);
    const enc = encodeMessage(m);
    const backing = new Uint8Array(enc.length + 10);
    backing.set(enc, 7);
    expect(decodeMessage(backing.subarray(7, 7 + enc.length))).toStrictEqual(m);
  });

  it('refuses to encode what it cannot represent', () => {
    const base = msg({ type: MessageType.App, from: 'a', to: 'b' });
    expect(() => encodeMessage({ ...base, term: 1.5 })).toThrow(Error);
    expect(() => encodeMessage({ ...base, index: Number.NaN })).toThrow(Error);
    expect(() => encodeMessage({ ...base, commit: 2 ** 53 })).toThrow(Error);
    expect(() => encodeMessage({ ...base, type: 99 as MessageType })).toThrow(Error);
    expect(() =>
      encodeMessage({
        ...base,
        entries: [{ term: 1, index: 1, type: 7 as EntryType, data: new Uint8Array() }],
      }),
    ).toThrow(Error);
    expect(() =>
      encodeMessage({
        ...base,
        entries: [{ term: 1, index: 1, type: 0, data: 'x' as unknown as Uint8Array }],
      }),
    ).toThrow(Error);
  });
});

describe('codec rejects malformed input', () => {
  const valid = encodeMessage(full(MessageType.Snap));
  const validApp = encodeMessage(full(MessageType.App));

  it('rejects every truncation of a valid message', () => {
    for (const v of [valid, validApp]) {
      for (let n = 0; n < v.length; n++) {
        expect(() => decodeMessage(v.subarray(0, n)), `length ${n}`).toThrow(Error);
      }
    }
  });

  it('rejects trailing bytes', () => {
    expect(() => decodeMessage(Buffer.concat([validApp, Buffer.of(0)]))).toThrow(/trailing/);
  });

  it('rejects bad version, type and flags', () => {
    const bad = (i: number, v: number) => {
      const b = Buffer.from(validApp);
      b[i] = v;
      return b;
    };
    expect(() => decodeMessage(bad(0, 2))).toThrow(/version/);
    expect(() => decodeMessage(bad(1, 0))).toThrow(/type/);
    expect(() => decodeMessage(bad(1, 200))).toThrow(/type/);
    expect(() => decodeMessage(bad(2, 0x80))).toThrow(/flags/);
  });

  /** Header of an otherwise default App message, up to (excluding) the entry count. */
  function header(): number[] {
    // version, type, flags, from "a", to "b", seven zero svarints
    return [1, MessageType.App, 0, 1, 0x61, 1, 0x62, 0, 0, 0, 0, 0, 0, 0];
  }

  it('rejects absurd lengths without allocating them', () => {
    const bogusCount = Buffer.from([...header(), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(() => decodeMessage(bogusCount)).toThrow(/entry count/);
    const bogusData = Buffer.from([...header(), 1, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(() => decodeMessage(bogusData)).toThrow(/beyond end/);
    const bogusString = Buffer.from([1, MessageType.App, 0, 0xff, 0xff, 0xff, 0x7f, 0x61]);
    expect(() => decodeMessage(bogusString)).toThrow(/beyond end/);
    const bogusSnapData = Buffer.from([
      1,
      MessageType.Snap,
      8,
      1,
      0x61,
      1,
      0x62,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0xff,
      0x7f,
    ]);
    expect(() => decodeMessage(bogusSnapData)).toThrow(/beyond end/);
  });

  it('rejects bad varints', () => {
    const tooLong = Buffer.from([...header(), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expect(() => decodeMessage(tooLong)).toThrow(/too long/);
    const nonCanonical = Buffer.from([...header(), 0x80, 0x00]);
    expect(() => decodeMessage(nonCanonical)).toThrow(/non-canonical/);
    const negZero = Buffer.from([1, MessageType.App, 0, 1, 0x61, 1, 0x62, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    expect(() => decodeMessage(negZero)).toThrow(/negative zero/);
    // 2^53 as a uvarint entry count: 7 continuation bytes of zero payload then 0x10
    const tooBig = Buffer.from([...header(), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(() => decodeMessage(tooBig)).toThrow(/2\^53/);
  });

  it('rejects unknown entry types', () => {
    const b = Buffer.from([...header(), 1, 1, 1, 9, 0]);
    expect(() => decodeMessage(b)).toThrow(/entry type/);
  });

  it('rejects bad snapshot meta', () => {
    const withMeta = (json: string) => {
      const j = Buffer.from(json);
      return Buffer.from([1, MessageType.Snap, 4, 1, 0x61, 1, 0x62, 0, 0, 0, 0, 0, 0, 0, 0, j.length, ...j]);
    };
    expect(
      decodeMessage(withMeta('{"index":1,"term":1,"config":{"voters":["a"],"learners":[]}}')).snapshot,
    ).toEqual({
      index: 1,
      term: 1,
      config: { voters: ['a'], learners: [] },
    });
    expect(() => decodeMessage(withMeta('{"index":1'))).toThrow(/JSON/);
    expect(() => decodeMessage(withMeta('null'))).toThrow(/shape/);
    expect(() => decodeMessage(withMeta('{"index":1,"term":1}'))).toThrow(/shape/);
    expect(() =>
      decodeMessage(withMeta('{"index":1.5,"term":1,"config":{"voters":[],"learners":[]}}')),
    ).toThrow(/shape/);
    expect(() =>
      decodeMessage(withMeta('{"index":1,"term":1,"config":{"voters":[1],"learners":[]}}')),
    ).toThrow(/shape/);
  });

  it('rejects non-buffers', () => {
    expect(() => decodeMessage('hello' as unknown as Buffer)).toThrow(Error);
  });

  it('survives random and mutated input with either a message or an Error', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const samples = [valid, validApp, encodeMessage(full(MessageType.Heartbeat))];
    for (let i = 0; i < 20_000; i++) {
      let input: Buffer;
      if (i % 4 === 0) {
        input = Buffer.from(bytes(rnd(64), i));
      } else {
        input = Buffer.from(samples[rnd(samples.length)]);
        const flips = 1 + rnd(4);
        for (let f = 0; f < flips; f++) input[rnd(input.length)] = rnd(256);
      }
      let m: Message | undefined;
      try {
        m = decodeMessage(input);
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
      }
      // Whatever decodes is a well-formed message: it encodes again and survives another round trip.
      if (m !== undefined) roundTrip(m);
    }
  });
});

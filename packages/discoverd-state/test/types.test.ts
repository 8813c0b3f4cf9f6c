import { describe, expect, it } from 'vitest';
import {
  compareKeys,
  EVENT_KIND_BITS,
  goQuote,
  instanceEqual,
  instanceId,
  normalizeInstance,
} from '../src/index.js';

describe('instanceId', () => {
  it('is lowercase hex md5(proto + "-" + addr)', () => {
    expect(instanceId('tcp', '127.0.0.1:1111')).toBe('c239fcb116f231d96786a8a6c1f11abb');
    expect(instanceId('http', '10.0.0.1:80')).toBe('d9e73816e6d15c5664df9d9d087b858b');
    expect(instanceId('tcp', '[::1]:53')).toBe('f338e68d9daaf1023842cff722bc8e97');
  });
});

describe('instanceEqual', () => {
  const a = { id: 'x', addr: '1.2.3.4:5', proto: 'tcp', meta: { A: '1', B: '2' }, index: 3 };
  it('ignores id and index', () => {
    expect(instanceEqual(a, { ...a, id: 'y', index: 9 })).toBe(true);
  });
  it('compares addr, proto and the meta map', () => {
    expect(instanceEqual(a, { ...a, addr: '1.2.3.4:6' })).toBe(false);
    expect(instanceEqual(a, { ...a, proto: 'udp' })).toBe(false);
    expect(instanceEqual(a, { ...a, meta: { B: '2', A: '1' } })).toBe(true);
    expect(instanceEqual(a, { ...a, meta: { A: '1', B: '3' } })).toBe(false);
    expect(instanceEqual(a, { ...a, meta: { A: '1', C: '2' } })).toBe(false);
    expect(instanceEqual(a, { ...a, meta: { A: '1' } })).toBe(false);
  });
  it('treats an absent meta like an empty one', () => {
    const b = { id: 'x', addr: '1.2.3.4:5', proto: 'tcp' };
    expect(instanceEqual(b, { ...b, meta: {} })).toBe(true);
    expect(instanceEqual({ ...b, meta: {} }, b)).toBe(true);
    expect(instanceEqual(b, { ...b, meta: { A: '' } })).toBe(false);
  });
});

describe('normalizeInstance', () => {
  it('writes Go field order, sorted meta, omits empty meta and zero index', () => {
    const n = normalizeInstance({
      proto: 'tcp',
      meta: { b: '2', a: '1' },
      addr: 'h:1',
      id: 'i',
      index: 0,
    } as never);
    expect(JSON.stringify(n)).toBe('{"id":"i","addr":"h:1","proto":"tcp","meta":{"a":"1","b":"2"}}');
    expect(JSON.stringify(normalizeInstance({ id: 'i', addr: 'h:1', proto: 'tcp', meta: {} }, 7))).toBe(
      '{"id":"i","addr":"h:1","proto":"tcp","index":7}',
    );
  });
  it('keeps a "__proto__" meta key as data', () => {
    const meta = JSON.parse('{"__proto__":"x"}') as Record<string, string>;
    const n = normalizeInstance({ id: 'i', addr: 'h:1', proto: 'tcp', meta });
    expect(Object.hasOwn(n.meta!, '__proto__')).toBe(true);
    expect(JSON.stringify(n.meta)).toBe('{"__proto__":"x"}');
  });
});

describe('constants', () => {
  it('maps hh codes to statuses and kinds to Go bits', () => {
    expect(EVENT_KIND_BITS).toEqual({ up: 1, update: 2, down: 4, leader: 8, current: 16, service_meta: 32 });
  });
});

describe('goQuote', () => {
  it('quotes like Go %q', () => {
    expect(goQuote('web')).toBe('"web"');
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote('\n\t\x00\x7f')).toBe('"\\n\\t\\x00\\x7f"');
    expect(goQuote('é')).toBe('"é"');
  });
});

describe('compareKeys', () => {
  it('orders by code point (UTF-8 byte order)', () => {
    expect(compareKeys('a', 'b')).toBeLessThan(0);
    expect(compareKeys('a', 'ab')).toBeLessThan(0);
    expect(compareKeys('b', 'ab')).toBeGreaterThan(0);
    expect(compareKeys('x', 'x')).toBe(0);
    // U+1F600 (surrogate pair) sorts after U+FFFD in code-point order, unlike UTF-16 order.
    expect(compareKeys('\u{1F600}', '\uFFFD')).toBeGreaterThan(0);
    expect(compareKeys('\uFFFD', '\u{1F600}')).toBeLessThan(0);
    expect(['\u{1F600}', '\uFFFD', 'z'].sort(compareKeys)).toEqual(['z', '\uFFFD', '\u{1F600}']);
  });
});

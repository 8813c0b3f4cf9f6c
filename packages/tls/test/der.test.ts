import { describe, expect, it } from 'vitest';
import * as der from '../src/der.js';

const hex = (b: Buffer) => b.toString('hex');

describe('DER encoder', () => {
  it('encodes lengths in short and long form', () => {
    expect(hex(der.octetString(Buffer.alloc(3)))).toBe('0403000000');
    expect(hex(der.octetString(Buffer.alloc(200)).subarray(0, 3))).toBe('0481c8');
    expect(hex(der.octetString(Buffer.alloc(300)).subarray(0, 4))).toBe('0482012c');
  });
  it('encodes INTEGERs minimally and positive', () => {
    expect(hex(der.integer(0))).toBe('020100');
    expect(hex(der.integer(127))).toBe('02017f');
    expect(hex(der.integer(128))).toBe('02020080');
    expect(hex(der.integer(256))).toBe('02020100');
    expect(hex(der.integer(Buffer.from([0, 0, 0x12])))).toBe('020112');
    expect(hex(der.integer(Buffer.from([0xff])))).toBe('020200ff');
  });
  it('encodes OIDs', () => {
    expect(hex(der.oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302');
    expect(hex(der.oid('2.5.29.17'))).toBe('0603551d11');
  });
  it('encodes times, switching to GeneralizedTime in 2050', () => {
    expect(der.x509Time(new Date(Date.UTC(2026, 0, 2, 3, 4, 5))).toString('latin1')).toBe(
      '\x17\x0d260102030405Z',
    );
    expect(der.x509Time(new Date(Date.UTC(2050, 0, 1))).toString('latin1')).toBe('\x18\x0f20500101000000Z');
  });
  it('encodes constructed values and tags', () => {
    expect(hex(der.sequence(der.nullValue(), der.boolean(true)))).toBe('3005050001 01ff'.replace(' ', ''));
    expect(hex(der.explicit(0, der.integer(2)))).toBe('a003020102');
    expect(hex(der.bitString(Buffer.from([1])))).toBe('03020001');
  });
});

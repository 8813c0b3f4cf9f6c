import { describe, expect, it } from 'vitest';
import { clientAddress, isTrustedAddress, lastForwardedFor, parseIp } from '../src/address.js';

describe('trusted address ranges', () => {
  const trusted = [
    '10.0.0.0',
    '10.255.255.255',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '127.0.0.1',
    '127.0.0.79',
    '192.0.2.10',
    '198.51.100.200',
    '203.0.113.1',
    '100.64.0.1',
    '100.127.255.255',
    '::1',
    'fd00::1',
    'fdff:ffff::1',
    '::ffff:10.1.2.3', // IPv4-mapped, dotted
    '::FFFF:127.0.0.1',
    '::ffff:7f00:1', // IPv4-mapped, hex form of 127.0.0.1
    '::ffff:c0a8:101', // 192.168.1.1
  ];
  const untrusted = [
    '8.8.8.8',
    '172.15.255.255',
    '172.32.0.0',
    '192.169.0.1',
    '100.63.255.255',
    '100.128.0.0',
    '198.18.0.1', // benchmark range: public for our purposes
    '198.51.101.1',
    '203.0.114.1',
    '11.0.0.1',
    '::2',
    'fc00::1', // ULA, but Flynn's list has only fd00::/8
    'fe80::1',
    '2001:db8::1',
    '::ffff:8.8.8.8',
    '::ffff:808:808',
    'fe80::1%eth0',
    '127.0.0.1:80',
    '[::1]',
    'localhost',
    '',
    ' ',
    'unknown',
    '10.0.0',
    '10.0.0.256',
  ];
  it.each(trusted)('%s needs no key', (a) => expect(isTrustedAddress(a)).toBe(true));
  it.each(untrusted)('%s is not trusted', (a) => expect(isTrustedAddress(a)).toBe(false));
  it('undefined is not trusted', () => expect(isTrustedAddress(undefined)).toBe(false));
  it('parses mapped addresses to IPv4', () => {
    expect(parseIp('::ffff:1.2.3.4')).toEqual({ address: '1.2.3.4', family: 'ipv4' });
    expect(parseIp('2001:DB8::1')).toEqual({ address: '2001:db8::1', family: 'ipv6' });
    expect(parseIp('::ffff:1.2.3.400')).toBeUndefined();
  });
});

describe('X-Forwarded-For', () => {
  it('takes the last entry, trimmed, whatever the separator', () => {
    expect(lastForwardedFor('1.1.1.1, 2.2.2.2')).toBe('2.2.2.2');
    expect(lastForwardedFor('1.1.1.1,2.2.2.2 ')).toBe('2.2.2.2');
    expect(lastForwardedFor(['10.0.0.1', '8.8.8.8'])).toBe('8.8.8.8');
    expect(lastForwardedFor('1.1.1.1, ')).toBeUndefined();
    expect(lastForwardedFor(undefined)).toBeUndefined();
  });

  it('a public TCP peer is judged by itself, whatever header it sends (forged XFF, direct)', () => {
    expect(clientAddress('8.8.8.8', '127.0.0.1')).toEqual({
      address: '8.8.8.8',
      source: 'peer',
      trusted: false,
    });
    expect(clientAddress('::ffff:8.8.8.8', '10.0.0.1, 10.0.0.2').trusted).toBe(false);
    expect(clientAddress('198.18.0.5', '192.168.0.1').trusted).toBe(false);
  });

  it('behind a private peer (a router) the last entry is the client: a forged first entry does not help', () => {
    // The client sent "X-Forwarded-For: 127.0.0.1"; the router appended the real 203.0.114.9.
    expect(clientAddress('127.0.0.1', '127.0.0.1, 203.0.114.9')).toEqual({
      address: '203.0.114.9',
      source: 'forwarded',
      trusted: false,
    });
    expect(clientAddress('10.0.0.5', '8.8.8.8, 10.1.1.1').trusted).toBe(true);
    expect(clientAddress('::ffff:127.0.0.1', 'garbage').trusted).toBe(false);
  });

  it('a private peer without the header is the client itself', () => {
    expect(clientAddress('127.0.0.1', undefined)).toEqual({
      address: '127.0.0.1',
      source: 'peer',
      trusted: true,
    });
    expect(clientAddress(undefined, '10.0.0.1').trusted).toBe(false);
  });
});

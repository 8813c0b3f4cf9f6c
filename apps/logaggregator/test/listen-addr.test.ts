import { describe, expect, it } from 'vitest';
import { parseListenAddr } from '../src/server.js';

describe('listen addresses', () => {
  it.each([
    ['2008', { host: undefined, port: 2008 }], // PORT_0 from a flynn-host job: every interface
    [':1514', { host: undefined, port: 1514 }],
    ['127.0.0.1:1514', { host: '127.0.0.1', port: 1514 }],
    ['[::1]:1514', { host: '::1', port: 1514 }],
  ])('%s', (addr, want) => expect(parseListenAddr(addr)).toEqual(want));
  it.each(['', 'x', '99999', '1.2.3.4:99999'])('refuses %j', (addr) =>
    expect(() => parseListenAddr(addr)).toThrow('bad listen address'),
  );
});

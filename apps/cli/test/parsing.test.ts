import { describe, expect, it } from 'vitest';
import { discoverdUrls, hostPort, pathSegment } from '../src/discoverd-http.js';
import { formatTable } from '../src/output.js';

describe('hostPort (ADDR)', () => {
  it('defaults the port to 1111', () => {
    expect(hostPort('127.0.0.4')).toBe('127.0.0.4:1111');
    expect(hostPort('node-4.example')).toBe('node-4.example:1111');
  });

  it('keeps an explicit port', () => {
    expect(hostPort('127.0.0.4:2222')).toBe('127.0.0.4:2222');
    expect(hostPort(' 127.0.0.4:01111 ')).toBe('127.0.0.4:1111');
  });

  it('tolerates an http:// prefix and a trailing slash', () => {
    expect(hostPort('http://127.0.0.4:1111/')).toBe('127.0.0.4:1111');
    expect(hostPort('http://127.0.0.4')).toBe('127.0.0.4:1111');
  });

  it('brackets IPv6 addresses', () => {
    expect(hostPort('::1')).toBe('[::1]:1111');
    expect(hostPort('[::1]')).toBe('[::1]:1111');
    expect(hostPort('[::1]:2222')).toBe('[::1]:2222');
  });

  it('rejects what cannot be an address', () => {
    for (const bad of ['', '  ', ':1111', '127.0.0.4:', '127.0.0.4:x', '127.0.0.4:0', '127.0.0.4:65536']) {
      expect(() => hostPort(bad), bad).toThrow(/invalid address/);
    }
    expect(() => hostPort('127.0.0.4/raft')).toThrow(/without a path/);
    expect(() => hostPort('[::1')).toThrow(/unclosed/);
    expect(() => hostPort('[::1]x')).toThrow(/\[IPV6\]:PORT/);
  });
});

describe('discoverdUrls (DISCOVERD, --discoverd)', () => {
  it('means http://127.0.0.1:1111 when unset, empty or none', () => {
    for (const v of [undefined, '', '  ', 'none', ',']) {
      expect(discoverdUrls(v), String(v)).toEqual(['http://127.0.0.1:1111']);
    }
  });

  it('splits a comma list, trims, drops empty entries and duplicates', () => {
    expect(discoverdUrls(' 127.0.0.1:1111, 127.0.0.2:1111,,127.0.0.1:1111,')).toEqual([
      'http://127.0.0.1:1111',
      'http://127.0.0.2:1111',
    ]);
  });

  it('gives entries without a scheme http:// and the default port', () => {
    expect(discoverdUrls('127.0.0.2')).toEqual(['http://127.0.0.2:1111']);
  });

  it('keeps URLs with a scheme as they are', () => {
    expect(discoverdUrls('http://127.0.0.2:1111/,https://127.0.0.3')).toEqual([
      'http://127.0.0.2:1111',
      'https://127.0.0.3',
    ]);
  });

  it('rejects a bad entry', () => {
    expect(() => discoverdUrls('127.0.0.1:1111,127.0.0.2:x')).toThrow(/invalid address "127.0.0.2:x"/);
  });
});

describe('output helpers', () => {
  it('sends host:port as one path segment', () => {
    expect(pathSegment('127.0.0.2:1111')).toBe('127.0.0.2:1111');
    expect(pathSegment('[::1]:1111')).toBe('%5B::1%5D:1111');
  });

  it('lays tables out in columns', () => {
    expect(
      formatTable(
        ['ADDRESS', 'ROLE'],
        [
          ['127.0.0.1:1111', 'voter (leader)'],
          ['127.0.0.10:1111', 'learner'],
        ],
      ),
    ).toBe(
      ['ADDRESS           ROLE', '127.0.0.1:1111    voter (leader)', '127.0.0.10:1111   learner'].join('\n'),
    );
  });
});

import { parseFlags } from '@flynn-edge/service-kit';
import { describe, expect, it } from 'vitest';
import { flagSpec, parseListenAddr } from '../src/flags.js';

describe('bin/status flags', () => {
  it('listens on :1115 by default, $PORT as a bare port, or -addr', () => {
    const def = parseFlags(flagSpec, [], {});
    expect(parseListenAddr(def.flags.addr)).toEqual({ host: '0.0.0.0', port: 1115 });
    expect(parseListenAddr(parseFlags(flagSpec, [], { PORT: '8123' }).flags.addr)).toEqual({
      host: '0.0.0.0',
      port: 8123,
    });
    expect(parseListenAddr(parseFlags(flagSpec, ['-addr', '127.0.0.75:9'], {}).flags.addr)).toEqual({
      host: '127.0.0.75',
      port: 9,
    });
    expect(parseListenAddr('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(() => parseListenAddr('nope')).toThrow(/-addr must be/);
    expect(() => parseListenAddr(':99999')).toThrow(/-addr must be/);
  });

  it('takes Go durations for the timeout and the cache TTL', () => {
    const f = parseFlags(
      flagSpec,
      ['-timeout=500ms', '--cache-ttl', '2s', '-optional', 'logaggregator'],
      {},
    ).flags;
    expect(f.timeout).toBe(500);
    expect(f.cacheTtl).toBe(2000);
    expect(f.optional).toBe('logaggregator');
    expect(parseFlags(flagSpec, [], {}).flags.timeout).toBe(2000);
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVER, normalizeServer, parseDiscoverdEnv, ServerList } from '../src/servers.js';

describe('parseDiscoverdEnv', () => {
  it('defaults to 127.0.0.1:1111 for unset, empty and none', () => {
    expect(parseDiscoverdEnv(undefined)).toEqual([DEFAULT_SERVER]);
    expect(parseDiscoverdEnv('')).toEqual(['http://127.0.0.1:1111']);
    expect(parseDiscoverdEnv('  ')).toEqual(['http://127.0.0.1:1111']);
    expect(parseDiscoverdEnv('none')).toEqual(['http://127.0.0.1:1111']);
  });

  it('splits the comma list, adds http:// and drops blanks (bootstrap leaves a trailing comma)', () => {
    expect(parseDiscoverdEnv('10.0.0.1:1111,10.0.0.2:1111,')).toEqual([
      'http://10.0.0.1:1111',
      'http://10.0.0.2:1111',
    ]);
    expect(parseDiscoverdEnv(' http://a:1 , https://b:2/ ,c:3')).toEqual([
      'http://a:1',
      'https://b:2',
      'http://c:3',
    ]);
    expect(parseDiscoverdEnv('a:1,a:1')).toEqual(['http://a:1']);
    expect(parseDiscoverdEnv(',,')).toEqual([DEFAULT_SERVER]);
  });

  it('normalizes single entries', () => {
    expect(normalizeServer('127.0.0.1:1111/')).toBe('http://127.0.0.1:1111');
    expect(normalizeServer('http://x:1')).toBe('http://x:1');
  });
});

describe('ServerList', () => {
  it('puts the remembered leader first for writes and the last good server first for reads', () => {
    const l = new ServerList(['a:1', 'b:1', 'c:1']);
    expect(l.order('GET')).toEqual(['http://a:1', 'http://b:1', 'http://c:1']);
    l.setLeader('http://c:1');
    l.markGood('http://b:1');
    for (const m of ['PUT', 'POST', 'DELETE', 'delete']) {
      expect(l.order(m)).toEqual(['http://c:1', 'http://b:1', 'http://a:1']);
    }
    expect(l.order('GET')).toEqual(['http://b:1', 'http://c:1', 'http://a:1']);
    l.markFailed('http://c:1');
    expect(l.leader).toBeUndefined();
    expect(l.order('PUT')).toEqual(['http://b:1', 'http://a:1', 'http://c:1']);
  });

  it('replaces the list from Discoverd-Peers or Discoverd-Current-Peers and tracks the index', () => {
    const l = new ServerList(['a:1']);
    l.observe(
      new Headers({ 'discoverd-peers': '10.0.0.1:1111,10.0.0.2:1111', 'discoverd-index': '7' }),
      'http://a:1',
    );
    expect(l.servers).toEqual(['http://10.0.0.1:1111', 'http://10.0.0.2:1111']);
    expect(l.lastIndex).toBe(7);
    l.observe(
      new Headers({ 'discoverd-current-peers': '10.0.0.3:1111', 'discoverd-current-index': '5' }),
      'http://a:1',
    );
    expect(l.servers).toEqual(['http://10.0.0.3:1111']);
    expect(l.lastIndex).toBe(7);
    // A proxy's answer has no header and changes nothing.
    l.observe(new Headers(), 'http://a:1');
    expect(l.servers).toEqual(['http://10.0.0.3:1111']);
  });

  it('keeps the configured list when told not to follow peers', () => {
    const l = new ServerList(['a:1'], false);
    l.observe(new Headers({ 'discoverd-peers': '10.0.0.1:1111' }), 'http://a:1');
    expect(l.servers).toEqual(['http://a:1']);
  });
});

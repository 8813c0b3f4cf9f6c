import { describe, expect, it } from 'vitest';
import { queryKey, StatusAuth } from '../src/auth.js';

const KEY = 's3cret-key';
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const pub = { peer: '8.8.8.8', forwardedFor: undefined, authorization: undefined, url: '/' };

describe('AUTH_KEY', () => {
  const auth = new StatusAuth(KEY);

  it('private, loopback, TEST-NET and CGNAT clients need no key', () => {
    for (const peer of ['127.0.0.1', '10.1.1.1', '100.64.3.3', '192.0.2.1', '::1']) {
      expect(auth.check({ ...pub, peer })).toMatchObject({ ok: true, via: 'address' });
    }
  });

  it('a public client without the key is denied', () => {
    expect(auth.check(pub)).toMatchObject({ ok: false, via: 'denied' });
  });

  it('accepts the key as ?key=', () => {
    expect(auth.check({ ...pub, url: `/?key=${KEY}` })).toMatchObject({ ok: true, via: 'key' });
    expect(auth.check({ ...pub, url: `/x?scope=host&key=${encodeURIComponent(KEY)}` }).ok).toBe(true);
    expect(auth.check({ ...pub, url: `/?key=${KEY}x` }).ok).toBe(false);
    expect(auth.check({ ...pub, url: `/?key=${KEY.slice(0, -1)}` }).ok).toBe(false);
    expect(auth.check({ ...pub, url: '/?key=' }).ok).toBe(false);
  });

  it('accepts the key as the basic-auth password, any user', () => {
    expect(auth.check({ ...pub, authorization: basic('', KEY) }).ok).toBe(true);
    expect(auth.check({ ...pub, authorization: basic('anyone', KEY) }).ok).toBe(true);
    expect(auth.check({ ...pub, authorization: basic(KEY, 'nope') }).ok).toBe(false);
  });

  it('an empty basic-auth password falls back to ?key= (as Flynn)', () => {
    expect(auth.check({ ...pub, authorization: basic('u', ''), url: `/?key=${KEY}` }).ok).toBe(true);
  });

  it('a forged X-Forwarded-For from a public peer is not trusted; through a router it is the last entry', () => {
    expect(auth.check({ ...pub, forwardedFor: '127.0.0.1' }).ok).toBe(false);
    expect(auth.check({ ...pub, peer: '127.0.0.1', forwardedFor: '127.0.0.1, 8.8.4.4' }).ok).toBe(false);
    expect(
      auth.check({ ...pub, peer: '127.0.0.1', forwardedFor: '127.0.0.1, 8.8.4.4', url: `/?key=${KEY}` }).ok,
    ).toBe(true);
  });

  it('without AUTH_KEY everyone gets in (Flynn)', () => {
    const open = new StatusAuth('');
    expect(open.enabled).toBe(false);
    expect(open.check(pub)).toMatchObject({ ok: true, via: 'open' });
  });

  it('reads the first key parameter only', () => {
    expect(queryKey('/?key=a&key=b')).toBe('a');
    expect(queryKey('/')).toBeUndefined();
    expect(queryKey('/?key=%zz')).toBe('%zz');
  });
});

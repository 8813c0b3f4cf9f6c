import { describe, expect, it } from 'vitest';
import { parseAbsoluteTarget } from '../src/absolute-form.js';

describe('absolute-form request targets (RFC 9112 §3.2.2)', () => {
  it('splits the authority from the origin-form path and query', () => {
    expect(parseAbsoluteTarget('http://a.test/x?y=1')).toEqual({ host: 'a.test', path: '/x?y=1' });
    expect(parseAbsoluteTarget('http://a.test')).toEqual({ host: 'a.test', path: '/' });
    expect(parseAbsoluteTarget('http://a.test?q')).toEqual({ host: 'a.test', path: '/?q' });
    expect(parseAbsoluteTarget('HTTPS://A.test:8443/p')).toEqual({ host: 'A.test:8443', path: '/p' });
    expect(parseAbsoluteTarget('http://[::1]:80/')).toEqual({ host: '[::1]:80', path: '/' });
    expect(parseAbsoluteTarget('http://10.0.0.1//x')).toEqual({ host: '10.0.0.1', path: '//x' });
  });

  it('leaves the other forms alone', () => {
    for (const t of ['/x', '*', 'a.test:443', 'x', '/http://a.test/'])
      expect(parseAbsoluteTarget(t)).toBeNull();
  });

  it('refuses userinfo, other schemes and invalid authorities', () => {
    for (const t of [
      'http://u@a.test/',
      'http://u:p@a.test/',
      'ftp://a.test/',
      'http:///x',
      'http://:80/',
      'http://a.test:/',
      'http://a.test:123456/',
      'http://a.test:65536/',
      'http://a,b/',
      'http://a"b/',
      'http://[zz]/',
      'http://[::1/',
      'http://a.test#f/',
    ]) {
      expect(parseAbsoluteTarget(t), t).toHaveProperty('error');
    }
  });
});

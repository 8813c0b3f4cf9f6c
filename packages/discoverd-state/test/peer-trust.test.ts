import { describe, expect, it } from 'vitest';
import { PeerTrust } from '../src/index.js';

// Who may receive the cluster key on a redirect (issue 11).

describe('PeerTrust', () => {
  it('trusts the configured servers, as URLs or host:port, by host and port', () => {
    const t = new PeerTrust(['http://10.0.0.1:1111', '10.0.0.2:1111', 'https://d.example']);
    expect(t.trusts('http://10.0.0.1:1111/kv/x')).toBe(true);
    expect(t.trusts('https://10.0.0.2:1111/')).toBe(true);
    expect(t.trusts('https://D.EXAMPLE:443/raft/peers')).toBe(true);
    expect(t.trusts('http://10.0.0.1:2222/')).toBe(false);
    expect(t.trusts('http://10.0.0.3:1111/')).toBe(false);
    expect(t.trusts('ftp://10.0.0.1:1111/')).toBe(false);
    expect(t.trusts('not a url')).toBe(false);
  });

  it('learns peers only from a trusted server', () => {
    const t = new PeerTrust(['10.0.0.1:1111']);
    t.observe('http://10.0.0.9:1111/x', '10.0.0.8:1111');
    expect(t.trusts('http://10.0.0.8:1111/')).toBe(false);
    t.observe('http://10.0.0.1:1111/x', '10.0.0.1:1111, 10.0.0.2:1111,,[::1]:1111');
    expect(t.trusts('http://10.0.0.2:1111/')).toBe(true);
    expect(t.trusts('http://[::1]:1111/')).toBe(true);
    t.observe('http://10.0.0.1:1111/x', null);
  });

  it('keeps the key only on redirects to trusted http(s) hosts, never down to http', () => {
    const t = new PeerTrust(['http://10.0.0.1:1111', 'http://10.0.0.2:1111', 'https://10.0.0.3:1111']);
    expect(t.redirect('http://10.0.0.1:1111/kv/a', 'http://10.0.0.2:1111/kv/a')).toEqual({
      url: 'http://10.0.0.2:1111/kv/a',
      keepKey: true,
    });
    expect(t.redirect('http://10.0.0.1:1111/kv/a', '/kv/b')).toEqual({
      url: 'http://10.0.0.1:1111/kv/b',
      keepKey: true,
    });
    expect(t.redirect('http://10.0.0.1:1111/kv/a', 'http://evil.example:1111/kv/a')).toEqual({
      url: 'http://evil.example:1111/kv/a',
      keepKey: false,
    });
    expect(t.redirect('https://10.0.0.3:1111/kv/a', 'http://10.0.0.2:1111/kv/a').keepKey).toBe(false);
    expect(t.redirect('http://10.0.0.1:1111/', 'file:///etc/passwd')).toHaveProperty('error');
    expect(t.redirect('http://10.0.0.1:1111/', 'javascript:alert(1)')).toHaveProperty('error');
    expect(t.redirect('http://10.0.0.1:1111/', 'http://u:p@10.0.0.2:1111/')).toHaveProperty('error');
    expect(t.redirect('http://10.0.0.1:1111/', 'http://[bad')).toHaveProperty('error');
  });
});

import { describe, expect, it } from 'vitest';
import { ClusterKey, isGuardedPath, needsClusterKey, presentedKey } from '../src/cluster-key.js';

// The cluster key's pure parts: which requests need it, and how a request presents it.

function req(method: string, url: string, route?: string) {
  return { method, url, routeOptions: { url: route } } as Parameters<typeof needsClusterKey>[0];
}

describe('cluster key', () => {
  it('guards /kv/ for every method, /raft/* changes and /shutdown, not the registry API', () => {
    expect(isGuardedPath('GET', '/kv/')).toBe(true);
    expect(isGuardedPath('GET', '/kv')).toBe(true);
    expect(isGuardedPath('GET', '/kv/a/b')).toBe(true);
    expect(isGuardedPath('POST', '/kv/txn')).toBe(true);
    expect(isGuardedPath('PUT', '/raft/peers/1.2.3.4:1111')).toBe(true);
    expect(isGuardedPath('DELETE', '/raft/peers/1.2.3.4:1111')).toBe(true);
    expect(isGuardedPath('POST', '/raft/promote')).toBe(true);
    expect(isGuardedPath('POST', '/raft/demote')).toBe(true);
    expect(isGuardedPath('POST', '/shutdown')).toBe(true);
    expect(isGuardedPath('GET', '/raft/leader')).toBe(false);
    expect(isGuardedPath('GET', '/raft/peers')).toBe(false);
    expect(isGuardedPath('PUT', '/services/web')).toBe(false);
    expect(isGuardedPath('GET', '/kvx')).toBe(false);
    expect(isGuardedPath('GET', '/metrics')).toBe(false);
  });

  it('looks at the route pattern and at the decoded path', () => {
    expect(needsClusterKey(req('GET', '/%6Bv/x', '/kv/*'))).toBe(true);
    expect(needsClusterKey(req('GET', '/%6Bv/x'))).toBe(true);
    expect(needsClusterKey(req('GET', '//kv/x'))).toBe(true);
    expect(needsClusterKey(req('GET', '/kv/x?y=1'))).toBe(true);
    expect(needsClusterKey(req('GET', '/services/web?x=/kv/', '/services/:service'))).toBe(false);
    expect(needsClusterKey(req('GET', '/%E0%A4%A'))).toBe(false);
  });

  it('takes a bearer token or the password of basic auth, nothing else', () => {
    expect(presentedKey('Bearer s3cret')).toBe('s3cret');
    expect(presentedKey('bearer   s3cret  ')).toBe('s3cret');
    expect(presentedKey(`Basic ${Buffer.from('flynn:s3:cret').toString('base64')}`)).toBe('s3:cret');
    expect(presentedKey(`Basic ${Buffer.from(':s3cret').toString('base64')}`)).toBe('s3cret');
    expect(presentedKey(`Basic ${Buffer.from('no-colon').toString('base64')}`)).toBeUndefined();
    expect(presentedKey(`Basic ${Buffer.from('user:').toString('base64')}`)).toBeUndefined();
    expect(presentedKey('Bearer')).toBeUndefined();
    expect(presentedKey('Token s3cret')).toBeUndefined();
    expect(presentedKey(undefined)).toBeUndefined();
    expect(presentedKey('')).toBeUndefined();
  });

  it('compares keys of any length', () => {
    const key = new ClusterKey('s3cret');
    expect(key.matches('s3cret')).toBe(true);
    expect(key.matches('s3cre')).toBe(false);
    expect(key.matches('s3cretx')).toBe(false);
    expect(key.matches('')).toBe(false);
    expect(key.matches(undefined)).toBe(false);
    expect(() => new ClusterKey('')).toThrow();
  });
});

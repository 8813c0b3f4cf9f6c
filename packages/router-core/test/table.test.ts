import { describe, expect, it } from 'vitest';
import { normaliseHost, RouteTable } from '../src/index.js';
import { http, tcp } from './helpers.js';

describe('normaliseHost', () => {
  it('lower-cases and strips the port', () => {
    expect(normaliseHost('Example.COM:8080')).toBe('example.com');
    expect(normaliseHost('example.com')).toBe('example.com');
    expect(normaliseHost('[::1]:80')).toBe('[::1]');
    expect(normaliseHost(undefined)).toBe('');
  });
});

describe('RouteTable.match: domains', () => {
  const exact = http('www.example.com');
  const wild = http('*.example.com');
  const deepWild = http('*.a.example.com');
  const any = http('*');
  const table = new RouteTable([exact, wild, deepWild, any]);

  it('prefers the exact host, case-insensitively and with the Host port stripped', () => {
    expect(table.match('WWW.Example.com:80', 80, '/')).toBe(exact);
    expect(table.match('www.example.com', 443, '/')).toBe(exact);
  });

  it('then wildcards from most to least specific', () => {
    expect(table.match('x.a.example.com', 80, '/')).toBe(deepWild);
    expect(table.match('y.x.a.example.com', 80, '/')).toBe(deepWild);
    expect(table.match('b.example.com', 80, '/')).toBe(wild);
  });

  it('a wildcard also matches its bare suffix (Flynn tries "*." + the full host first)', () => {
    expect(table.match('example.com', 80, '/')).toBe(wild);
    expect(table.match('a.example.com', 80, '/')).toBe(deepWild);
  });

  it('tries at most 5 suffixes: the full host and what follows each of its first four dots', () => {
    const t = new RouteTable([http('*.f.com'), http('*.e.f.com')]);
    expect(t.match('d.e.f.com', 80, '/')?.domain).toBe('*.e.f.com');
    expect(t.match('c.d.e.f.com', 80, '/')?.domain).toBe('*.e.f.com');
    // 7 labels: SplitN(host, ".", 5) leaves "e.f.com" as the last part, so *.f.com is never tried
    expect(t.match('a.b.c.d.e.f.com', 80, '/')?.domain).toBe('*.e.f.com');
    expect(new RouteTable([http('*.f.com')]).match('a.b.c.d.e.f.com', 80, '/')).toBeUndefined();
    expect(new RouteTable([http('*.f.com')]).match('b.c.d.e.f.com', 80, '/')?.domain).toBe('*.f.com');
  });

  it('then the catch-all, else undefined (404)', () => {
    expect(table.match('other.org', 80, '/')).toBe(any);
    expect(table.match(undefined, 80, '/')).toBe(any);
    expect(new RouteTable([exact]).match('other.org', 80, '/')).toBeUndefined();
  });

  it('keys by port: default listener ports map to 0; other ports need their own routes', () => {
    const onAlt = http('www.example.com', '/', 8080);
    const t = new RouteTable([exact, onAlt]);
    expect(t.match('www.example.com', 80, '/')).toBe(exact);
    expect(t.match('www.example.com', 443, '/')).toBe(exact);
    expect(t.match('www.example.com', 8080, '/')).toBe(onAlt);
    expect(t.match('www.example.com', 9090, '/')).toBeUndefined();
    const custom = new RouteTable([exact], { defaultPorts: [8000, 8443] });
    expect(custom.match('www.example.com', 8000, '/')).toBe(exact);
    expect(custom.match('www.example.com', 80, '/')).toBeUndefined();
    expect(custom.lookupPort(8443)).toBe(0);
  });
});

describe('RouteTable.match: paths', () => {
  const root = http('a.com');
  const foo = http('a.com', '/foo/');
  const fooBar = http('a.com', '/foo/bar/');
  const deep = http('a.com', '/x/y/z/');
  const t = new RouteTable([root, foo, fooBar, deep]);

  it('picks the longest segment-wise prefix', () => {
    expect(t.match('a.com', 80, '/foo')).toBe(foo);
    expect(t.match('a.com', 80, '/foo/')).toBe(foo);
    expect(t.match('a.com', 80, '/foo/x')).toBe(foo);
    expect(t.match('a.com', 80, '/foo/bar')).toBe(fooBar);
    expect(t.match('a.com', 80, '/foo/bar/baz/qux')).toBe(fooBar);
    expect(t.match('a.com', 80, '/x/y/z/1/2/3')).toBe(deep);
  });

  it('does not match across a segment boundary, and falls back to "/"', () => {
    expect(t.match('a.com', 80, '/foobar')).toBe(root);
    expect(t.match('a.com', 80, '/foo/barn')).toBe(foo);
    expect(t.match('a.com', 80, '/x/y')).toBe(root);
    expect(t.match('a.com', 80, '/')).toBe(root);
    expect(t.match('a.com', 80, '')).toBe(root);
  });

  it('ignores the query string; paths are case-sensitive', () => {
    expect(t.match('a.com', 80, '/foo?x=/foo/bar/')).toBe(foo);
    expect(t.match('a.com', 80, '/FOO')).toBe(root);
  });

  it('gives undefined when a domain has only sub-paths and none matches', () => {
    const onlySub = new RouteTable([http('b.com', '/api/')]);
    expect(onlySub.match('b.com', 80, '/api/v1')?.path).toBe('/api/');
    expect(onlySub.match('b.com', 80, '/other')).toBeUndefined();
  });

  it('a very long path costs only as many probes as the deepest route', () => {
    const long = `/foo/${'a/'.repeat(4000)}`;
    expect(t.match('a.com', 80, long)).toBe(foo);
  });
});

describe('RouteTable: hot updates', () => {
  it('adds and removes routes in place', () => {
    const t = new RouteTable();
    const root = http('a.com');
    const sub = http('a.com', '/s/');
    const wild = http('*.a.com');
    t.add(root);
    expect(t.match('a.com', 80, '/s/1')).toBe(root);
    t.add(sub);
    expect(t.match('a.com', 80, '/s/1')).toBe(sub);
    expect(t.match('b.a.com', 80, '/')).toBeUndefined();
    t.add(wild);
    expect(t.match('b.a.com', 80, '/')).toBe(wild);
    expect(t.size).toBe(3);
    expect(t.remove(sub.id!)).toBe(true);
    expect(t.match('a.com', 80, '/s/1')).toBe(root);
    expect(t.remove(wild)).toBe(true);
    expect(t.match('b.a.com', 80, '/')).toBeUndefined();
    expect(t.remove('missing')).toBe(false);
    expect(t.size).toBe(1);
    expect(t.routes()).toEqual([root]);
  });

  it('an update with the same id replaces the old route, even if its path changed', () => {
    const t = new RouteTable([http('a.com')]);
    const r = http('a.com', '/old/');
    t.add(r);
    const moved = { ...r, path: '/new/', service: 'v2' };
    t.add(moved);
    expect(t.size).toBe(2);
    expect(t.get(r.id!)).toBe(moved);
    expect(t.match('a.com', 80, '/old/x')?.path).toBe('/');
    expect(t.match('a.com', 80, '/new/x')).toBe(moved);
  });

  it('a route with another id on the same key replaces it', () => {
    const t = new RouteTable();
    const a = http('a.com');
    const b = http('a.com');
    t.add(a);
    t.add(b);
    expect(t.size).toBe(1);
    expect(t.get(a.id!)).toBeUndefined();
    expect(t.match('a.com', 80, '/')).toBe(b);
    const t1 = tcp(3000);
    const t2 = tcp(3000);
    t.add(t1);
    t.add(t2);
    expect(t.size).toBe(2);
    expect(t.matchTCP(3000)).toBe(t2);
  });

  it('routes without ids are keyed by their store key', () => {
    const t = new RouteTable();
    const r = { ...http('a.com'), id: undefined };
    t.add(r);
    expect(t.match('a.com', 80, '/')).toBe(r);
    expect(t.remove(r)).toBe(true);
    expect(t.size).toBe(0);
  });

  it('holds TCP routes by port', () => {
    const a = tcp(3001);
    const t = new RouteTable([a]);
    expect(t.matchTCP(3001)).toBe(a);
    expect(t.matchTCP(3002)).toBeUndefined();
    t.remove(a);
    expect(t.matchTCP(3001)).toBeUndefined();
  });
});

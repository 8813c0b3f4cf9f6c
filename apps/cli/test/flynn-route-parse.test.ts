import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { formatWatchEvent, kvPath } from '../src/flynn/kv.js';
import {
  formatRoutes,
  parseDomainArg,
  parsePort,
  parseRouteId,
  pemBlocks,
  type RouteJson,
} from '../src/flynn/route.js';

// The pure parts of `flynn route` and `flynn kv`; the commands themselves run against a real
// discoverd and router in test/suites/flynn-{route,kv}.test.ts.

describe('flynn route arguments', () => {
  it('splits DOMAIN[/PATH] as Flynn did (url.Parse of http:// + the argument)', () => {
    expect(parseDomainArg('example.com')).toEqual({ domain: 'example.com' });
    expect(parseDomainArg('example.com/')).toEqual({ domain: 'example.com' });
    expect(parseDomainArg('example.com/api/v1')).toEqual({ domain: 'example.com', path: '/api/v1' });
    for (const bad of ['', '/path', 'example.com:8080', 'user@example.com', 'a.com/x?y', 'a b.com']) {
      expect(() => parseDomainArg(bad), bad).toThrow(InvalidArgumentError);
    }
  });

  it('ports are 1 to 65535', () => {
    expect(parsePort('3000')).toBe(3000);
    for (const bad of ['0', '65536', 'x', '-1', '80.5', '']) expect(() => parsePort(bad), bad).toThrow();
  });

  it('route ids: http/ID, tcp/ID or a bare id', () => {
    expect(parseRouteId('http/abc')).toEqual({ type: 'http', id: 'abc' });
    expect(parseRouteId('tcp/abc')).toEqual({ type: 'tcp', id: 'abc' });
    expect(parseRouteId('abc')).toEqual({ id: 'abc' });
    expect(() => parseRouteId('udp/abc')).toThrow('Route type udp not supported.');
  });

  it('takes the CERTIFICATE or any PRIVATE KEY blocks from mixed PEM (stdin)', () => {
    const block = (t: string, body = 'QUJD') => `-----BEGIN ${t}-----\n${body}\n-----END ${t}-----`;
    const text = [
      block('EC PARAMETERS'),
      block('EC PRIVATE KEY'),
      block('CERTIFICATE', 'MQ=='),
      block('CERTIFICATE'),
    ].join('\n');
    expect(pemBlocks(text, /^CERTIFICATE$/)).toBe(
      `${block('CERTIFICATE', 'MQ==')}\n${block('CERTIFICATE')}\n`,
    );
    expect(pemBlocks(text, /^[A-Z0-9 ]*PRIVATE KEY$/)).toBe(`${block('EC PRIVATE KEY')}\n`);
    expect(pemBlocks('no pem here', /^CERTIFICATE$/)).toBe('');
  });
});

describe('flynn route table', () => {
  const base = { leader: false, created_at: '', updated_at: '' };
  it("has Flynn's columns and protocol:route cells", () => {
    const routes: RouteJson[] = [
      { ...base, type: 'http', id: 'h1', service: 'demo-web', domain: 'a.test', path: '/', certificate: {} },
      {
        ...base,
        type: 'http',
        id: 'h2',
        service: 'demo-web',
        domain: 'a.test',
        path: '/api/',
        sticky: true,
        port: 8081,
      },
      { ...base, type: 'tcp', id: 't1', service: 'demo-db', port: 3001, leader: true },
    ];
    expect(formatRoutes(routes).split('\n')).toEqual([
      'ROUTE              SERVICE    ID        STICKY   LEADER   PATH',
      'https:a.test       demo-web   http/h1   false    false    /',
      'http:a.test:8081   demo-web   http/h2   true     false    /api/',
      'tcp:3001           demo-db    tcp/t1             true',
    ]);
  });
});

describe('flynn kv', () => {
  it('key paths keep slashes and encode the rest; . and .. segments cannot be sent', () => {
    expect(kvPath('apps/demo')).toBe('/kv/apps/demo');
    expect(kvPath('a b/c?d#e%f')).toBe('/kv/a%20b/c%3Fd%23e%25f');
    expect(() => kvPath('a/../b')).toThrow('segment');
    expect(() => kvPath('')).toThrow('must not be empty');
  });

  it('watch lines give the size of a put, never the value (it may be a private key)', () => {
    expect(formatWatchEvent({ type: 'put', key: 'k', value: 'héllo' })).toBe('put k 6 bytes');
    expect(formatWatchEvent({ type: 'delete', key: 'k' })).toBe('delete k');
  });
});

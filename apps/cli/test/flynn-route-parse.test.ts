import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { formatWatchEvent, kvPath } from '../src/flynn/kv.js';
import {
  formatRouteDetail,
  formatRoutes,
  managedUpdate,
  parseDomainArg,
  parsePort,
  parseRouteId,
  pemBlocks,
  type RouteJson,
  registerRouteCommands,
  resolveAddDomain,
  updateBody,
  withoutPem,
} from '../src/flynn/route.js';
import { CliError } from '../src/output.js';

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

describe('flynn route managed certificates', () => {
  /** The options and arguments commander hands to a route command (its action stops at the target). */
  async function parsed(args: string[]): Promise<{ opts: Record<string, unknown>; args: string[] }> {
    const { Command } = await import('commander');
    const program = new Command().exitOverride();
    let seen: { opts: Record<string, unknown>; args: string[] } | undefined;
    registerRouteCommands(program, async (cmd) => {
      seen = { opts: cmd.opts(), args: cmd.args };
      throw new CliError('stop');
    });
    await expect(program.parseAsync(['route', ...args], { from: 'user' })).rejects.toThrow('stop');
    return seen!;
  }

  it('add http: --managed-cert DOMAIN is the route domain; with both, the option names the certificate', async () => {
    const one = await parsed(['add', 'http', '--managed-cert', 'example.com']);
    expect(resolveAddDomain(one.args[0], one.opts.managedCert as string)).toEqual({
      route: { domain: 'example.com' },
      managed: {},
    });
    const both = await parsed(['add', 'http', '--managed-cert', 'www.example.com', 'example.com']);
    expect(resolveAddDomain(both.args[0], both.opts.managedCert as string)).toEqual({
      route: { domain: 'example.com' },
      managed: { domain: 'www.example.com' },
    });
    const last = await parsed(['add', 'http', 'example.com/api', '--managed-cert']);
    expect(resolveAddDomain(last.args[0], last.opts.managedCert as boolean)).toEqual({
      route: { domain: 'example.com', path: '/api' },
      managed: {},
    });
    expect(resolveAddDomain('example.com', undefined)).toEqual({ route: { domain: 'example.com' } });
    expect(() => resolveAddDomain(undefined, undefined)).toThrow("missing required argument 'domain'");
    expect(() => resolveAddDomain(undefined, true)).toThrow("missing required argument 'domain'");
    expect(() => resolveAddDomain('a.test:80', true)).toThrow(/without a port/);
  });

  it('update: --managed-cert [NAME], --no-managed-cert, --renew-cert', async () => {
    const route: RouteJson = { type: 'http', id: 'r1', service: 'web', leader: false, domain: 'a.test' };
    const managed: RouteJson = { ...route, managed_certificate: { domain: 'a.test', status: 'issued' } };
    const on = await parsed(['update', 'http/r1', '--managed-cert']);
    expect(managedUpdate(route, on.opts)).toEqual({});
    const named = await parsed(['update', 'http/r1', '--managed-cert', 'b.a.test']);
    expect(managedUpdate(route, named.opts)).toEqual({ domain: 'b.a.test' });
    const off = await parsed(['update', 'http/r1', '--no-managed-cert']);
    expect(managedUpdate(managed, off.opts)).toBeNull();
    const renew = await parsed(['update', 'http/r1', '--renew-cert']);
    expect(managedUpdate(managed, renew.opts)).toEqual({ renew: true });
    const none = await parsed(['update', 'http/r1', '--sticky']);
    expect(managedUpdate(managed, none.opts)).toBeUndefined();
    expect(() => managedUpdate(route, renew.opts)).toThrow('has no managed certificate');
    expect(() => managedUpdate(managed, { managedCert: true, renewCert: true })).toThrow(
      /cannot be combined/,
    );
    const tcp: RouteJson = { type: 'tcp', id: 't1', service: 'db', leader: false, port: 3000 };
    expect(() => managedUpdate(tcp, { managedCert: true })).toThrow(/HTTP routes only/);
  });

  it('update body: a managed route is sent without its certificate; turning management on keeps it', async () => {
    const cert = { id: 'c1', cert: 'PEM', key: 'KEY' };
    const own: RouteJson = {
      type: 'http',
      id: 'r1',
      service: 'web',
      leader: false,
      domain: 'a.test',
      certificate: cert,
    };
    const on = await parsed(['update', 'http/r1', '--managed-cert']);
    const switched = updateBody(own, on.opts, managedUpdate(own, on.opts), undefined);
    expect(switched.managed_certificate).toEqual({});
    expect(switched.certificate).toEqual(cert);
    const managed: RouteJson = {
      ...own,
      managed_certificate: { domain: 'a.test', status: 'issued', created_at: '', updated_at: '' },
    };
    const sticky = await parsed(['update', 'http/r1', '--sticky']);
    const body = updateBody(managed, sticky.opts, managedUpdate(managed, sticky.opts), undefined);
    expect(body.sticky).toBe(true);
    expect(body).not.toHaveProperty('certificate');
    expect(body).not.toHaveProperty('tls_cert');
    expect(body.managed_certificate).toEqual(managed.managed_certificate);
    const off = await parsed(['update', 'http/r1', '--no-managed-cert']);
    expect(updateBody(managed, off.opts, managedUpdate(managed, off.opts), undefined)).not.toHaveProperty(
      'certificate',
    );
    // The plain route keeps echoing its certificate (Flynn dropped it); -c/-k replace it.
    expect(updateBody(own, sticky.opts, undefined, undefined).certificate).toEqual(cert);
    const tls = updateBody(own, {}, undefined, { cert: 'NEW', key: 'NEWKEY' });
    expect(tls).not.toHaveProperty('certificate');
    expect(tls.tls_cert).toBe('NEW');
  });

  it('lists a CERT column only when a route is managed; show gives the state and the last error', () => {
    const plain: RouteJson = { type: 'http', id: 'p', service: 'web', leader: false, domain: 'p.test' };
    expect(formatRoutes([plain]).split('\n')[0]).not.toContain('CERT');
    const failed: RouteJson = {
      ...plain,
      id: 'f',
      domain: 'f.test',
      managed_certificate: {
        domain: 'f.test',
        status: 'failed',
        last_error: 'NXDOMAIN looking up A for f.test',
        next_attempt_at: '2030-01-01T00:00:00Z',
      },
    };
    const lines = formatRoutes([failed, plain]).split('\n');
    expect(lines[0]).toMatch(/PATH\s+CERT$/);
    expect(lines[1]).toMatch(/managed:failed$/);
    expect(lines[2]).toMatch(/\/$/);
    const detail = formatRouteDetail({
      ...failed,
      managed_certificate: { domain: 'f.test', status: 'issued', expires_at: '2030-03-01T00:00:00Z' },
    });
    expect(detail).toContain('Managed cert: f.test (issued)');
    expect(detail).toContain('Cert expires: 2030-03-01T00:00:00Z');
    expect(formatRouteDetail(failed)).toContain('Last error:   NXDOMAIN looking up A for f.test');
    const json = withoutPem({
      ...plain,
      certificate: { cert: 'C', key: 'K', id: 'c1' } as RouteJson['certificate'],
    });
    expect(json.certificate).toEqual({ id: 'c1' });
  });
});

import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasStackTrace, runFlynn } from '@flynn-edge/cli/testing';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { nextPortBlock, waitFor } from '@flynn-edge/process-kit';
import { RouterProcess } from '@flynn-edge/router/testing';
import { RouteStore } from '@flynn-edge/router-store';
import { generateSelfSigned } from '@flynn-edge/tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 18, the API side: `flynn route … --managed-cert` against a real discoverd and router. The
// issuer's writes are made here with RouteStore.recordManagedCertificate (the call the ACME
// issuer makes), so this suite needs no ACME server; test/suites/acme*.test.ts run the real one.

const KEY = 'managed-cert-key';
const IP = '127.0.0.161';
const dir = mkdtempSync(join(tmpdir(), 'managed-cert-api-'));
const base = nextPortBlock(40);
const discoverd = new DiscoverdProcessCluster({
  size: 1,
  firstHost: 161,
  port: base,
  dnsPort: base + 1,
  dir,
  env: { CLUSTER_KEY: KEY },
});
const router = new RouterProcess({
  ip: IP,
  httpPort: base + 10,
  httpsPort: base + 11,
  apiPort: base + 12,
  tcpRange: { start: base + 20, end: base + 29 },
  discoverd: discoverd.addrs.join(','),
  clusterKey: KEY,
  logFile: join(dir, 'router.log'),
});
const client = new DiscoverdClient({ servers: discoverd.addrs, clusterKey: KEY });
/** The issuer's view of the store (the router's listener ports do not matter to this write). */
const store = new RouteStore(client.kv, {
  httpPorts: [base + 10],
  httpsPorts: [base + 11],
  tcpRange: { start: base + 20, end: base + 29 },
});
const APP = randomUUID();

const flynn = (...args: string[]) =>
  runFlynn(['-a', 'demo', ...args], { DISCOVERD: discoverd.addrs.join(','), CLUSTER_KEY: KEY });

/** The serial of the certificate the router presents for `domain` (trusting anything). */
function servedSerial(domain: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: IP,
        port: base + 11,
        servername: domain,
        headers: { host: domain },
        rejectUnauthorized: false,
        timeout: 5000,
        agent: false,
      },
      (res) => {
        const peer = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate();
        res.resume().on('end', () => resolve(peer?.serialNumber ?? ''));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** The issuer's write of a new certificate for `domain`; resolves once the router serves it. */
async function issue(routeId: string, domain: string, from: 'pending' | 'renewing'): Promise<string> {
  const p = generateSelfSigned({ names: [domain] });
  const written = await store.recordManagedCertificate(routeId, {
    expect: from,
    state: { status: 'issued' },
    certificate: { cert: p.certPem, key: p.keyPem },
  });
  expect(written).toBeDefined();
  const serial = new X509Certificate(p.certPem).serialNumber;
  await waitFor(async () => (await servedSerial(domain)) === serial, { timeoutMs: 10_000 });
  return serial;
}

async function show(id: string): Promise<Record<string, unknown>> {
  const r = await flynn('route', 'show', '--json', id);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  discoverd.start();
  await discoverd.leader(20_000);
  router.start();
  await router.ready();
  await client.kv.put('apps/demo', JSON.stringify({ id: APP, name: 'demo' }));
}, 60_000);

afterAll(async () => {
  await client.close();
  await router.close();
  await discoverd.close();
}, 30_000);

// Later tests add routes to the app: the one checking the whole `flynn route` table comes first.
describe('flynn route --managed-cert', () => {
  it.each([
    [
      ['*.w.test', 'w.test'],
      /managed_certificate.domain: http-01 cannot prove a wildcard name; use your own certificate/,
    ],
    [['10.1.2.3', 'ip.test'], /managed_certificate.domain: .*IP address/],
    [['other.test', 'mine.test'], /other.test is not served by this route/],
  ])('refuses --managed-cert %j with one line, and creates nothing', async ([name, domain], message) => {
    const r = await flynn('route', 'add', 'http', '--managed-cert', name!, domain!);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^flynn: validation_error: Invalid route \(.*\)\n$/);
    expect(r.stderr).toMatch(message);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect((await flynn('route')).stdout).not.toContain(domain!);
  });

  it('adds, issues, renews, fails and stops managing, as flynn route and its JSON show', async () => {
    const add = await flynn('route', 'add', 'http', '--managed-cert', 'm.test');
    expect(add.code, add.stderr).toBe(0);
    const id = add.stdout.trim();
    const routeId = id.slice('http/'.length);
    expect(await show(id)).toMatchObject({
      domain: 'm.test',
      managed_certificate: { domain: 'm.test', status: 'pending' },
    });
    expect((await flynn('route')).stdout).toMatch(/CERT\n.*managed:pending\n$/);

    // The issuer's write: the certificate lands in the store and every router serves it.
    const firstSerial = await issue(routeId, 'm.test', 'pending');
    const shown = await flynn('route', 'show', id);
    expect(shown.stdout).toMatch(/Managed cert: m.test \(issued\)/);
    expect(shown.stdout).toMatch(/Cert expires: \d{4}-/);
    expect((await flynn('route')).stdout).toMatch(/managed:issued\n$/);

    // A user update that does not mention it keeps the state and the certificate.
    expect((await flynn('route', 'update', id, '--sticky')).code).toBe(0);
    expect(await show(id)).toMatchObject({ sticky: true, managed_certificate: { status: 'issued' } });
    expect(await servedSerial('m.test')).toBe(firstSerial);

    // Forced renewal, then the issuer's new certificate replaces the old one.
    expect((await flynn('route', 'update', id, '--renew-cert')).code).toBe(0);
    expect(await show(id)).toMatchObject({ managed_certificate: { status: 'renewing' } });
    const secondSerial = await issue(routeId, 'm.test', 'renewing');

    // A failure is visible with its error; the route keeps its certificate.
    await store.recordManagedCertificate(routeId, {
      state: {
        status: 'failed',
        last_error: 'urn:ietf:params:acme:error:dns: NXDOMAIN looking up A for m.test',
      },
    });
    const failed = await flynn('route', 'show', id);
    expect(failed.stdout).toMatch(/Last error: +urn:ietf:params:acme:error:dns: NXDOMAIN/);
    expect((await flynn('route')).stdout).toMatch(/managed:failed\n$/);
    const renewFailed = await flynn('route', 'update', id, '--renew-cert');
    expect(renewFailed.code).toBe(1);
    expect(renewFailed.stderr).toMatch(/only an issued certificate can be renewed \(it is failed\)/);

    // --no-managed-cert: no longer managed, the issued certificate stays on the route.
    expect((await flynn('route', 'update', id, '--no-managed-cert')).code).toBe(0);
    const off = await show(id);
    expect(off).not.toHaveProperty('managed_certificate');
    expect(off).toHaveProperty('certificate.id');
    expect(await servedSerial('m.test')).toBe(secondSerial);
    expect((await flynn('route')).stdout.split('\n')[0]).not.toContain('CERT');
  }, 60_000);

  it('refuses it on a sub-path route and for a name another route manages on the port', async () => {
    expect((await flynn('route', 'add', 'http', 'p.test')).code).toBe(0);
    const sub = await flynn('route', 'add', 'http', '--managed-cert', 'p.test', 'p.test/api/');
    expect(sub.code).toBe(1);
    expect(sub.stderr).toMatch(/^flynn: validation_error: Invalid route \(.*"\/" route.*\)\n$/);
    const first = await flynn('route', 'add', 'http', '--managed-cert', 'a.q.test');
    expect(first.code, first.stderr).toBe(0);
    const twice = await flynn('route', 'add', 'http', '--managed-cert', 'a.q.test', '*.q.test');
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(
      new RegExp(
        `^flynn: validation_error: Invalid route \\(.*a\\.q\\.test already has a managed certificate on route ${first.stdout.trim()} .*\\)\\n$`,
      ),
    );
    expect(hasStackTrace(twice.stderr)).toBe(false);
  });

  it('switching to a managed certificate keeps the route’s own one until the issuer’s lands', async () => {
    const own = generateSelfSigned({ names: ['own.test'] });
    const [crt, key] = [join(dir, 'own.crt'), join(dir, 'own.key')];
    writeFileSync(crt, own.certPem);
    writeFileSync(key, own.keyPem);
    const add = await flynn('route', 'add', 'http', '-c', crt, '-k', key, 'own.test');
    expect(add.code, add.stderr).toBe(0);
    const id = add.stdout.trim();
    const ownSerial = new X509Certificate(own.certPem).serialNumber;
    await waitFor(async () => (await servedSerial('own.test')) === ownSerial, { timeoutMs: 10_000 });
    const on = await flynn('route', 'update', id, '--managed-cert');
    expect(on.code, on.stderr).toBe(0);
    expect(await show(id)).toMatchObject({
      managed_certificate: { status: 'pending' },
      certificate: { id: expect.any(String) },
    });
    expect(await servedSerial('own.test')).toBe(ownSerial);
    expect(await issue(id.slice('http/'.length), 'own.test', 'pending')).not.toBe(ownSerial);
  }, 60_000);
});

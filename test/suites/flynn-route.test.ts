import { createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasStackTrace, runFlynn } from '@flynn-edge/cli/testing';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient, type Heartbeater } from '@flynn-edge/discoverd-client';
import { nextPortBlock, waitFor } from '@flynn-edge/process-kit';
import { RouterProcess } from '@flynn-edge/router/testing';
import { generateSelfSigned } from '@flynn-edge/tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 13: `flynn route` against a real discoverd and router (keyed), as an operator runs it.
// Two apps in the cluster store; demo's web service is a backend registered in discoverd.

const KEY = 'route-test-key';
const IP = '127.0.0.131';
const dir = mkdtempSync(join(tmpdir(), 'flynn-route-'));
const base = nextPortBlock(40);
const discoverd = new DiscoverdProcessCluster({
  size: 1,
  firstHost: 131,
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
const apps = { demo: randomUUID(), other: randomUUID() };
let backend: Server;
let heartbeater: Heartbeater;

const env = () => ({ DISCOVERD: discoverd.addrs.join(','), CLUSTER_KEY: KEY });
const flynn = (app: string | undefined, ...args: string[]) =>
  runFlynn(app ? ['-a', app, ...args] : args, env());

/** A certificate for `domain` written to files, as an operator has them. */
function certFiles(name: string, domain: string, keyType: 'rsa' | 'ec', sec1 = false) {
  const pair = generateSelfSigned({ names: [domain], keyType });
  const key = sec1
    ? (createPrivateKey(pair.keyPem).export({ type: 'sec1', format: 'pem' }) as string)
    : pair.keyPem;
  const crt = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(crt, pair.certPem);
  writeFileSync(keyFile, key);
  return { crt, key: keyFile, cert: pair.certPem };
}

/** GET https://domain/ through the router, verifying the certificate against `ca`. */
function httpsGet(domain: string, ca: string): Promise<{ body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: IP,
        port: base + 11,
        servername: domain,
        headers: { host: domain },
        path: '/',
        ca,
        timeout: 5000,
        agent: false,
      },
      (res) => {
        const peer = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate();
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ body, fingerprint: peer?.fingerprint256 ?? '' }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function allRoutes(): Promise<{ id: string; parent_ref?: string }[]> {
  const r = await fetch(`${router.apiUrl}/routes`, { headers: router.authHeaders() });
  return (await r.json()) as { id: string; parent_ref?: string }[];
}

beforeAll(async () => {
  discoverd.start();
  await discoverd.leader(20_000);
  router.start();
  await router.ready();
  for (const [name, id] of Object.entries(apps)) {
    await client.kv.put(`apps/${name}`, JSON.stringify({ id, name }));
  }
  backend = createServer((req, res) => res.end(`demo ${req.headers.host}`));
  await new Promise<void>((r) => backend.listen(0, IP, r));
  heartbeater = await client.addServiceAndRegister(
    'demo-web',
    `${IP}:${(backend.address() as AddressInfo).port}`,
  );
}, 60_000);

afterAll(async () => {
  await heartbeater?.close();
  await client.close();
  backend?.close();
  await router.close();
  await discoverd.close();
}, 30_000);

describe('flynn route', () => {
  it.each([
    [['route', 'add', 'http'], /missing required argument 'domain'/],
    [['route', 'add', 'http', '-p', 'x', 'a.test'], /want a port from 1 to 65535/],
    [['route', 'add', 'http', '--bogus', 'a.test'], /unknown option '--bogus'/],
    [['route', 'add', 'tcp', '-p', '70000'], /want a port from 1 to 65535/],
    [['route', 'add', 'http', 'a.test:80'], /without a port/],
    [['route', 'remove'], /missing required argument 'id'/],
  ])('%j is bad usage: exit 2, one line', async (args, message) => {
    const r = await flynn('demo', ...args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it('needs -a', async () => {
    const r = await flynn(undefined, 'route');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^flynn: .*-a NAME.*\n$/);
  });

  it('-c without -k is refused before anything is sent', async () => {
    const { crt } = certFiles('lonely', 'lonely.test', 'ec');
    const r = await flynn('demo', 'route', 'add', 'http', '-c', crt, 'lonely.test');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('flynn: Both the TLS certificate AND private key need to be specified\n');
  });

  it('adds, lists, updates and removes an HTTPS route; HTTPS verifies against the given certificate', async () => {
    const rsa = certFiles('rsa', 'demo.test', 'rsa');
    const add = await flynn('demo', 'route', 'add', 'http', '-c', rsa.crt, '-k', rsa.key, 'demo.test');
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/^http\/[0-9a-f-]{36}\n$/);
    const id = add.stdout.trim();

    const rsaPrint = new X509Certificate(rsa.cert).fingerprint256;
    await waitFor(
      async () => (await httpsGet('demo.test', rsa.cert).catch(() => null))?.fingerprint === rsaPrint,
      {
        timeoutMs: 15_000,
        what: 'the router serving demo.test with the RSA certificate',
      },
    );
    expect((await httpsGet('demo.test', rsa.cert)).body).toBe('demo demo.test');

    const tcp = await flynn('demo', 'route', 'add', 'tcp', '--leader');
    expect(tcp.code, tcp.stderr).toBe(0);
    const m = /^(tcp\/[0-9a-f-]{36}) listening on port (\d+)\n$/.exec(tcp.stdout);
    expect(m, tcp.stdout).not.toBeNull();
    const [, tcpId, tcpPort] = m!;

    const list = await flynn('demo', 'route');
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0].split(/\s{3,}/)).toEqual(['ROUTE', 'SERVICE', 'ID', 'STICKY', 'LEADER', 'PATH']);
    const rows = lines.slice(1).map((l) => l.split(/\s{3,}/));
    expect(rows).toContainEqual(['https:demo.test', 'demo-web', id, 'false', 'false', '/']);
    expect(rows).toContainEqual([`tcp:${tcpPort}`, 'demo-web', tcpId, 'true']);

    // Update: sticky on and an ECDSA certificate (its key in SEC1 PEM, "EC PRIVATE KEY").
    const ec = certFiles('ec', 'demo.test', 'ec', true);
    const up = await flynn('demo', 'route', 'update', id, '--sticky', '-c', ec.crt, '-k', ec.key);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toBe(`updated ${id}\n`);
    const ecPrint = new X509Certificate(ec.cert).fingerprint256;
    await waitFor(
      async () => (await httpsGet('demo.test', ec.cert).catch(() => null))?.fingerprint === ecPrint,
      {
        timeoutMs: 15_000,
        what: 'the router serving demo.test with the ECDSA certificate',
      },
    );
    // An update without -c/-k keeps the certificate.
    const up2 = await flynn('demo', 'route', 'update', id, '--no-sticky');
    expect(up2.code, up2.stderr).toBe(0);
    const after = (await flynn('demo', 'route')).stdout;
    expect(after).toMatch(new RegExp(`https:demo\\.test\\s+demo-web\\s+${id}\\s+false\\s+false\\s+/`));
    expect((await httpsGet('demo.test', ec.cert)).fingerprint).toBe(ecPrint);

    const upTcp = await flynn('demo', 'route', 'update', tcpId, '--no-leader');
    expect(upTcp.stdout).toBe(`${tcpId} listening on port ${tcpPort}\n`);

    // The same route twice: the router's 409, as one line.
    const dup = await flynn('demo', 'route', 'add', 'http', 'demo.test');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toBe('flynn: conflict: Duplicate route\n');

    for (const r of [id, tcpId]) {
      const rm = await flynn('demo', 'route', 'remove', r);
      expect(rm.code, rm.stderr).toBe(0);
      expect(rm.stdout).toBe(`Route ${r} removed.\n`);
    }
    expect((await flynn('demo', 'route')).stdout).toBe('ROUTE   SERVICE   ID   STICKY   LEADER   PATH\n');
    const again = await flynn('demo', 'route', 'remove', id);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`flynn: route ${id} not found\n`);
  });

  it("refuses a domain another app routes, and another app's route", async () => {
    const add = await flynn('demo', 'route', 'add', 'http', 'owned.test');
    expect(add.code, add.stderr).toBe(0);
    const id = add.stdout.trim();
    const before = await allRoutes();

    for (const domain of ['owned.test', 'OWNED.test/api/']) {
      const r = await flynn('other', 'route', 'add', 'http', domain);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `flynn: domain owned.test is already routed by app ${apps.demo} (${id}); nothing created\n`,
      );
    }
    expect(await allRoutes()).toEqual(before);
    expect((await flynn('other', 'route')).stdout).toBe('ROUTE   SERVICE   ID   STICKY   LEADER   PATH\n');

    const rm = await flynn('other', 'route', 'remove', id);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toBe(`flynn: route ${id} belongs to app ${apps.demo}, not this app\n`);
    const up = await flynn('other', 'route', 'update', id, '--sticky');
    expect(up.code).toBe(1);
    expect(await allRoutes()).toEqual(before);

    // A sub-path of the app's own domain is fine (its / route exists).
    const sub = await flynn('demo', 'route', 'add', 'http', 'owned.test/api');
    expect(sub.code, sub.stderr).toBe(0);
    const list = (await flynn('demo', 'route')).stdout;
    expect(list).toMatch(/http:owned\.test\s+demo-web\s+http\/\S+\s+false\s+false\s+\/api\//);
  });

  it('a sub-path without its / route is the router validation error, as one line', async () => {
    const r = await flynn('demo', 'route', 'add', 'http', 'lonely.test/x/');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^flynn: validation_error: .*default route for domain lonely\.test not found.*\n$/,
    );
  });
});

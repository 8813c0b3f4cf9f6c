import { mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { putChallenge } from '@flynn-edge/acme';
import { PebbleServer } from '@flynn-edge/acme/testing';
import { acmeKeys } from '@flynn-edge/router-core';
import { nextPortBlock, requireCommand, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './helpers.js';

// Managed certificates end to end (issue 18): two router processes with the issuer on, real
// pebble and its test DNS. Every router answers http-01 tokens from the store before route
// matching (on a redirecting route, and for a domain with no route); a route's certificate is
// issued through the router that is not the issuer's host, and HTTPS through both routers
// verifies against pebble's root. Addresses 127.0.0.195-198 (unused by other suites).

const tools = requireCommand('pebble', 'pebble');
const base = nextPortBlock(100);
const pebbleDir = mkdtempSync(join(tmpdir(), 'router-acme-'));
const pebble = new PebbleServer({
  ip: '127.0.0.197',
  acmePort: base + 80,
  managementPort: base + 81,
  httpPort: base + 10,
  dnsIp: '127.0.0.198',
  dnsPort: base + 82,
  dnsManagementPort: base + 83,
  dir: pebbleDir,
});
const cluster = new TestCluster({
  routers: 2,
  workers: 1,
  firstHost: 195,
  base,
  routerEnv: {
    ACME_DIRECTORY_URL: pebble.directoryUrl,
    ACME_CONTACT: 'ops@example.test',
    ACME_TERMS_AGREED: 'true',
    ACME_CA_FILE: pebble.caFile,
    ACME_POLL_INTERVAL: '500ms',
    ACME_STATUS_POLL: '100ms',
    ACME_BACKOFF_BASE: '500ms',
  },
});

function get(
  ip: string,
  port: number,
  host: string,
  path: string,
): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: ip, port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, location: res.headers.location }));
    });
    req.on('error', reject);
    req.end();
  });
}

function httpsGet(ip: string, port: number, host: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: ip, port, path: '/', servername: host, headers: { host }, ca, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!tools.available)('managed certificates through the router', () => {
  beforeAll(async () => {
    await pebble.start();
    await cluster.start();
  }, 90_000);
  afterAll(async () => {
    await cluster.close();
    await pebble.close();
  });

  it('every router answers a stored token before route matching; other tokens go to the route', async () => {
    await cluster.backend('redir', (_req, res) => res.end('backend'));
    const r = await cluster.api('POST', '/routes', {
      type: 'http',
      service: 'redir',
      domain: 'redir.acme.test',
      https_redirect: true,
    });
    expect(r.status).toBe(200);
    await putChallenge(cluster.client.kv, 'tok-1', 'redir.acme.test', 'tok-1.thumb');
    await putChallenge(cluster.client.kv, 'tok-2', 'noroute.acme.test', 'tok-2.thumb');
    for (const router of cluster.routers) {
      const { ip, httpPort } = router.opts;
      await waitFor(async () => (await get(ip, httpPort, 'redir.acme.test', '/x')).status === 308, {
        what: 'the redirect route',
      });
      const ok = await waitFor(async () => {
        const res = await get(ip, httpPort, 'redir.acme.test', '/.well-known/acme-challenge/tok-1');
        return res.status === 200 && res;
      });
      expect(ok.body).toBe('tok-1.thumb');
      expect((await get(ip, httpPort, 'noroute.acme.test', '/.well-known/acme-challenge/tok-2')).body).toBe(
        'tok-2.thumb',
      );
      // Another domain's token, an unknown token: routed as any request (here the route's
      // redirect), so an app that runs its own http-01 still gets its requests.
      expect((await get(ip, httpPort, 'redir.acme.test', '/.well-known/acme-challenge/tok-2')).status).toBe(
        308,
      );
      expect((await get(ip, httpPort, 'redir.acme.test', '/.well-known/acme-challenge/nope')).status).toBe(
        308,
      );
    }
    await cluster.client.kv.deletePrefix(acmeKeys.challengesPrefix);
    await waitFor(
      async () =>
        (
          await get(
            cluster.routers[0].opts.ip,
            base + 10,
            'redir.acme.test',
            '/.well-known/acme-challenge/tok-1',
          )
        ).status === 308,
      { what: 'the token gone' },
    );
  });

  it('issues a route’s certificate through the other router; HTTPS verifies through both', async () => {
    await cluster.backend('app', (_req, res) => res.end('app over tls'));
    // The domain resolves to router 2 only: the ACME server never asks the issuer's host.
    await pebble.addA('app.acme.test', cluster.routers[1].opts.ip);
    const r = await cluster.api('POST', '/routes', {
      type: 'http',
      service: 'app',
      domain: 'app.acme.test',
      managed_certificate: { domain: 'app.acme.test' },
    });
    expect(r.status).toBe(200);
    const id = r.body.id as string;
    const issued = await waitFor(
      async () => {
        const got = await cluster.api('GET', `/routes/http/${id}`);
        return got.body?.managed_certificate?.status === 'issued' && got.body;
      },
      { timeoutMs: 30_000, what: 'the managed certificate issued' },
    );
    expect(issued.managed_certificate.expires_at).toBeTruthy();
    const root = await pebble.rootPem();
    for (const router of cluster.routers) {
      const { ip, httpsPort } = router.opts;
      const body = await waitFor(() => httpsGet(ip, httpsPort, 'app.acme.test', root).catch(() => false), {
        timeoutMs: 10_000,
        what: `HTTPS via ${ip}`,
      });
      expect(body).toBe('app over tls');
    }
    const metrics = await (await fetch(`${cluster.routers[0].apiUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /flynn_router_managed_certificate_status\{domain="app\.acme\.test",status="issued"\} 1/,
    );
    expect(metrics).toMatch(
      /flynn_router_managed_certificate_expiry_timestamp_seconds\{domain="app\.acme\.test"\} \d/,
    );
    const leaders = await Promise.all(
      cluster.routers.map(async (rt) =>
        /^flynn_router_acme_issuer 1$/m.test(await (await fetch(`${rt.apiUrl}/metrics`)).text()),
      ),
    );
    expect(leaders.filter(Boolean)).toHaveLength(1);
  }, 60_000);
});

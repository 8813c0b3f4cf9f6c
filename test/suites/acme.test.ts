import type { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PebbleServer } from '@flynn-edge/acme/testing';
import { runFlynn } from '@flynn-edge/cli/testing';
import { consecutivePorts, httpGet, LocalCluster } from '@flynn-edge/local-cluster';
import { nextPortBlock } from '@flynn-edge/process-kit';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 18, judged against a real ACME server: pebble and its test DNS, three routers of a real
// cluster (one flynn-host per address, the router an omni system app), configured the operator's
// way (`flynn -a router env set ACME_…`, a rolling redeploy). Each scenario of the issue: issuance
// proved through a router other than the issuer's, a forced renewal under HTTPS load, a domain that
// points nowhere, the issuer killed in the middle of an order, every router restarted, twenty
// routes at once under the cap, and bad input.

const HOSTS = ['127.0.0.221', '127.0.0.222', '127.0.0.223'];
const PEBBLE_IP = '127.0.0.224';
const DNS_IP = '127.0.0.225';
/** Where the held domain points: a server that keeps pebble's validation waiting. */
const HOLD_IP = '127.0.0.226';
const NOWHERE_IP = '127.0.0.227';
const CAP = 3;

const dir = mkdtempSync(join(tmpdir(), 'acme-suite-'));
const BASE = nextPortBlock(10 + 3 * 40 + 10);
const cluster = new LocalCluster({
  hosts: HOSTS,
  dir,
  ports: { ...consecutivePorts(BASE, BASE + 10), jobPortsPerHost: 40 },
});
const pebble = new PebbleServer({
  ip: PEBBLE_IP,
  acmePort: BASE + 130,
  managementPort: BASE + 131,
  httpPort: cluster.ports.http,
  dnsIp: DNS_IP,
  dnsPort: BASE + 132,
  dnsManagementPort: BASE + 133,
  dir: join(dir, 'pebble'),
});
let root: string;

const flynn = (...args: string[]) =>
  runFlynn(args, { DISCOVERD: cluster.discoverd, CLUSTER_KEY: cluster.keys.clusterKey });

async function ok(...args: string[]): Promise<string> {
  const r = await flynn(...args);
  if (r.code !== 0) throw new Error(`flynn ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

interface Managed {
  domain: string;
  status: string;
  last_error?: string;
  attempts?: number;
  next_attempt_at?: string;
  certificate_id?: string;
  expires_at?: string;
  updated_at: string;
}

interface RouteView {
  id: string;
  domain: string;
  managed_certificate?: Managed;
}

/** Every route, from the router API on host 1. */
async function routes(): Promise<RouteView[]> {
  const r = await fetch(`http://${HOSTS[0]}:${cluster.ports.routerApi}/routes`, {
    headers: { authorization: `Bearer ${cluster.keys.clusterKey}` },
    signal: AbortSignal.timeout(5000),
  });
  if (!r.ok) throw new Error(`GET /routes: ${r.status}`);
  return (await r.json()) as RouteView[];
}

async function route(domain: string): Promise<RouteView> {
  const found = (await routes()).find((r) => r.domain === domain);
  if (!found) throw new Error(`no route ${domain}`);
  return found;
}

/** Waits until the route's managed certificate is in `status` (and `extra` holds). */
async function waitStatus(
  domain: string,
  status: string,
  extra: (m: Managed) => boolean = () => true,
  timeoutMs = 60_000,
): Promise<Managed> {
  let last: Managed | undefined;
  return waitFor(
    async () => {
      last = (await route(domain)).managed_certificate;
      return last?.status === status && extra(last) ? last : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `${domain} ${status} (last: ${JSON.stringify(last)})` },
  );
}

/** One HTTPS request through router k, verified against pebble's root; the served serial. */
function httpsVia(k: number, domain: string, agent = false): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: HOSTS[k],
        port: cluster.ports.https,
        servername: domain,
        headers: { host: domain },
        ca: root,
        agent,
        timeout: 10_000,
      },
      (res: IncomingMessage) => {
        const sock = res.socket as unknown as { getPeerX509Certificate?: () => X509Certificate | undefined };
        const serial = sock.getPeerX509Certificate?.()?.serialNumber ?? '';
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, serial }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The host index (0-based) of the elected issuer, from discoverd's router-acme leader. */
async function issuer(): Promise<number> {
  return waitFor(
    async () => {
      const r = await fetch(`http://${HOSTS[0]}:${cluster.ports.discoverd}/services/router-acme/leader`, {
        signal: AbortSignal.timeout(2000),
      });
      if (!r.ok) return undefined;
      const addr = ((await r.json()) as { addr?: string }).addr ?? '';
      const k = HOSTS.indexOf(addr.split(':')[0]!);
      return k >= 0 ? k : undefined;
    },
    { timeoutMs: 60_000, what: 'a router-acme leader' },
  );
}

/** The running router job's pid on host k. */
async function routerPid(k: number): Promise<number> {
  return waitFor(
    async () => {
      const jobs = (await cluster.hostApi(k, 'GET', '/host/jobs')) as {
        app: { name: string };
        state: string;
        pid?: number;
        stopRequested?: boolean;
      }[];
      return jobs.find((j) => j.app.name === 'router' && j.state === 'running' && !j.stopRequested)?.pid;
    },
    { timeoutMs: 60_000, what: `the router on host ${k + 1}` },
  );
}

async function addManaged(domain: string, target: string): Promise<number> {
  await pebble.addA(domain, target);
  const t0 = Date.now();
  await ok('-a', 'demo', 'route', 'add', 'http', '--managed-cert', domain);
  return t0;
}

/** Answers pebble's validation requests for held domains only when released (then proxies). */
class HoldServer {
  private server?: Server;
  held = 0;
  private waiting: (() => void)[] = [];
  private released = false;
  constructor(private readonly forwardTo: string) {}
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.held++;
      const forward = () => {
        const up = httpRequest(
          { host: this.forwardTo, port: cluster.ports.http, path: req.url, headers: req.headers },
          (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          },
        );
        up.on('error', () => res.writeHead(502).end());
        up.end();
      };
      if (this.released) forward();
      else this.waiting.push(forward);
    });
    await new Promise<void>((r) => this.server!.listen(cluster.ports.http, HOLD_IP, r));
  }
  release(): void {
    this.released = true;
    for (const f of this.waiting.splice(0)) f();
  }
  async close(): Promise<void> {
    this.release();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

beforeAll(async () => {
  mkdirSync(join(dir, 'pebble'), { recursive: true });
  await Promise.all([cluster.start(), pebble.start()]);
  root = await pebble.rootPem();
  await ok(
    '-a',
    'router',
    'env',
    'set',
    `ACME_DIRECTORY_URL=${pebble.directoryUrl}`,
    'ACME_CONTACT=mailto:ops@acme.test',
    'ACME_TERMS_AGREED=true',
    `ACME_CA_FILE=${pebble.caFile}`,
    `ACME_MAX_IN_FLIGHT=${CAP}`,
    'ACME_POLL_INTERVAL=500ms',
    'ACME_STATUS_POLL=100ms',
    'ACME_BACKOFF_BASE=1s',
    'ACME_BACKOFF_MAX=4s',
    'ACME_HTTP_RETRIES=0',
    'ACME_ORDER_TIMEOUT=20s',
  );
}, 300_000);

afterAll(async () => {
  await cluster.close();
  await pebble.close();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('issue 18: managed certificates against pebble', { timeout: 180_000 }, () => {
  it('1. issues a certificate proved through a router other than the issuer; every router serves it', async () => {
    const lead = await issuer();
    const via = (lead + 1) % HOSTS.length;
    const t0 = await addManaged('one.acme.test', HOSTS[via]!);
    const m = await waitStatus('one.acme.test', 'issued');
    const first = await waitFor(
      () =>
        httpsVia(0, 'one.acme.test')
          .then((r) => (r.status === 200 ? r : undefined))
          .catch(() => undefined),
      { timeoutMs: 30_000, intervalMs: 50, what: 'a verified HTTPS request' },
    );
    console.log(
      `acme: route add --managed-cert → a verified HTTPS request in ${Date.now() - t0} ms (issuer host ${lead + 1}, proved via host ${via + 1})`,
    );
    expect(m.certificate_id).toBeTruthy();
    expect(Date.parse(m.expires_at!)).toBeGreaterThan(Date.now());
    for (let k = 0; k < HOSTS.length; k++) {
      const r = await waitFor(
        () =>
          httpsVia(k, 'one.acme.test')
            .then((x) => (x.serial === first.serial ? x : undefined))
            .catch(() => undefined),
        { timeoutMs: 30_000, intervalMs: 50, what: `router ${k + 1} serving the certificate` },
      );
      expect(r.status).toBe(200);
    }
    const list = await ok('-a', 'demo', 'route');
    expect(list).toMatch(/managed:issued/);
  });

  it('2. a forced renewal under HTTPS load: a new serial everywhere, no failed request', async () => {
    const before = (await httpsVia(0, 'one.acme.test')).serial;
    const { id } = await route('one.acme.test');
    let stop = false;
    let failures = 0;
    let requests = 0;
    const errors: string[] = [];
    const load = Array.from({ length: 4 }, async (_x, w) => {
      for (let i = 0; !stop; i++) {
        try {
          const r = await httpsVia((w + i) % HOSTS.length, 'one.acme.test');
          requests++;
          if (r.status !== 200) {
            failures++;
            errors.push(String(r.status));
          }
        } catch (err) {
          failures++;
          errors.push((err as Error).message);
        }
      }
    });
    try {
      await ok('-a', 'demo', 'route', 'update', `http/${id}`, '--renew-cert');
      for (let k = 0; k < HOSTS.length; k++) {
        await waitFor(
          () => httpsVia(k, 'one.acme.test').then((r) => r.serial !== before && r.serial !== ''),
          { timeoutMs: 60_000, intervalMs: 50, what: `router ${k + 1} serving the renewed certificate` },
        );
      }
    } finally {
      stop = true;
      await Promise.all(load);
    }
    console.log(
      `acme: forced renewal under load: ${requests} HTTPS requests (new handshake each), ${failures} failed`,
    );
    expect((await route('one.acme.test')).managed_certificate?.status).toBe('issued');
    expect({ failures, errors: errors.slice(0, 5) }).toEqual({ failures: 0, errors: [] });
    expect(requests).toBeGreaterThan(20);
  });

  it("3. a domain pointing where no router is: failed with pebble's error, retried with backoff, HTTP still served", async () => {
    await addManaged('nowhere.acme.test', NOWHERE_IP);
    const failed = await waitStatus('nowhere.acme.test', 'failed');
    expect(failed.last_error).toMatch(/nowhere\.acme\.test/);
    expect(failed.last_error).not.toContain('\n');
    expect(Date.parse(failed.next_attempt_at!)).toBeGreaterThan(Date.parse(failed.updated_at) - 1000);
    // Retried: the attempts grow, each after its pause.
    const again = await waitStatus('nowhere.acme.test', 'failed', (m) => (m.attempts ?? 0) >= 2);
    expect(again.attempts).toBeGreaterThanOrEqual(2);
    const http = await httpGet(`http://${HOSTS[1]}:${cluster.ports.http}/`, { host: 'nowhere.acme.test' });
    expect(http.status).toBe(200);
  });

  it('4. the issuer killed in the middle of an order: another router finishes it', async () => {
    const lead = await issuer();
    const other = (lead + 1) % HOSTS.length;
    const hold = new HoldServer(HOSTS[other]!);
    await hold.start();
    try {
      await addManaged('held.acme.test', HOLD_IP);
      // pebble is validating (its request is held here): the order is under way. The issuer
      // stops answering (frozen: its discoverd registration expires, another router leads), then
      // dies; the host's supervisor starts a new router there, which joins as the newest.
      await waitFor(() => hold.held > 0, { timeoutMs: 60_000, intervalMs: 50, what: "pebble's validation" });
      const pid = await routerPid(lead);
      process.kill(pid, 'SIGSTOP');
      let next: number;
      try {
        next = await waitFor(async () => ((await issuer()) !== lead ? issuer() : undefined), {
          timeoutMs: 90_000,
          intervalMs: 250,
          what: 'another issuer',
        });
      } finally {
        process.kill(pid, 'SIGKILL');
      }
      hold.release();
      const m = await waitStatus('held.acme.test', 'issued', () => true, 120_000);
      expect(m.certificate_id).toBeTruthy();
      expect(next).not.toBe(lead);
      const r = await waitFor(
        () =>
          httpsVia(other, 'held.acme.test')
            .then((x) => (x.status === 200 ? x : undefined))
            .catch(() => undefined),
        { timeoutMs: 30_000, intervalMs: 100, what: 'the held domain over HTTPS' },
      );
      expect(r.status).toBe(200);
    } finally {
      await hold.close();
    }
  });

  it('5. every router restarted: no new order (the certificate and the account persist)', async () => {
    const before = await routes();
    const account = (await ok('kv', 'get', 'acme/account')).trim();
    const issued = before.filter((r) => r.managed_certificate?.status === 'issued');
    expect(issued.length).toBeGreaterThanOrEqual(2);
    const pids = await Promise.all(HOSTS.map((_h, k) => routerPid(k)));
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    for (let k = 0; k < HOSTS.length; k++) {
      await waitFor(async () => (await routerPid(k)) !== pids[k], {
        timeoutMs: 60_000,
        what: `router ${k + 1} restarted`,
      });
    }
    // Each router back: its API answers and it serves the issued certificate again.
    for (let k = 0; k < HOSTS.length; k++) {
      await waitFor(
        async () => {
          const api = await fetch(`http://${HOSTS[k]}:${cluster.ports.routerApi}/routes`, {
            headers: { authorization: `Bearer ${cluster.keys.clusterKey}` },
            signal: AbortSignal.timeout(2000),
          }).catch(() => undefined);
          if (api?.status !== 200) return false;
          return (await httpsVia(k, 'one.acme.test').catch(() => undefined))?.status === 200;
        },
        { timeoutMs: 90_000, intervalMs: 250, what: `router ${k + 1} serving again` },
      );
    }
    await issuer();
    // A new route is issued: the new issuer has been through its routes since the restart.
    await addManaged('after.acme.test', HOSTS[2]!);
    await waitStatus('after.acme.test', 'issued');
    const after = await routes();
    for (const r of issued) {
      const now = after.find((x) => x.id === r.id)?.managed_certificate;
      expect(now?.certificate_id, r.domain).toBe(r.managed_certificate?.certificate_id);
      expect(now?.expires_at, r.domain).toBe(r.managed_certificate?.expires_at);
    }
    expect((await ok('kv', 'get', 'acme/account')).trim()).toBe(account);
  });

  it(`6. twenty routes at once: every certificate issued, never more than ${CAP} orders in flight`, async () => {
    const domains = Array.from({ length: 20 }, (_x, i) => `r${i + 1}.acme.test`);
    for (const d of domains) await pebble.addA(d, HOSTS[i2(d)]!);
    let maxInFlight = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const out = await flynn('kv', 'list', 'acme/orders/');
        if (out.code === 0) {
          const ids = out.stdout.trim().split('\n').filter(Boolean);
          const ours = new Set(
            (await routes()).filter((r) => /^r\d+\.acme\.test$/.test(r.domain)).map((r) => r.id),
          );
          maxInFlight = Math.max(maxInFlight, ids.filter((k) => ours.has(k.split('/').pop()!)).length);
        }
      }
    })();
    try {
      await Promise.all(
        domains.map((domain) =>
          fetch(`http://${HOSTS[0]}:${cluster.ports.routerApi}/routes`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${cluster.keys.clusterKey}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify({
              type: 'http',
              domain,
              service: 'demo-web',
              drain_backends: true,
              managed_certificate: {},
            }),
          }).then(async (r) => {
            if (!r.ok) throw new Error(`${domain}: ${r.status} ${await r.text()}`);
          }),
        ),
      );
      for (const d of domains) await waitStatus(d, 'issued', () => true, 120_000);
    } finally {
      sampling = false;
      await sampler;
    }
    console.log(`acme: twenty routes at once: at most ${maxInFlight} orders in flight (cap ${CAP})`);
    expect(maxInFlight).toBeLessThanOrEqual(CAP);
    expect(maxInFlight).toBeGreaterThan(0);
  });

  it('7. bad input: a wildcard or an IP is refused; an unreachable directory fails the route alone', async () => {
    const wild = await flynn('-a', 'demo', 'route', 'add', 'http', '--managed-cert', '*.wild.acme.test');
    expect(wild.code).not.toBe(0);
    expect(wild.stderr).toMatch(/http-01 cannot prove a wildcard/);
    const ip = await flynn('-a', 'demo', 'route', 'add', 'http', '--managed-cert', '127.0.0.9');
    expect(ip.code).not.toBe(0);
    expect(ip.stderr.trim().split('\n')).toHaveLength(1);
    expect((await routes()).some((r) => r.domain === '*.wild.acme.test' || r.domain === '127.0.0.9')).toBe(
      false,
    );

    await ok('-a', 'router', 'env', 'set', `ACME_DIRECTORY_URL=https://${NOWHERE_IP}:1/dir`);
    await addManaged('unreachable.acme.test', HOSTS[0]!);
    const m = await waitStatus('unreachable.acme.test', 'failed');
    expect(m.last_error).toMatch(/ECONNREFUSED|unreachable|connect/i);
    // Everything else is as it was: the issued certificates still serve through every router.
    for (let k = 0; k < HOSTS.length; k++) expect((await httpsVia(k, 'one.acme.test')).status).toBe(200);
    expect((await route('one.acme.test')).managed_certificate?.status).toBe('issued');
  });
});

/** A router for each numbered domain, spread over the three. */
function i2(domain: string): number {
  return Number(/\d+/.exec(domain)?.[0] ?? 0) % HOSTS.length;
}

import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient, type KvClient } from '@flynn-edge/discoverd-client';
import type { HTTPRoute, ManagedCertificate, Route } from '@flynn-edge/router-core';
import { nextPortBlock } from '@flynn-edge/testkit';
import { ChallengeTable } from '../src/challenges.js';
import type { IssuerStore, ManagedExpect } from '../src/issuer.js';
import { PebbleServer } from '../src/testing.js';

// The issuer's world without a router: one discoverd (the store), pebble and its test DNS, and a
// small HTTP server answering challenges from a ChallengeTable where pebble dials http-01.
// Addresses 127.0.0.191-194 (unused by other suites): discoverd .191, the challenge server .192,
// pebble .193, the test DNS .194.

export const HOSTS = {
  discoverd: '127.0.0.191',
  web: '127.0.0.192',
  pebble: '127.0.0.193',
  dns: '127.0.0.194',
};

export class IssuerWorld {
  readonly dir = mkdtempSync(join(tmpdir(), 'acme-test-'));
  readonly base = nextPortBlock(10);
  readonly discoverd = new DiscoverdProcessCluster({
    size: 1,
    firstHost: 191,
    port: this.base,
    dnsPort: this.base + 1,
    dir: this.dir,
  });
  readonly client = new DiscoverdClient({ servers: this.discoverd.addrs });
  readonly pebble = new PebbleServer({
    ip: HOSTS.pebble,
    acmePort: this.base + 2,
    managementPort: this.base + 3,
    httpPort: this.base + 4,
    dnsIp: HOSTS.dns,
    dnsPort: this.base + 5,
    dnsManagementPort: this.base + 6,
    dir: this.dir,
  });
  readonly challenges = new ChallengeTable(this.client.kv);
  /** Challenge requests the web server answered 200. */
  served = 0;
  private web: Server | undefined;

  async start(): Promise<void> {
    this.discoverd.start();
    await this.discoverd.leader(20_000);
    await this.pebble.start();
    await this.challenges.start();
    this.web = createServer((req, res) => {
      const body = this.challenges.answer(req.headers.host, req.url ?? '');
      if (body !== undefined) this.served++;
      res.writeHead(body === undefined ? 404 : 200).end(body ?? 'not found');
    });
    await new Promise<void>((r) => this.web!.listen(this.pebble.opts.httpPort, HOSTS.web, r));
  }

  async close(): Promise<void> {
    this.web?.close();
    this.challenges.stop();
    await this.client.close();
    await this.pebble.close();
    await this.discoverd.close();
  }
}

/**
 * Routes with managed certificates in the real store under a test prefix, with the record write
 * RouteStore implements (a guarded transaction): the issuer's side of the seam, without the API.
 */
export class TestRouteStore implements IssuerStore {
  /** Successful writes per route id, and the certificates written. */
  readonly writes = new Map<string, number>();
  readonly certificates = new Map<string, { cert: string; key: string }>();
  /** Every certificate a write carried (a retried write carries the same one). */
  readonly offered: { id: string; cert: string }[] = [];
  /** The next this many writes lose to a real concurrent write of the route (contention). */
  contend = 0;

  constructor(
    private readonly kv: KvClient,
    private readonly prefix = `test-routes/${Math.random().toString(36).slice(2)}/`,
  ) {}

  async add(id: string, domain: string, m: Partial<ManagedCertificate> = {}): Promise<void> {
    const now = new Date().toISOString();
    const route: HTTPRoute = {
      type: 'http',
      id,
      domain,
      service: 'web',
      path: '/',
      managed_certificate: { domain, status: 'pending', created_at: now, updated_at: now, ...m },
    } as HTTPRoute;
    await this.kv.put(`${this.prefix}${id}`, JSON.stringify(route));
  }

  async get(id: string): Promise<HTTPRoute> {
    return (await this.getRoute('http', id)) as HTTPRoute;
  }

  async listRoutes(): Promise<Route[]> {
    return (await this.kv.listAll(this.prefix)).entries.map((e) => JSON.parse(e.value) as Route);
  }

  async getRoute(_type: string, id: string): Promise<Route> {
    const e = await this.kv.get(`${this.prefix}${id}`);
    if (!e) throw Object.assign(new Error(`no route ${id}`), { status: 404 });
    return JSON.parse(e.value) as Route;
  }

  async recordManagedCertificate(
    id: string,
    u: {
      expect?: ManagedExpect;
      state: Partial<ManagedCertificate>;
      certificate?: { cert: string; key: string };
    },
  ): Promise<Route | undefined> {
    const key = `${this.prefix}${id}`;
    if (u.certificate) this.offered.push({ id, cert: u.certificate.cert });
    const e = await this.kv.get(key);
    if (!e) return undefined;
    const r = JSON.parse(e.value) as HTTPRoute;
    if (!r.managed_certificate || !matches(r.managed_certificate, u.expect)) return undefined;
    if (this.contend > 0) {
      this.contend--;
      await this.kv.put(key, e.value);
    }
    const m = { ...r.managed_certificate, ...u.state, updated_at: new Date().toISOString() };
    for (const k of Object.keys(m) as (keyof ManagedCertificate)[]) if (m[k] === undefined) delete m[k];
    const next = { ...r, managed_certificate: m };
    const res = await this.kv.txn({
      compare: [{ key, op: '=', mod_revision: e.mod_revision }],
      success: [{ op: 'put', key, value: JSON.stringify(next) }],
    });
    if (!res.succeeded) return undefined;
    this.writes.set(id, (this.writes.get(id) ?? 0) + 1);
    if (u.certificate) this.certificates.set(id, u.certificate);
    return next;
  }
}

function matches(m: ManagedCertificate, expect: ManagedExpect | undefined): boolean {
  if (expect === undefined) return true;
  if (typeof expect === 'string') return m.status === expect;
  return m.status === expect.status && m.domain === expect.domain && m.created_at === expect.created_at;
}

export type FakeAccountAnswer = 'rate-limited' | 'hang';

/**
 * The start of an ACME directory over plain HTTP: a directory, nonces, and a newAccount that
 * answers a rate limit (429, rateLimited, Retry-After) or never answers. Counts the newAccount posts.
 */
export class FakeAcme {
  accountPosts = 0;
  answer: FakeAccountAnswer = 'rate-limited';
  retryAfter = '7200';
  private readonly server = createServer((req, res) => this.handle(req, res));
  private readonly held: ServerResponse[] = [];

  get directoryUrl(): string {
    const a = this.server.address() as AddressInfo;
    return `http://${a.address}:${a.port}/dir`;
  }

  async start(host: string): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, host, r));
  }

  async close(): Promise<void> {
    for (const r of this.held) r.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const base = this.directoryUrl.replace(/\/dir$/, '');
    req.resume();
    if (req.url === '/dir') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          newNonce: `${base}/nonce`,
          newAccount: `${base}/account`,
          newOrder: `${base}/order`,
          meta: {},
        }),
      );
      return;
    }
    if (req.url === '/nonce') {
      res.writeHead(200, { 'replay-nonce': `n${Date.now()}`, 'cache-control': 'no-store' }).end();
      return;
    }
    if (req.url === '/account' && req.method === 'POST') {
      this.accountPosts++;
      if (this.answer === 'hang') {
        this.held.push(res);
        return;
      }
      res
        .writeHead(429, {
          'content-type': 'application/problem+json',
          'retry-after': this.retryAfter,
          'replay-nonce': `n${Date.now()}`,
        })
        .end(
          JSON.stringify({
            type: 'urn:ietf:params:acme:error:rateLimited',
            detail: 'too many new registrations from this address',
            status: 429,
          }),
        );
      return;
    }
    res.writeHead(404).end();
  }
}

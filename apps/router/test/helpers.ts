import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient, type Heartbeater } from '@flynn-edge/discoverd-client';
import { nextPortBlock } from '@flynn-edge/testkit';
import { RouterProcess } from '../src/process.js';

// A real cluster for the router's process-level tests: discoverd processes, router processes on
// 127.0.0.x (each with its own ports), and HTTP backends registered in discoverd.

export interface TestClusterOptions {
  routers?: number;
  workers?: number;
  clusterKey?: string;
  /** First host octet for discoverd and the routers (default 41: 127.0.0.41, .42, …). */
  firstHost?: number;
  routerEnv?: Record<string, string>;
  routerArgs?: string[];
  /** Port base (default: random below the ephemeral range); ports base+10… are the routers'. */
  base?: number;
}

export class TestCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'router-test-'));
  readonly discoverd: DiscoverdProcessCluster;
  readonly routers: RouterProcess[] = [];
  readonly client: DiscoverdClient;
  readonly base: number;
  private readonly backends: Backend[] = [];

  constructor(opts: TestClusterOptions = {}) {
    this.base = opts.base ?? randomBase();
    const first = opts.firstHost ?? 41;
    // discoverd shares the routers' first address: each test file owns its addresses outright.
    this.discoverd = new DiscoverdProcessCluster({
      size: 1,
      firstHost: first,
      port: this.base,
      dnsPort: this.base + 1,
      dir: this.dir,
      ...(opts.clusterKey ? { env: { CLUSTER_KEY: opts.clusterKey } } : {}),
    });
    const n = opts.routers ?? 1;
    for (let i = 0; i < n; i++) {
      const ip = `127.0.0.${first + i}`;
      this.routers.push(
        new RouterProcess({
          ip,
          httpPort: this.base + 10,
          httpsPort: this.base + 11,
          apiPort: this.base + 12,
          tcpRange: { start: this.base + 50, end: this.base + 59 },
          discoverd: this.discoverd.addrs.join(','),
          workers: opts.workers ?? 1,
          clusterKey: opts.clusterKey,
          hostName: `host-${i + 1}`,
          env: opts.routerEnv,
          args: opts.routerArgs,
          logFile: join(this.dir, `router-${i + 1}.log`),
        }),
      );
    }
    this.client = new DiscoverdClient({ servers: this.discoverd.addrs, clusterKey: opts.clusterKey });
  }

  async start(): Promise<void> {
    this.discoverd.start();
    await this.discoverd.leader(20_000);
    for (const r of this.routers) r.start();
    await Promise.all(this.routers.map((r) => r.ready()));
  }

  /** `http://<router ip>:<http port>` */
  httpUrl(i = 0): string {
    const r = this.routers[i].opts;
    return `http://${r.ip}:${r.httpPort}`;
  }

  /** POST/PUT/DELETE/GET on router i's API; returns status and parsed JSON (or text). */
  // biome-ignore lint/suspicious/noExplicitAny: response shapes are checked by the assertions
  async api(method: string, path: string, body?: unknown, i = 0): Promise<{ status: number; body: any }> {
    const r = this.routers[i];
    const res = await fetch(`${r.apiUrl}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...r.authHeaders() },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: res.status, body: parsed };
  }

  /** An HTTP backend registered in discoverd under `service`. */
  async backend(
    service: string,
    handler?: (req: IncomingMessage, res: ServerResponse) => void,
  ): Promise<Backend> {
    const b = new Backend(service, handler);
    await b.listen();
    b.heartbeater = await this.client.addServiceAndRegister(service, b.addr, {
      meta: { FLYNN_APP_NAME: `${service}-app`, FLYNN_JOB_ID: `job-${b.port}` },
    });
    this.backends.push(b);
    return b;
  }

  async close(): Promise<void> {
    await this.client.close();
    for (const b of this.backends) b.close();
    await Promise.all(this.routers.map((r) => r.close()));
    await this.discoverd.close();
  }
}

/** A base of 100 ports no other suite of this run holds (process-kit's per-worker blocks). */
export function randomBase(): number {
  return nextPortBlock(100);
}

export class Backend {
  readonly server: Server;
  heartbeater: Heartbeater | undefined;
  requests = 0;
  readonly id = randomBytes(4).toString('hex');

  constructor(
    readonly service: string,
    handler?: (req: IncomingMessage, res: ServerResponse) => void,
  ) {
    this.server = createServer((req, res) => {
      this.requests++;
      if (handler) return handler(req, res);
      res.setHeader('x-backend', this.id);
      res.end(`${this.id} ${req.url}`);
    });
    this.server.keepAliveTimeout = 60_000;
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Deregister from discoverd (the instance goes down at once). */
  async deregister(): Promise<void> {
    await this.heartbeater?.close();
  }

  close(): void {
    void this.heartbeater?.close();
    this.server.closeAllConnections();
    this.server.close();
  }
}

/** Keep-alive connections for the tests' requests through the routers. */
export const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface Answer {
  status: number;
  text: string;
  headers: IncomingHttpHeaders;
}

/**
 * GET through a router with a Host header (fetch cannot set Host: undici replaces it).
 * Rejects on a connection error or after 10 s.
 */
export function get(url: string, host: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { host, ...headers }, agent, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          text: Buffer.concat(chunks).toString(),
          headers: res.headers,
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Keeps `concurrency` clients sending GETs until stopped; counts answers by status and errors. */
export function load(url: string, host: string, concurrency = 8) {
  const counts = { ok: 0, failed: 0, statuses: new Map<number, number>(), errors: [] as string[] };
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        const r = await get(url, host);
        counts.statuses.set(r.status, (counts.statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200) counts.ok++;
        else counts.failed++;
      } catch (err) {
        counts.failed++;
        if (counts.errors.length < 10) counts.errors.push(String(err));
      }
    }
  });
  return {
    counts,
    async stop() {
      running = false;
      await Promise.all(loops);
      return counts;
    },
  };
}

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppStore, type Artifact, Deployer, keys, SYSTEM_APP_META } from '@flynn-edge/app-model';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { isSameProcessAlive, type Job } from '@flynn-edge/host-jobs';
import { type ManagedProcess, waitFor } from '@flynn-edge/process-kit';
import { generateSelfSigned } from '@flynn-edge/tls';
import { DaemonHosts } from './daemon-hosts.js';
import { localHostDaemon } from './local-host.js';

// A whole cluster on one machine, run the way Flynn runs one: a flynn-host daemon per address,
// and every other component a job of theirs — discoverd on each host; a router, a logaggregator
// and the status service on host 1; a demo app of two health-checked web jobs on hosts 2 and 3,
// routed at demo.<domain>, and status.<domain> routed to the status service. `npm start` runs it
// on 127.0.0.1-3 with the default ports; end-to-end tests run it on their own addresses and ports.

export interface LocalClusterPorts {
  discoverd: number;
  dns: number;
  host: number;
  http: number;
  https: number;
  routerApi: number;
  syslog: number;
  aggregatorApi: number;
  status: number;
  /** Host n (1-based) gives its jobs ports base + (n-1)*per … base + n*per - 1. */
  jobPortsBase: number;
  /** Default 1000. */
  jobPortsPerHost?: number;
}

export const DEFAULT_PORTS: LocalClusterPorts = {
  discoverd: 1111,
  dns: 5353,
  host: 1113,
  http: 8080,
  https: 8443,
  routerApi: 5000,
  syslog: 1514,
  aggregatorApi: 1114,
  status: 1115,
  jobPortsBase: 20_000,
};

/** Ports base … base + 8 in the order of LocalClusterPorts, for tests that run several clusters. */
export function consecutivePorts(base: number, jobPortsBase: number): LocalClusterPorts {
  return {
    discoverd: base,
    dns: base + 1,
    host: base + 2,
    http: base + 3,
    https: base + 4,
    routerApi: base + 5,
    syslog: base + 6,
    aggregatorApi: base + 7,
    status: base + 8,
    jobPortsBase,
  };
}

export interface ClusterKeys {
  /** The status service's key for requests from public addresses. */
  authKey: string;
  /** The router's sticky-session cookie key (32 bytes, base64). */
  cookieKey: string;
  /** Required by every write outside the registry API (design.md). */
  clusterKey: string;
}

export interface LocalClusterOptions {
  /** One flynn-host daemon per address; three or more make a fault-tolerant discoverd. */
  hosts: string[];
  dir: string;
  ports?: Partial<LocalClusterPorts>;
  /** Default localflynn.test (Flynn's CLUSTER_DOMAIN). */
  domain?: string;
  keys?: Partial<ClusterKeys>;
  /** One ZFS pool per host named `<zfsPoolPrefix>-host<n>`; omit for -no-volumes. */
  zfsPoolPrefix?: string;
  /** Daemons in their own process group (the demo: Ctrl-C reaches only the demo). */
  detached?: boolean;
  /** Progress lines (the demo prints them). */
  progress?: (line: string) => void;
}

/** A component started as a job: where it runs and its job id. */
export interface ClusterJob {
  host: number;
  id: string;
}

export type ComponentName = 'discoverd' | 'router' | 'logaggregator' | 'status' | 'demo';

// Each binary belongs to a declared dependency of this package (apps/<name>/bin).
const bin = (rel: string) => fileURLToPath(new URL(`../../${rel}`, import.meta.url));
const STATUS_BIN = bin('status/bin/status.js');
const FLYNN_BIN = bin('cli/bin/flynn.js');

// The demo app: answers with its job id, and logs every request (so `flynn -a demo log` shows them).
const DEMO_APP = `
const http = require('node:http');
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  console.log(req.method + ' ' + req.url + ' via ' + (req.headers['flynn-router-host'] || 'direct'));
  res.end((process.env.GREETING || 'hello') + ' from ' + process.env.FLYNN_JOB_ID + '\\n');
}).listen(process.env.PORT, process.env.EXTERNAL_IP, () => console.log('listening on ' + process.env.PORT));
`;

// Its release configuration (Flynn's `release add -f` format), shipped inside the tarball.
const DEMO_RELEASE = {
  processes: {
    web: {
      args: ['server.js'],
      ports: [{ proto: 'tcp', service: { name: 'demo-web', check: { type: 'http', path: '/healthz' } } }],
    },
  },
};

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with any Host header (fetch cannot set Host). */
export function httpGet(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 5000,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export class LocalCluster {
  readonly hosts: string[];
  readonly ports: LocalClusterPorts;
  readonly domain: string;
  readonly keys: ClusterKeys;
  readonly dir: string;
  /** `ip:port` of every discoverd, as DISCOVERD lists them. */
  readonly discoverd: string;
  readonly daemons: ManagedProcess[];
  readonly jobs = new Map<ComponentName, ClusterJob[]>();
  readonly apps: Record<ComponentName, { id: string; name: string }>;
  private readonly say: (line: string) => void;

  constructor(private readonly opts: LocalClusterOptions) {
    this.hosts = opts.hosts;
    this.dir = opts.dir;
    this.ports = { ...DEFAULT_PORTS, ...opts.ports };
    this.domain = opts.domain ?? 'localflynn.test';
    this.keys = {
      authKey: opts.keys?.authKey ?? randomBytes(16).toString('hex'),
      cookieKey: opts.keys?.cookieKey ?? randomBytes(32).toString('base64'),
      clusterKey: opts.keys?.clusterKey ?? randomBytes(16).toString('hex'),
    };
    this.say = opts.progress ?? (() => {});
    this.discoverd = this.hosts.map((h) => `${h}:${this.ports.discoverd}`).join(',');
    const app = (name: string) => ({ id: randomUUID(), name });
    this.apps = {
      discoverd: app('discoverd'),
      router: app('router'),
      logaggregator: app('logaggregator'),
      status: app('status'),
      demo: app('demo'),
    };
    this.daemons = this.hosts.map((ip, i) =>
      localHostDaemon({
        n: i + 1,
        ip,
        apiPort: this.ports.host,
        dir: this.dir,
        jobPorts: {
          start: this.ports.jobPortsBase + i * (this.ports.jobPortsPerHost ?? 1000),
          end: this.ports.jobPortsBase + (i + 1) * (this.ports.jobPortsPerHost ?? 1000) - 1,
        },
        pool: this.poolOf(i),
        env: { DISCOVERD: this.discoverd, CLUSTER_KEY: this.keys.clusterKey },
        detached: opts.detached,
      }),
    );
  }

  poolOf(i: number): string | undefined {
    return this.opts.zfsPoolPrefix ? `${this.opts.zfsPoolPrefix}-host${i + 1}` : undefined;
  }

  /** True when apps/status is built (the status service is started only then). */
  get hasStatus(): boolean {
    return existsSync(STATUS_BIN);
  }

  get routerUrl(): string {
    return `http://${this.hosts[0]}:${this.ports.http}`;
  }

  get routerApi(): string {
    return `http://${this.hosts[0]}:${this.ports.routerApi}`;
  }

  get statusUrl(): string {
    return `http://${this.hosts[0]}:${this.ports.status}`;
  }

  /** The flynn-host API of host i (0-based), with the cluster key. */
  async hostApi(i: number, method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.keys.clusterKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(`http://${this.hosts[i]}:${this.ports.host}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path} on host ${i + 1}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  async runJob(i: number, name: ComponentName, spec: Record<string, unknown>): Promise<ClusterJob> {
    const { id } = (await this.hostApi(i, 'POST', '/host/jobs', {
      restart: 'on-failure',
      app: this.apps[name],
      processType: 'app',
      cmd: process.execPath,
      ...spec,
    })) as { id: string };
    const job = { host: i, id };
    this.jobs.set(name, [...(this.jobs.get(name) ?? []), job]);
    return job;
  }

  /** Stops a component's jobs (SIGTERM, then SIGKILL after the grace period). */
  async stopComponent(name: ComponentName, graceMs = 5000): Promise<void> {
    const jobs = this.jobs.get(name) ?? [];
    await Promise.all(jobs.map((j) => this.hostApi(j.host, 'DELETE', `/host/jobs/${j.id}?grace=${graceMs}`)));
    this.jobs.delete(name);
  }

  /** A route through the router API (409 for one that exists is fine: start() is re-runnable). */
  async addRoute(route: Record<string, unknown>): Promise<void> {
    await waitFor(
      async () => {
        const r = await fetch(`${this.routerApi}/routes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.keys.clusterKey}` },
          body: JSON.stringify(route),
          signal: AbortSignal.timeout(2000),
        });
        if (r.status === 401) throw new Error(`router API refused the cluster key: ${await r.text()}`);
        return r.ok || r.status === 409;
      },
      { timeoutMs: 60_000, what: `the route ${JSON.stringify(route)}` },
    );
  }

  /** GET through the router on host 1 with the given Host header. */
  throughRouter(domain: string, path = '/', headers: Record<string, string> = {}): Promise<HttpAnswer> {
    return httpGet(`${this.routerUrl}${path}`, { ...headers, host: domain });
  }

  /** Brings the cluster up; a failure carries the daemons' and jobs' last lines (diagnose()). */
  async start(): Promise<void> {
    try {
      await this.startComponents();
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.diagnose()}`, { cause: err });
    }
  }

  private async startComponents(): Promise<void> {
    const { hosts, ports } = this;
    for (const d of this.daemons) d.start();
    await waitFor(
      async () => {
        for (let i = 0; i < hosts.length; i++) await this.hostApi(i, 'GET', '/host/status');
        return true;
      },
      { timeoutMs: 30_000, what: 'the host daemons' },
    );
    this.say(`flynn-host daemons serving on ${hosts.map((h) => `${h}:${ports.host}`).join(', ')}`);

    // discoverd first, as jobs of their own (the store they record apps in is theirs); their
    // release is recorded once a leader is elected.
    const releases = { discoverd: randomUUID(), logaggregator: randomUUID() };
    for (let i = 0; i < hosts.length; i++) {
      await this.runJob(i, 'discoverd', {
        args: [
          bin('discoverd/bin/discoverd.js'),
          '-data-dir',
          join(this.dir, `host${i + 1}`, 'discoverd'),
          '-host',
          hosts[i],
          '-addr',
          `${hosts[i]}:${ports.discoverd}`,
          '-dns-addr',
          `${hosts[i]}:${ports.dns}`,
          '-peers',
          this.discoverd,
        ],
        // A system job: its host adds the cluster key at spawn, so the key is in no spec.
        system: true,
        meta: { FLYNN_RELEASE_ID: releases.discoverd },
      });
    }
    await waitFor(
      async () =>
        (
          await fetch(`http://${hosts[0]}:${ports.discoverd}/raft/leader`, {
            signal: AbortSignal.timeout(1000),
          })
        ).ok,
      { timeoutMs: 30_000, what: 'a discoverd leader' },
    );
    this.say('discoverd: one job per host, a Raft leader elected');

    const client = new DiscoverdClient({
      servers: hosts.map((h) => `http://${h}:${ports.discoverd}`),
      clusterKey: this.keys.clusterKey,
    });
    try {
      await this.startApps(new AppStore(client.kv), releases);
    } finally {
      client.close();
    }
  }

  /** Records every component as a system app and deploys those it can; then the demo app. */
  private async startApps(
    store: AppStore,
    releases: { discoverd: string; logaggregator: string },
  ): Promise<void> {
    const { hosts, ports } = this;
    const deployer = new Deployer(
      store,
      new DaemonHosts(
        hosts.map((h, i) => ({ id: `host${i + 1}`, addr: `${h}:${ports.host}` })),
        (i, method, path, body) => this.hostApi(i, method, path, body),
      ),
    );
    await waitFor(
      async () => {
        await store.kv.txn({
          success: [
            {
              op: 'put',
              key: keys.clusterConfig,
              value: JSON.stringify({ domain: this.domain, created_at: new Date().toISOString() }),
            },
          ],
        });
        return true;
      },
      { timeoutMs: 30_000, what: 'the cluster store' },
    );
    // discoverd and the logaggregator run with per-host addresses in their args: recorded here,
    // their jobs started by hand (redeploying them is the hosts lifecycle's).
    const system = { [SYSTEM_APP_META]: 'true' };
    const builtin = async (name: string) => {
      const artifact: Artifact = {
        id: randomUUID(),
        type: 'builtin',
        uri: `builtin:${name}`,
        meta: {},
        created_at: new Date().toISOString(),
      };
      await store.putArtifact(artifact);
      return artifact.id;
    };
    const discoverd = await store.putApp('discoverd', {
      id: this.apps.discoverd.id,
      meta: system,
      strategy: 'one-by-one',
      deploy_timeout: 300,
    });
    await store.createRelease(discoverd, {
      id: releases.discoverd,
      artifacts: [await builtin('discoverd')],
      env: { DISCOVERD_PEERS: `${this.discoverd},` },
      processes: { app: { args: ['bin/discoverd.js'], omni: true } },
    });
    await store.switchRelease(await store.app('discoverd'), releases.discoverd, { app: 1 }); // omni: per host

    await this.runJob(0, 'logaggregator', {
      args: [
        bin('logaggregator/bin/logaggregator.js'),
        '-syslog-addr',
        `${hosts[0]}:${ports.syslog}`,
        '-api-addr',
        `${hosts[0]}:${ports.aggregatorApi}`,
      ],
      system: true,
      meta: { FLYNN_RELEASE_ID: releases.logaggregator },
    });
    const aggregator = await store.putApp('logaggregator', { id: this.apps.logaggregator.id, meta: system });
    await store.createRelease(aggregator, {
      id: releases.logaggregator,
      artifacts: [await builtin('logaggregator')],
      env: {},
      processes: { app: { args: ['bin/logaggregator.js'] } },
    });
    await store.switchRelease(await store.app('logaggregator'), releases.logaggregator, { app: 1 });

    // The router on every host (its own address, the same ports), deployed through the app model.
    const router = await store.putApp('router', {
      id: this.apps.router.id,
      meta: system,
      strategy: 'one-by-one',
    });
    const routerRelease = await store.createRelease(router, {
      artifacts: [await builtin('router')],
      env: { COOKIE_KEY: this.keys.cookieKey },
      processes: {
        app: {
          args: [
            'bin/router.js',
            '-http-port',
            String(ports.http),
            '-https-port',
            String(ports.https),
            '-api-port',
            String(ports.routerApi),
            '-workers',
            '2',
          ],
          omni: true,
        },
      },
    });
    await deployer.deploy('router', routerRelease);
    await deployer.scale('router', { app: 1 }); // omni: one on every host
    this.say(`the router on every host (${hosts.length}), a logaggregator on host 1`);

    if (this.hasStatus) {
      const status = await store.putApp('status', { id: this.apps.status.id, meta: system });
      const statusRelease = await store.createRelease(status, {
        artifacts: [await builtin('status')],
        env: { AUTH_KEY: this.keys.authKey },
        processes: {
          web: {
            args: ['bin/status.js'],
            ports: [{ proto: 'tcp', service: { name: 'status-web', check: { type: 'tcp' } } }],
          },
        },
      });
      await deployer.deploy('status', statusRelease);
      await deployer.scale('status', { web: 1 });
      await this.addRoute({
        type: 'http',
        service: 'status-web',
        domain: `status.${this.domain}`,
        drain_backends: true,
        parent_ref: `controller/apps/${status.id}`,
      });
      await waitFor(async () => (await this.throughRouter(`status.${this.domain}`)).status !== 503, {
        timeoutMs: 30_000,
        what: 'the status service through the router',
      });
      this.say(`the status service, routed at status.${this.domain}`);
    }

    await this.startController(store, deployer, system, builtin);
    await this.deployDemo();
    await this.refreshJobs();
  }

  /**
   * The controller gateway (what `flynn` talks to from outside, through the routers), routed at
   * controller.<domain> over HTTPS with a certificate for the domain and its subdomains; its pin
   * is what `flynn cluster add -p` checks.
   */
  private async startController(
    store: AppStore,
    deployer: Deployer,
    meta: Record<string, string>,
    builtin: (name: string) => Promise<string>,
  ): Promise<void> {
    const pair = generateSelfSigned({ names: [this.domain, `*.${this.domain}`], keyType: 'rsa' });
    this.tlsPin = createHash('sha256').update(new X509Certificate(pair.certPem).raw).digest('base64');
    const app = await store.putApp('controller', { id: randomUUID(), meta });
    const release = await store.createRelease(app, {
      artifacts: [await builtin('controller')],
      env: {},
      processes: { web: { args: ['bin/controller.js'], ports: [{ proto: 'tcp' }] } },
    });
    await deployer.deploy('controller', release);
    await deployer.scale('controller', { web: 1 });
    await this.addRoute({
      type: 'http',
      service: 'controller',
      domain: `controller.${this.domain}`,
      certificate: { cert: pair.certPem, key: pair.keyPem },
      parent_ref: `controller/apps/${app.id}`,
    });
    this.say(`the controller gateway, routed at https://controller.${this.domain} (TLS pin ${this.tlsPin})`);
  }

  /** Flynn's TLS pin of the cluster certificate (base64 SHA-256 of its DER). */
  tlsPin = '';

  /** What an operator outside the cluster runs to reach it (the router's HTTPS port on host 1). */
  clusterAddCommand(name = 'local'): string[] {
    return [
      'cluster',
      'add',
      '-p',
      this.tlsPin,
      '--controller-addr',
      `${this.hosts[0]}:${this.ports.https}`,
      name,
      this.domain,
      this.keys.clusterKey,
    ];
  }

  /** The demo app as an operator deploys one: flynn create, release add, scale, route add. */
  private async deployDemo(): Promise<void> {
    const app = join(this.dir, 'demo-app');
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'server.js'), DEMO_APP);
    writeFileSync(join(app, 'release.json'), `${JSON.stringify(DEMO_RELEASE, null, 2)}\n`);
    execFileSync('tar', ['-czf', this.demoTarball, '-C', app, '.']);
    for (const args of this.demoCommands()) await this.flynn(args);
    await waitFor(async () => (await this.throughRouter(`demo.${this.domain}`)).status === 200, {
      timeoutMs: 30_000,
      what: 'the demo app through the router',
    });
    this.say(
      `the demo app: ${this.demoCommands()
        .map((a) => `flynn ${a.join(' ')}`)
        .join('; ')}`,
    );
  }

  get demoTarball(): string {
    return join(this.dir, 'demo-app.tar.gz');
  }

  /** What deployDemo runs (the banner shows them). */
  demoCommands(): string[][] {
    return [
      ['create', 'demo'],
      ['-a', 'demo', 'release', 'add', this.demoTarball],
      ['-a', 'demo', 'scale', 'web=2'],
      ['-a', 'demo', 'route', 'add', 'http', `hello.${this.domain}`],
    ];
  }

  /** Runs the `flynn` CLI against this cluster; a failure carries its stderr. */
  async flynn(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [FLYNN_BIN, ...args],
        {
          env: { ...process.env, DISCOVERD: this.discoverd, CLUSTER_KEY: this.keys.clusterKey },
          timeout: 180_000,
        },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`flynn ${args.join(' ')}: ${stderr.trim() || err.message}`));
          else resolve(stdout);
        },
      );
    });
  }

  /** cluster.jobs from what the hosts run now (by app id). */
  async refreshJobs(): Promise<void> {
    const byApp = new Map(Object.entries(this.apps).map(([name, a]) => [a.id, name as ComponentName]));
    const demo = await this.appIdOf('demo');
    if (demo) byApp.set(demo, 'demo');
    this.jobs.clear();
    for (let i = 0; i < this.hosts.length; i++) {
      const jobs = (await this.hostApi(i, 'GET', '/host/jobs')) as Job[];
      for (const j of jobs.filter((x) => x.state === 'running' && !x.stopRequested)) {
        const name = byApp.get(j.app.id);
        if (name) this.jobs.set(name, [...(this.jobs.get(name) ?? []), { host: i, id: j.id }]);
      }
    }
    for (const list of this.jobs.values()) list.sort((a, b) => a.host - b.host);
  }

  private async appIdOf(name: string): Promise<string | undefined> {
    const r = await fetch(`http://${this.hosts[0]}:${this.ports.discoverd}/kv/apps/${name}?stale=true`, {
      headers: { authorization: `Bearer ${this.keys.clusterKey}` },
      signal: AbortSignal.timeout(5000),
    });
    if (!r.ok) return undefined;
    const { value } = (await r.json()) as { value: string };
    const id = (JSON.parse(value) as { id: string }).id;
    this.apps.demo = { id, name };
    return id;
  }

  /** The last lines of every daemon's output and every app log, for a failed start or test. */
  diagnose(lines = 15): string {
    const tail = (file: string) => {
      try {
        return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
      } catch (err) {
        return `(${(err as Error).message})`;
      }
    };
    const out: string[] = [];
    for (let i = 0; i < this.hosts.length; i++) {
      out.push(`== host${i + 1} daemon ==`, tail(join(this.dir, `host${i + 1}.out`)));
      const logDir = join(this.dir, `host${i + 1}`, 'logs');
      const names = Object.fromEntries(Object.values(this.apps).map((a) => [`${a.id}.log`, a.name]));
      for (const f of existsSync(logDir) ? readdirSync(logDir) : []) {
        out.push(`== host${i + 1} ${names[f] ?? f} ==`, tail(join(logDir, f)));
      }
    }
    return out.join('\n');
  }

  private closing: Promise<void> | undefined;

  /**
   * Stops everything, saying what as it goes: the app jobs (through their daemons, every host at
   * once), then the daemons (while discoverd still answers their unregistration), then discoverd
   * (its processes directly: they outlive their daemon on purpose), then the pools.
   */
  close(): Promise<void> {
    this.closing ??= this.stopAll();
    return this.closing;
  }

  private async stopAll(): Promise<void> {
    const t0 = Date.now();
    const took: string[] = [];
    const step = async (what: string, short: string, f: () => Promise<void>) => {
      this.say(`stopping ${what}…`);
      const t = Date.now();
      await f();
      took.push(`${short} ${seconds(Date.now() - t)}`);
    };
    const discoverdJobs = new Set((this.jobs.get('discoverd') ?? []).map((j) => j.id));
    // pid → start time of every live job, for discoverd and for any job whose stop failed.
    const procs = new Map<number, { startTime?: number; discoverd: boolean }>();
    const live = await Promise.all(
      this.hosts.map(async (_ip, i) => {
        try {
          const jobs = (await this.hostApi(i, 'GET', '/host/jobs')) as Job[];
          return jobs.filter((j) => j.state === 'running' || j.state === 'starting');
        } catch {
          return []; // that daemon is gone already
        }
      }),
    );
    for (const j of live.flat()) {
      if (j.pid) procs.set(j.pid, { startTime: j.procStartTime, discoverd: discoverdJobs.has(j.id) });
    }
    const apps = live.map((jobs) => jobs.filter((j) => !discoverdJobs.has(j.id)));
    const names = [...new Set(apps.flat().map((j) => j.app.name))].join(', ');
    if (names) {
      await step(`jobs: ${names} (${apps.flat().length})`, 'jobs', () =>
        Promise.all(
          apps.map((jobs, i) =>
            Promise.all(
              jobs.map((j) => this.hostApi(i, 'DELETE', `/host/jobs/${j.id}?grace=5000`).catch(() => {})),
            ),
          ),
        ).then(() => {}),
      );
    }
    await step(`the flynn-host daemons (${this.daemons.length})`, 'daemons', async () => {
      await Promise.all(this.daemons.map((d) => d.kill('SIGTERM')));
      await Promise.all(this.daemons.map((d) => d.close()));
    });
    const rest = [...procs].filter(([pid, p]) => isSameProcessAlive(pid, p.startTime));
    if (rest.length > 0) {
      const what = rest.every(([, p]) => p.discoverd) ? 'discoverd' : 'the remaining jobs';
      await step(`${what} (${rest.length})`, what === 'discoverd' ? what : 'rest', () =>
        Promise.all(rest.map(([pid, p]) => stopProcessGroup(pid, p.startTime, 5000))).then(() => {}),
      );
    }
    const pools = this.hosts.map((_h, i) => this.poolOf(i)).filter((p): p is string => p !== undefined);
    if (pools.length > 0) {
      await step(`the ZFS pools (${pools.join(', ')})`, 'pools', async () => {
        for (const pool of pools) {
          // zfs-fuse sometimes answers "pool is busy" right after use: a few tries.
          for (let attempt = 0; attempt < 5; attempt++) {
            if (spawnSync('zpool', ['destroy', '-f', pool], { stdio: 'ignore' }).status === 0) break;
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      });
    }
    this.say(`stopped in ${seconds(Date.now() - t0)} (${took.join(', ')})`);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * SIGTERM to a job's process group (each job leads its own), SIGKILL after `graceMs`; only while
 * the pid still names that very process.
 */
async function stopProcessGroup(pid: number, startTime: number | undefined, graceMs: number): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // gone meanwhile
    }
  };
  if (!isSameProcessAlive(pid, startTime)) return;
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isSameProcessAlive(pid, startTime)) {
    if (Date.now() >= deadline) {
      signal('SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

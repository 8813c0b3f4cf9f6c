import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultManifest } from '@flynn-edge/cluster-ops';
import { isSameProcessAlive, type Job } from '@flynn-edge/host-jobs';
import { type ManagedProcess, waitFor } from '@flynn-edge/process-kit';
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
  /** Restore this `flynn cluster backup` file (`bootstrap --from-backup`) instead of a new cluster and the demo. */
  fromBackup?: string;
  /** A command the CLIs run under (benchmarks: `/usr/bin/time -f … -o FILE`). */
  cliPrefix?: string[];
}

/** A component started as a job: where it runs and its job id. */
export interface ClusterJob {
  host: number;
  id: string;
}

export type ComponentName = 'discoverd' | 'router' | 'logaggregator' | 'status' | 'controller' | 'demo';

// Each binary belongs to a declared dependency of this package (apps/<name>/bin).
const bin = (rel: string) => fileURLToPath(new URL(`../../${rel}`, import.meta.url));
const STATUS_BIN = bin('status/bin/status.js');
const FLYNN_BIN = bin('cli/bin/flynn.js');
const FLYNN_HOST_BIN = bin('cli/bin/flynn-host.js');

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
      controller: app('controller'),
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
        env: {
          DISCOVERD: this.discoverd,
          CLUSTER_KEY: this.keys.clusterKey,
          FLYNN_HOST_CONFIG: join(this.dir, `host${i + 1}.json`),
        },
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
    // As an operator on each host: `flynn-host init` writes host.json (the address and the key),
    // the daemon reads it.
    for (let i = 0; i < hosts.length; i++) {
      await this.flynnHost(['init', '--file', this.hostConfig(i), '--external-ip', hosts[i]]);
    }
    for (const d of this.daemons) d.start();
    await waitFor(
      async () => {
        for (let i = 0; i < hosts.length; i++) await this.hostApi(i, 'GET', '/host/status');
        return true;
      },
      { timeoutMs: 30_000, what: 'the host daemons' },
    );
    this.say(`flynn-host daemons serving on ${hosts.map((h) => `${h}:${ports.host}`).join(', ')}`);

    // Then `flynn-host bootstrap`, with the shipped manifest on this cluster's ports.
    const manifest = join(this.dir, 'bootstrap-manifest.json');
    writeFileSync(
      manifest,
      JSON.stringify(
        defaultManifest({
          discoverd: ports.discoverd,
          dns: ports.dns,
          http: ports.http,
          https: ports.https,
          routerApi: ports.routerApi,
        }),
        null,
        2,
      ),
    );
    const t0 = Date.now();
    const out = await this.flynnHost(
      [
        'bootstrap',
        '--min-hosts',
        String(hosts.length),
        '--peer-ips',
        hosts.map((h) => `${h}:${ports.host}`).join(','),
        '--timeout',
        '60',
        ...(this.opts.fromBackup ? ['--from-backup', this.opts.fromBackup] : []),
        manifest,
      ],
      {
        CLUSTER_DOMAIN: this.domain,
        STATUS_KEY: this.keys.authKey,
        COOKIE_KEY: this.keys.cookieKey,
      },
      (line) => this.say(`  ${line}`),
    );
    this.tlsPin = /flynn cluster add -p (\S+) /.exec(out)?.[1] ?? '';
    this.say(
      `bootstrapped in ${seconds(Date.now() - t0)}: discoverd and a router on every host, the logaggregator, status and the controller`,
    );
    if (!this.opts.fromBackup) await this.deployDemo();
    await this.refreshJobs();
  }

  /** host.json of host i (what `flynn-host init` writes; the daemon reads it). */
  hostConfig(i: number): string {
    return join(this.dir, `host${i + 1}.json`);
  }

  /**
   * Runs `flynn-host ARGS` against this cluster; resolves with its stderr (bootstrap's progress);
   * each stderr line goes to `onLine` as it comes. A failure carries its last lines.
   */
  async flynnHost(
    args: string[],
    env: Record<string, string> = {},
    onLine?: (line: string) => void,
  ): Promise<string> {
    return (await this.runCli(FLYNN_HOST_BIN, args, env, onLine)).stderr;
  }

  /** Runs the `flynn` CLI against this cluster; resolves with its stdout. */
  async flynn(args: string[]): Promise<string> {
    return (await this.runCli(FLYNN_BIN, args)).stdout;
  }

  /** One CLI run with this cluster's DISCOVERD and key; stderr lines to `onLine` as they come. */
  private runCli(
    bin: string,
    args: string[],
    env: Record<string, string> = {},
    onLine?: (line: string) => void,
  ): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const [command, ...prefix] = [...(this.opts.cliPrefix ?? []), process.execPath];
      const child = spawn(command!, [...prefix, bin, ...args], {
        env: { ...process.env, DISCOVERD: this.discoverd, CLUSTER_KEY: this.keys.clusterKey, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let partial = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        partial += d;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) onLine?.(l);
      });
      const timer = setTimeout(() => child.kill('SIGTERM'), 300_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve({ stdout, stderr });
        else {
          const last = stderr.trim().split('\n').slice(-5).join(' | ');
          reject(
            new Error(
              `${bin.endsWith('flynn.js') ? 'flynn' : 'flynn-host'} ${args.join(' ')} exited ${code}: ${last}`,
            ),
          );
        }
      });
    });
  }

  /** Flynn's TLS pin of the cluster certificate (base64 SHA-256 of its DER), from bootstrap. */
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

  /** cluster.jobs from what the hosts run now (by app id, read from the store). */
  async refreshJobs(): Promise<void> {
    const byApp = new Map<string, ComponentName>();
    for (const name of Object.keys(this.apps) as ComponentName[]) {
      const id = await this.appIdOf(name);
      if (id) {
        this.apps[name] = { id, name };
        byApp.set(id, name);
      }
    }
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
    return (JSON.parse(value) as { id: string }).id;
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

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ExecResult, HostNetwork, type ManagedProcess, waitFor } from '@flynn-edge/testkit';

// A cluster the way an operator builds one: the release tarball (`npm run release`) installed
// with its install.sh on every "machine", and each machine's `flynn-host daemon` started with the
// installed unit's ExecStart inside its own network namespace (HostNetwork), so every host binds
// the real ports (1113, 1111, 80, 443) on its own address 10.77.<tag>.<10+k>. Nothing runs from
// the source tree: the daemons, `flynn-host` and `flynn` are the installed wrappers.
//
// Each host k has its own install root <dir>/h<k> (install.sh --root), with its host.json at
// <root>/etc/flynn/host.json (written by `flynn-host init`, see init()), state in
// <root>/var/lib/flynn and logs in <root>/var/log/flynn.

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const RELEASE_DIR = join(REPO, 'dist/release');
export const HOST_API_PORT = 1113;

/** The files a release is made of: a tarball older than any of them is rebuilt. */
function newestInput(): number {
  let newest = 0;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const top of ['apps', 'packages']) {
    for (const ws of readdirSync(join(REPO, top))) {
      for (const sub of ['dist', 'bin'])
        if (existsSync(join(REPO, top, ws, sub))) walk(join(REPO, top, ws, sub));
    }
  }
  walk(join(REPO, 'packaging'));
  for (const f of ['package.json', 'package-lock.json', 'scripts/release.mjs']) {
    newest = Math.max(newest, statSync(join(REPO, f)).mtimeMs);
  }
  return newest;
}

/** The version `npm run release` gives this tree (its own rule, asked rather than repeated). */
function releaseVersion(): string {
  const r = spawnSync(process.execPath, [join(REPO, 'scripts/release.mjs'), '--print-version'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`release.mjs --print-version: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * The release tarball of this tree (dist/release/flynn-edge-<version>-<HEAD>.tar.gz), made with
 * `npm run release -- --no-build` from the built tree when it is missing or older than what it is
 * made of. Test files running at once share one build (a lock file beside it).
 */
export async function releaseTarball(): Promise<{ tarball: string; installer: string; version: string }> {
  const version = releaseVersion();
  const tarball = join(RELEASE_DIR, `flynn-edge-${version}.tar.gz`);
  const installer = join(RELEASE_DIR, 'install.sh');
  const fresh = () =>
    existsSync(tarball) && existsSync(installer) && statSync(tarball).mtimeMs >= newestInput();
  if (fresh()) return { tarball, installer, version };
  mkdirSync(RELEASE_DIR, { recursive: true });
  const lock = join(RELEASE_DIR, '.lock');
  const fd = await waitFor(
    () => {
      try {
        return openSync(lock, 'wx');
      } catch {
        // A lock older than a build can take was left by a run that died.
        if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 180_000) rmSync(lock, { force: true });
        return false;
      }
    },
    { timeoutMs: 240_000, intervalMs: 250, what: 'the release build lock' },
  );
  try {
    if (!fresh()) {
      const r = spawnSync(process.execPath, [join(REPO, 'scripts/release.mjs'), '--no-build'], {
        cwd: REPO,
        encoding: 'utf8',
        timeout: 180_000,
      });
      if (r.status !== 0) throw new Error(`npm run release failed: ${r.stderr.trim()}`);
      // Tarballs of earlier commits are of no further use here.
      for (const f of readdirSync(RELEASE_DIR)) {
        if (/^flynn-edge-.+\.tar\.gz$/.test(f) && join(RELEASE_DIR, f) !== tarball)
          rmSync(join(RELEASE_DIR, f));
      }
    }
  } finally {
    closeSync(fd);
    rmSync(lock, { force: true });
  }
  return { tarball, installer, version };
}

/** Runs install.sh; resolves with its output (throws on a non-zero exit). */
export function runInstaller(installer: string, tarball: string, root: string, extra: string[] = []): string {
  const r = spawnSync('sh', [installer, '--root', root, ...extra, tarball], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`install.sh --root ${root} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout + r.stderr;
}

export interface OpsClusterOptions {
  /** HostNetwork tag (1–250): one per test file, so files can run at once. */
  tag: number;
  /** Machines (default 3). */
  hosts?: number;
  /** The cluster key every host gets (default: 32 random hex characters). */
  clusterKey?: string;
  /** Scratch folder (default: a new one under the OS temp dir, removed by destroy()). */
  dir?: string;
  /** CLUSTER_DOMAIN for bootstrap() (default ops<tag>.flynn-edge.test). */
  domain?: string;
}

export interface BootstrapOptions {
  /** The hosts bootstrapped: --peer-ips (default every host). */
  hosts?: number[];
  /** The host whose namespace runs the command (default the first of `hosts`). */
  from?: number;
  /** -n (default hosts.length; null leaves the flag out). */
  minHosts?: number | null;
  /** More flags (e.g. ['--json'], ['-t', '10']). */
  args?: string[];
  /** The manifest argument (default the shipped bootstrap-manifest.json of host `from`'s install). */
  manifest?: string;
  /** Added to CLUSTER_KEY and CLUSTER_DOMAIN (an empty value unsets one, as for Flynn's getenv). */
  env?: Record<string, string>;
}

export interface BootstrapRun extends ExecResult {
  /** Wall time of the command. */
  ms: number;
  /** The pin printed by gen-tls-cert (text output), when there is one. */
  pin?: string;
}

/** A request made from the public client's namespace (198.18.<tag>.2). */
export interface PublicRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  /** HTTPS: the server name sent (SNI) and checked against the certificate. */
  servername?: string;
  /** HTTPS: trust only this PEM (the request fails unless the served chain verifies against it). */
  ca?: string;
  /** HTTPS without any verification (to read what is served). */
  insecure?: boolean;
  timeoutMs?: number;
}

export interface PublicResponse {
  status: number;
  body: string;
  /** HTTPS: Flynn's pin (base64 SHA-256 of the DER) of the certificate served. */
  pin?: string;
  /** Set instead of status/body when the request failed (e.g. a certificate that does not verify). */
  error?: string;
}

// Runs in the public namespace: one request, its outcome as one JSON line.
const PUBLIC_REQUEST = `
const o = JSON.parse(process.argv[1]);
const u = new URL(o.url);
const mod = require(u.protocol === 'https:' ? 'node:https' : 'node:http');
const { createHash } = require('node:crypto');
const out = (v) => process.stdout.write(JSON.stringify(v));
const req = mod.request(u, {
  method: o.method || 'GET',
  headers: o.headers || {},
  servername: o.servername,
  ca: o.ca,
  rejectUnauthorized: !o.insecure,
  agent: false,
  timeout: o.timeoutMs || 10000,
}, (res) => {
  const cert = res.socket.getPeerCertificate ? res.socket.getPeerCertificate() : undefined;
  const pin = cert && cert.raw ? createHash('sha256').update(cert.raw).digest('base64') : undefined;
  let body = '';
  res.setEncoding('utf8').on('data', (d) => { body += d; }).on('end', () => out({ status: res.statusCode, body, pin }));
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (e) => out({ status: 0, body: '', error: (e.code ? e.code + ': ' : '') + e.message }));
req.end();
`;

export interface DaemonOptions {
  /**
   * Flags after the unit's ExecStart and the per-host folders. When host k has no host.json
   * (init() was not run), the daemon gets -external-ip <its ip> and the cluster key's env here.
   */
  args?: string[];
  env?: Record<string, string>;
  /** Volumes in this ZFS pool (zfs-fuse; a sparse-file pool the daemon makes), else -no-volumes. */
  zpool?: string;
}

/** A job as a host lists it (the fields the scenarios read). */
export interface OpsJob {
  id: string;
  state: string;
  pid?: number;
  app: { id?: string; name: string };
  processType: string;
  stopRequested?: boolean;
  meta?: Record<string, string>;
}

export class OpsCluster {
  readonly net: HostNetwork;
  readonly clusterKey: string;
  readonly dir: string;
  readonly tarball: string;
  readonly installer: string;
  readonly version: string;
  readonly domain: string;
  private readonly ownsDir: boolean;
  private readonly daemons = new Map<number, ManagedProcess>();
  private readonly pools = new Set<string>();

  private constructor(
    opts: OpsClusterOptions,
    release: { tarball: string; installer: string; version: string },
  ) {
    this.net = new HostNetwork({ tag: opts.tag, hosts: opts.hosts ?? 3 });
    this.clusterKey = opts.clusterKey ?? randomBytes(16).toString('hex');
    this.ownsDir = !opts.dir;
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), `ops-cluster-${opts.tag}-`));
    this.tarball = release.tarball;
    this.installer = release.installer;
    this.version = release.version;
    this.domain = opts.domain ?? `ops${opts.tag}.flynn-edge.test`;
  }

  /**
   * Builds (or reuses) the release, installs it into every host's root and makes the network.
   * No daemon runs yet: init() then startDaemon() each host (or start() for all of them).
   */
  static async create(opts: OpsClusterOptions): Promise<OpsCluster> {
    const c = new OpsCluster(opts, await releaseTarball());
    try {
      for (const k of c.hosts) c.install(k);
      c.net.create();
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  /** 1-based host indexes. */
  get hosts(): number[] {
    return this.net.hosts;
  }

  ip(k: number): string {
    return this.net.ip(k);
  }

  get ips(): string[] {
    return this.net.ips;
  }

  /** Host k's install root: what / is on that machine. */
  root(k: number): string {
    return join(this.dir, `h${k}`);
  }

  /** Host k's installed command (its /usr/local/bin wrapper). */
  bin(k: number, cmd: 'flynn-host' | 'flynn'): string {
    return join(this.root(k), 'usr/local/bin', cmd);
  }

  hostJson(k: number): string {
    return join(this.root(k), 'etc/flynn/host.json');
  }

  /** The host API's base URL, e.g. http://10.77.7.11:1113. */
  url(k: number): string {
    return `http://${this.ip(k)}:${HOST_API_PORT}`;
  }

  /** Runs install.sh for host k again (or the first time); returns its output. */
  install(k: number, extra: string[] = []): string {
    return runInstaller(this.installer, this.tarball, this.root(k), extra);
  }

  /** The installed unit's ExecStart, split into words (paths inside host k's root). */
  execStart(k: number): string[] {
    const unit = readFileSync(join(this.root(k), 'lib/systemd/system/flynn-host.service'), 'utf8');
    const line = /^ExecStart=(.+)$/m.exec(unit)?.[1];
    if (!line) throw new Error('the installed unit has no ExecStart');
    return line.trim().split(/\s+/);
  }

  /**
   * `flynn-host init --file <host.json> …` on host k (inside its namespace) with the cluster key in
   * its env, as an operator would after install: e.g. init(1, ['--external-ip', ip(1),
   * '--peer-ips', ips.join(',')]).
   */
  init(k: number, args: string[]): Promise<ExecResult> {
    return this.flynnHost(k, ['init', '--file', this.hostJson(k), ...args], { CLUSTER_KEY: this.clusterKey });
  }

  /** init() on every host: its own --external-ip and every host's address as --peer-ips. */
  async initAll(extra: string[] = []): Promise<void> {
    for (const k of this.hosts) {
      const r = await this.init(k, ['--external-ip', this.ip(k), '--peer-ips', this.ips.join(','), ...extra]);
      if (r.code !== 0) throw new Error(`flynn-host init on host ${k} exited ${r.code}: ${r.stderr.trim()}`);
    }
  }

  /** The installed `flynn-host` run inside host k's namespace (or the public client's). */
  flynnHost(k: number | 'public', args: string[], env: Record<string, string> = {}): Promise<ExecResult> {
    return this.net.run(k, this.bin(k === 'public' ? 1 : k, 'flynn-host'), args, { env, timeoutMs: 300_000 });
  }

  /** The installed `flynn` run inside host k's namespace (or the public client's). */
  flynn(k: number | 'public', args: string[], env: Record<string, string> = {}): Promise<ExecResult> {
    return this.net.run(k, this.bin(k === 'public' ? 1 : k, 'flynn'), args, { env, timeoutMs: 300_000 });
  }

  /**
   * Starts host k's daemon: the unit's ExecStart inside its namespace, with FLYNN_HOST_CONFIG
   * pointing at its host.json and the folders under its root. Without a host.json (no init),
   * it gets -external-ip and CLUSTER_KEY directly and an empty config file.
   */
  startDaemon(k: number, opts: DaemonOptions = {}): ManagedProcess {
    if (this.daemons.get(k)?.running) throw new Error(`host ${k}'s daemon is already running`);
    const root = this.root(k);
    const [command, ...execArgs] = this.execStart(k);
    const args = [
      ...execArgs,
      '-id',
      `h${k}`,
      '-state',
      join(root, 'var/lib/flynn'),
      '-log-dir',
      join(root, 'var/log/flynn'),
      '-volpath',
      join(root, 'var/lib/flynn/volumes'),
      ...(opts.zpool ? ['-zpool-name', opts.zpool] : ['-no-volumes']),
    ];
    if (opts.zpool) this.pools.add(opts.zpool);
    let config = this.hostJson(k);
    const env: Record<string, string> = {};
    if (!existsSync(config)) {
      config = join(this.dir, `h${k}.flags-only.json`);
      writeFileSync(config, '{}\n');
      args.push('-external-ip', this.ip(k));
      env.CLUSTER_KEY = this.clusterKey;
    }
    const p = this.net.spawn(k, {
      name: `flynn-host-h${k}`,
      command: command!,
      args: [...args, ...(opts.args ?? [])],
      env: { FLYNN_HOST_CONFIG: config, ...env, ...opts.env },
      logFile: join(this.dir, `h${k}.daemon.out`),
    });
    this.daemons.set(k, p);
    return p;
  }

  /** startDaemon() on every host (or the given ones), then waits until each answers /host/status. */
  async start(opts: DaemonOptions = {}, hosts: number[] = this.hosts): Promise<void> {
    for (const k of hosts) this.startDaemon(k, opts);
    await Promise.all(hosts.map((k) => this.waitHost(k)));
  }

  /** The bootstrap manifest the release ships, in host k's install. */
  shippedManifest(k = 1): string {
    return join(this.root(k), 'opt/flynn-edge/current/bootstrap-manifest.json');
  }

  /**
   * `flynn-host bootstrap -n <n> --peer-ips <ips> … <manifest>` inside a host's namespace with
   * CLUSTER_KEY and CLUSTER_DOMAIN, as an operator runs it on one of the hosts after starting
   * their daemons. Never throws on a non-zero exit: the result says what happened.
   */
  async bootstrap(opts: BootstrapOptions = {}): Promise<BootstrapRun> {
    const hosts = opts.hosts ?? this.hosts;
    const from = opts.from ?? hosts[0]!;
    const n = opts.minHosts === undefined ? hosts.length : opts.minHosts;
    const args = [
      'bootstrap',
      ...(n === null ? [] : ['-n', String(n)]),
      '--peer-ips',
      hosts.map((k) => this.ip(k)).join(','),
      ...(opts.args ?? []),
      opts.manifest ?? this.shippedManifest(from),
    ];
    const t0 = Date.now();
    const r = await this.flynnHost(from, args, {
      CLUSTER_KEY: this.clusterKey,
      CLUSTER_DOMAIN: this.domain,
      ...opts.env,
    });
    const pin = /gen-tls-cert \S+ pin: (\S+)/.exec(r.stderr)?.[1];
    return { ...r, ms: Date.now() - t0, ...(pin ? { pin } : {}) };
  }

  /** DISCOVERD (every given host's :1111) and CLUSTER_KEY: what `flynn`/`flynn-host` need inside a host. */
  clusterEnv(hosts: number[] = this.hosts): Record<string, string> {
    return { DISCOVERD: hosts.map((k) => `${this.ip(k)}:1111`).join(','), CLUSTER_KEY: this.clusterKey };
  }

  /** One HTTP(S) request from the public client's namespace (198.18.<tag>.2). */
  async fromPublic(req: PublicRequest): Promise<PublicResponse> {
    const r = await this.net.run('public', process.execPath, ['-e', PUBLIC_REQUEST, JSON.stringify(req)], {
      timeoutMs: (req.timeoutMs ?? 10_000) + 10_000,
    });
    try {
      return JSON.parse(r.stdout) as PublicResponse;
    } catch {
      return { status: 0, body: '', error: `exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}` };
    }
  }

  /** GET <host k>/host/jobs with the cluster key: every job the host knows (stopped ones included). */
  async jobs(k: number): Promise<OpsJob[]> {
    const res = await fetch(`${this.url(k)}/host/jobs`, {
      headers: { authorization: `Bearer ${this.clusterKey}` },
      signal: AbortSignal.timeout(5000),
    });
    if (res.status !== 200) throw new Error(`host ${k}: /host/jobs answered ${res.status}`);
    return (await res.json()) as OpsJob[];
  }

  daemon(k: number): ManagedProcess | undefined {
    return this.daemons.get(k);
  }

  /** GET <host k>/host/status with the cluster key (from this namespace, over the bridge). */
  async hostStatus(k: number, timeoutMs = 2000): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.url(k)}/host/status`, {
      headers: { authorization: `Bearer ${this.clusterKey}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status !== 200) throw new Error(`host ${k}: /host/status answered ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  }

  /** Waits until host k's daemon answers /host/status (it fails fast if the daemon exited). */
  async waitHost(k: number, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    return waitFor(
      async () => {
        const p = this.daemons.get(k);
        if (p && !p.running) throw new Error(`host ${k}'s daemon exited: ${this.daemonLog(k).slice(-500)}`);
        return this.hostStatus(k, 1000);
      },
      { timeoutMs, intervalMs: 100, what: `host ${k} answering on ${this.url(k)}` },
    );
  }

  /** What host k's daemon printed (stdout and stderr). */
  daemonLog(k: number): string {
    const f = join(this.dir, `h${k}.daemon.out`);
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** Stops host k's daemon (SIGTERM: its jobs keep running, as under systemd's KillMode=process). */
  async stopDaemon(k: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.daemons.get(k)?.kill(signal);
  }

  /** Kills every process, removes the network and (when it made it) the scratch folder. */
  async destroy(): Promise<void> {
    for (const p of this.daemons.values()) await p.close();
    this.daemons.clear();
    await this.net.destroy();
    for (const pool of this.pools) {
      // zfs-fuse sometimes answers "pool is busy" right after use: a few tries.
      for (let attempt = 0; attempt < 5; attempt++) {
        if (spawnSync('zpool', ['destroy', '-f', pool], { stdio: 'ignore' }).status === 0) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { runCli, runFlynn } from '@flynn-edge/cli/testing';
import { defaultManifest } from '@flynn-edge/cluster-ops';
import { httpGet, localHostDaemon } from '@flynn-edge/local-cluster';
import { type ManagedProcess, nextPortBlock, waitFor } from '@flynn-edge/process-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `flynn-host bootstrap` for real: flynn-host daemons on 127.0.0.141-143 (and .144 alone), the
// built CLI with our default manifest on unprivileged ports, then the cluster checked from
// outside (routers, the `flynn` CLI, the TLS pin). The error cases run first, on the same fresh
// hosts, and must leave them without a single job.

const dir = mkdtempSync(join(tmpdir(), 'bootstrap-local-'));
const BASE = nextPortBlock(8 + 4 * 50);
const PORTS = { discoverd: BASE, dns: BASE + 1, http: BASE + 2, https: BASE + 3, routerApi: BASE + 4 };
const HOST_PORT = BASE + 5;
const DOMAIN = 'boot.localflynn.test';
const KEY = randomBytes(16).toString('hex');
const manifestFile = join(dir, 'manifest.json');
writeFileSync(manifestFile, JSON.stringify(defaultManifest(PORTS), null, 2));

interface Hosts {
  ips: string[];
  daemons: ManagedProcess[];
}

function startHosts(ips: string[], first: number): Hosts {
  const discoverd = ips.map((ip) => `${ip}:${PORTS.discoverd}`).join(',');
  const daemons = ips.map((ip, i) =>
    localHostDaemon({
      n: first + i,
      ip,
      apiPort: HOST_PORT,
      dir,
      jobPorts: { start: BASE + 8 + (first + i - 1) * 50, end: BASE + 8 + (first + i) * 50 - 1 },
      env: { DISCOVERD: discoverd, CLUSTER_KEY: KEY },
    }),
  );
  for (const d of daemons) d.start();
  return { ips, daemons };
}

async function hostApi(ip: string, method: string, path: string): Promise<unknown> {
  const r = await fetch(`http://${ip}:${HOST_PORT}${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}` },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

type JobView = { id: string; pid?: number; state: string; app: { name: string } };
const liveJobs = async (ip: string) =>
  ((await hostApi(ip, 'GET', '/host/jobs')) as JobView[]).filter(
    (j) => j.state === 'running' || j.state === 'starting',
  );

async function online(h: Hosts): Promise<void> {
  await waitFor(
    async () => {
      for (const ip of h.ips) await hostApi(ip, 'GET', '/host/status');
      return true;
    },
    { timeoutMs: 30_000, what: 'the host daemons' },
  );
}

/** Every job stopped through its daemon, the daemons, then discoverd's processes (they outlive it). */
async function teardown(h: Hosts): Promise<void> {
  const pids: number[] = [];
  for (const ip of h.ips) {
    const jobs = await liveJobs(ip).catch(() => []);
    for (const j of jobs) if (j.pid) pids.push(j.pid);
    await Promise.all(
      jobs
        .filter((j) => j.app.name !== 'discoverd')
        .map((j) => hostApi(ip, 'DELETE', `/host/jobs/${j.id}?grace=3000`).catch(() => {})),
    );
  }
  await Promise.all(h.daemons.map((d) => d.kill('SIGTERM')));
  await Promise.all(h.daemons.map((d) => d.close()));
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

const bootstrap = (args: string[], env: Record<string, string> = { CLUSTER_DOMAIN: DOMAIN }) =>
  runCli(['bootstrap', ...args], { CLUSTER_KEY: KEY, ...env });

const three = startHosts(['127.0.0.141', '127.0.0.142', '127.0.0.143'], 1);
const peers = three.ips.map((ip) => `${ip}:${HOST_PORT}`).join(',');
let bootMs = 0;
let boot: Awaited<ReturnType<typeof bootstrap>>;

beforeAll(() => online(three), 60_000);
afterAll(() => teardown(three), 60_000);

describe('refused before anything starts', () => {
  const noJobs = async () => {
    for (const ip of three.ips) expect(await liveJobs(ip)).toEqual([]);
  };

  it('without CLUSTER_DOMAIN', async () => {
    const r = await bootstrap(['-t', '10', '--peer-ips', peers, manifestFile], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^\d\d:\d\d:\d\d\.\d{6} require-env require-env error: Missing required environment variable\(s\): CLUSTER_DOMAIN$/m,
    );
    await noJobs();
  });

  it('-n 2, -n x and a corrupt manifest: one line each', async () => {
    const r = await bootstrap(['-n', '2', '--peer-ips', peers, manifestFile]);
    expect([r.code, r.stderr]).toEqual([
      1,
      'flynn-host: the minimum number of hosts for a multi-node cluster is 3, min-hosts=2 is invalid\n',
    ]);
    const x = await bootstrap(['-n', 'x', manifestFile]);
    expect([x.code, x.stderr]).toEqual([1, 'flynn-host: invalid --min-hosts value\n']);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '[{"id": "x", "action": ');
    const c = await bootstrap(['--peer-ips', peers, bad]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/^flynn-host: Error parsing JSON: .+\n$/);
    const missing = await bootstrap(['--peer-ips', peers, join(dir, 'none.json')]);
    expect(missing.stderr).toBe(
      `flynn-host: Error reading manifest: open ${join(dir, 'none.json')}: no such file or directory\n`,
    );
    writeFileSync(bad, '[{"id": "x", "action": "make-coffee"}]');
    const u = await bootstrap(['--peer-ips', peers, bad]);
    expect([u.code, u.stderr]).toEqual([1, 'flynn-host: bootstrap: unknown action "make-coffee"\n']);
    await noJobs();
  });

  it('a port already held on a host: the resource check names it', async () => {
    const squatter: Server = createServer();
    await new Promise<void>((res) => squatter.listen(PORTS.http, '127.0.0.142', res));
    try {
      const r = await bootstrap(['--peer-ips', peers, manifestFile]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('resource-check resource-check error: conflicts detected!');
      expect(r.stderr).toContain(`\n127.0.0.142: tcp:${PORTS.http} \n`);
      expect(r.stderr).toContain(
        'After you correct the above errors re-run bootstrap to continue setting up Flynn.',
      );
      await noJobs();
    } finally {
      squatter.close();
    }
  });
});

describe('a three-host bootstrap', () => {
  beforeAll(async () => {
    const t0 = Date.now();
    boot = await bootstrap(['--peer-ips', peers, '--job-timeout', '60', manifestFile]);
    bootMs = Date.now() - t0;
    console.log(`three-host bootstrap took ${(bootMs / 1000).toFixed(1)} s`);
    if (boot.code !== 0) console.log(boot.stderr);
  }, 300_000);

  it('succeeds and prints the pin and the flynn cluster add line', () => {
    expect(boot.code).toBe(0);
    expect(boot.stderr).toMatch(/^\d\d:\d\d:\d\d\.\d{6} check online-hosts$/m);
    expect(boot.stderr).toMatch(/gen-tls-cert controller-cert pin: \S+/);
    expect(boot.stderr).toContain('status-check status-check all services healthy');
    expect(boot.stderr).toContain('flynn-edge bootstrapping complete.');
    expect(boot.stderr).toContain(`flynn cluster add -p ${pinOf(boot.stderr)} default ${DOMAIN} ${KEY}`);
    expect(boot.stderr).not.toContain('PRIVATE KEY');
  });

  it('serves status.<domain> through every router', async () => {
    for (const ip of three.ips) {
      const r = await httpGet(`http://${ip}:${PORTS.http}/`, {
        host: `status.${DOMAIN}`,
        accept: 'application/json',
      });
      expect(r.status, ip).toBe(200);
      expect(JSON.parse(r.body).data.status).toBe('healthy');
    }
  });

  it('the flynn CLI sees the system apps and one router per host', async () => {
    const env = { DISCOVERD: three.ips.map((ip) => `${ip}:${PORTS.discoverd}`).join(','), CLUSTER_KEY: KEY };
    const apps = await runFlynn(['apps'], env);
    expect(apps.code, apps.stderr).toBe(0);
    for (const name of ['discoverd', 'router', 'logaggregator', 'status', 'controller'])
      expect(apps.stdout).toContain(name);
    const ps = await runFlynn(['-a', 'router', 'ps'], env);
    expect(ps.code, ps.stderr).toBe(0);
    const lines = ps.stdout.split('\n').filter((l) => /\bup\b|running/i.test(l));
    expect(lines.length).toBe(3);
    for (const ip of three.ips) {
      expect((await liveJobs(ip)).filter((j) => j.app.name === 'router').length, ip).toBe(1);
      expect((await liveJobs(ip)).filter((j) => j.app.name === 'discoverd').length, ip).toBe(1);
    }
  });

  it('the printed pin is the certificate the routers serve for controller.<domain>', async () => {
    const served = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect(
        {
          host: three.ips[1],
          port: PORTS.https,
          servername: `controller.${DOMAIN}`,
          rejectUnauthorized: false,
        },
        () => {
          const der = s.getPeerCertificate().raw;
          s.destroy();
          resolve(createHash('sha256').update(new X509Certificate(der).raw).digest('base64'));
        },
      );
      s.on('error', reject);
    });
    expect(served).toBe(pinOf(boot.stderr));
  });

  it('refuses to bootstrap over the running cluster', async () => {
    const r = await bootstrap(['--peer-ips', peers, manifestFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /check online-hosts error: a cluster is already running on 127\.0\.0\.141 \(discoverd leader 127\.0\.0\.14\d:\d+\); bootstrap needs fresh hosts/,
    );
  });
});

describe('a singleton bootstrap', () => {
  const one = startHosts(['127.0.0.144'], 4);
  afterAll(() => teardown(one), 60_000);

  it('one host runs every system app once', async () => {
    await online(one);
    const r = await bootstrap(['--peer-ips', `127.0.0.144:${HOST_PORT}`, '--json', manifestFile]);
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.at(-1)).toMatchObject({ id: 'log-complete', action: 'log', state: 'done' });
    expect(r.stdout).not.toContain('PRIVATE KEY');
    const jobs = await liveJobs('127.0.0.144');
    const count = (n: string) => jobs.filter((j) => j.app.name === n).length;
    expect([
      count('discoverd'),
      count('router'),
      count('logaggregator'),
      count('status'),
      count('controller'),
    ]).toEqual([1, 1, 1, 1, 1]);
  }, 300_000);
});

function pinOf(stderr: string): string {
  const m = /pin: (\S+)/.exec(stderr);
  if (!m) throw new Error(`no pin in:\n${stderr}`);
  return m[1];
}

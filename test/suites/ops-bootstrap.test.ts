import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { type ManagedProcess, netnsAvailable, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BootstrapRun, OpsCluster } from '../src/ops-cluster.js';

// Issue 14, scenarios 6, 1 and 2 on hosts as real as one machine allows: the release tarball
// installed per "machine", `flynn-host init` on each, the installed daemons in their own network
// namespaces (10.77.147.11-14), and `flynn-host bootstrap` with the shipped manifest on the real
// ports (80, 443, 1111, 53, 1113). The refusals run first, on the same fresh hosts, and must leave
// them without a job; then three hosts are bootstrapped and checked from a public address
// (198.18.147.2); then a fourth host joins with init alone. Host 4 is not part of the first three:
// before it joins it plays the host with a wrong cluster key and the daemon with a bad host.json.

const TAG = 147;
const THREE = [1, 2, 3];
const { available, reason } = netnsAvailable();
if (!available) console.log(`ops-bootstrap skipped: ${reason}`);
let c: OpsCluster;

beforeAll(async () => {
  if (!available) return;
  c = await OpsCluster.create({ tag: TAG, hosts: 4 });
  const peers = THREE.map((k) => c.ip(k)).join(',');
  for (const k of THREE) {
    const r = await c.init(k, ['--external-ip', c.ip(k), '--peer-ips', peers]);
    expect(r.code, r.stderr).toBe(0);
  }
  await c.start({}, THREE);
}, 300_000);

afterAll(async () => {
  await c?.destroy();
}, 120_000);

/** The one line a failed step printed: `<time> <action> <id> error: <message>` (first line of it). */
const stepError = (r: BootstrapRun) => r.stderr.split('\n').find((l) => / error: /.test(l)) ?? r.stderr;

async function noJobs(hosts = THREE): Promise<void> {
  for (const k of hosts) expect(await c.jobs(k), `host ${k}`).toEqual([]);
}

type Job = Awaited<ReturnType<OpsCluster['jobs']>>[number];
const live = (j: Job) => !j.stopRequested && (j.state === 'running' || j.state === 'starting');
const liveApps = async (k: number) =>
  (await c.jobs(k))
    .filter(live)
    .map((j) => j.app.name)
    .sort();

/** Resolves once something accepts TCP connections on ip:port (from this namespace, over the bridge). */
function accepting(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: ip, port, timeout: 1000 });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.on('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

describe.skipIf(!available)(
  'scenario 6: bootstrap refuses bad input on fresh hosts, changing nothing',
  { timeout: 180_000 },
  () => {
    it('without CLUSTER_DOMAIN', async () => {
      const r = await c.bootstrap({ hosts: THREE, env: { CLUSTER_DOMAIN: '' } });
      expect(r.code).toBe(1);
      expect(stepError(r)).toMatch(
        /^\d\d:\d\d:\d\d\.\d{6} require-env require-env error: Missing required environment variable\(s\): CLUSTER_DOMAIN$/,
      );
      await noJobs();
    });

    it('with -n 2', async () => {
      const r = await c.bootstrap({ hosts: THREE, minHosts: 2 });
      expect([r.code, r.stderr]).toEqual([
        1,
        'flynn-host: the minimum number of hosts for a multi-node cluster is 3, min-hosts=2 is invalid\n',
      ]);
      await noJobs();
    });

    it('with a corrupt manifest', async () => {
      const bad = join(c.dir, 'corrupt-manifest.json');
      writeFileSync(bad, '[{"id": "require-env", "action": ');
      const r = await c.bootstrap({ hosts: THREE, manifest: bad });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^flynn-host: Error parsing JSON: [^\n]+\n$/);
      await noJobs();
    });

    it('with a host holding port 80: the resource check names it', async () => {
      const squatter: ManagedProcess = c.net.spawn(2, {
        name: 'port-80-squatter',
        command: process.execPath,
        args: ['-e', `require('node:net').createServer().listen(80, ${JSON.stringify(c.ip(2))})`],
        env: {},
      });
      try {
        await waitFor(() => accepting(c.ip(2), 80), { timeoutMs: 15_000, what: 'the squatter on port 80' });
        const r = await c.bootstrap({ hosts: THREE });
        expect(r.code).toBe(1);
        expect(stepError(r)).toMatch(/ resource-check resource-check error: conflicts detected!$/);
        expect(r.stderr).toContain(
          `The following hosts have conflicting services listening on ports Flynn is configured to use:\n${c.ip(2)}: tcp:80 \n`,
        );
        expect(r.stderr).toContain(
          'After you correct the above errors re-run bootstrap to continue setting up Flynn.',
        );
        await noJobs();
      } finally {
        await squatter.close();
      }
    });

    it('with a host that refuses the cluster key', async () => {
      // Host 4's daemon runs with another key: it answers, but 401.
      const other = c.startDaemon(4, { env: { CLUSTER_KEY: 'not-the-cluster-key-0123456789' } });
      try {
        await waitFor(
          async () => {
            if (!other.running) throw new Error(`host 4's daemon exited: ${c.daemonLog(4).slice(-500)}`);
            const res = await fetch(`${c.url(4)}/host/status`, {
              headers: { authorization: `Bearer ${c.clusterKey}` },
              signal: AbortSignal.timeout(1000),
            }).catch(() => undefined);
            return res?.status === 401;
          },
          { timeoutMs: 30_000, what: 'host 4 answering 401' },
        );
        const r = await c.bootstrap({ hosts: [...THREE, 4] });
        expect(r.code).toBe(1);
        expect(stepError(r)).toMatch(
          new RegExp(
            `^\\d\\d:\\d\\d:\\d\\d\\.\\d{6} check online-hosts error: host ${c.ip(4)}: the cluster key was refused$`,
          ),
        );
        await noJobs();
      } finally {
        await c.stopDaemon(4);
      }
    });

    it('a daemon whose host.json cannot be read or parsed exits 1 with one line', async () => {
      const missing = join(c.dir, 'no-such-host.json');
      const dir = join(c.dir, 'host-json-dir');
      mkdirSync(dir, { recursive: true });
      const invalid = join(c.dir, 'invalid-host.json');
      writeFileSync(invalid, '{"args": ["--external-ip", ');
      for (const file of [missing, dir, invalid]) {
        const r = await c.net.run(
          4,
          c.bin(4, 'flynn-host'),
          ['daemon', '-state', join(c.dir, 'bad-config-state')],
          {
            env: { FLYNN_HOST_CONFIG: file, CLUSTER_KEY: c.clusterKey },
            timeoutMs: 60_000,
          },
        );
        expect(r.code, `${file}: ${r.stderr}`).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`^flynn-host: error opening config file ${file}: [^\\n]+\\n$`));
      }
      // The daemon never came up: nothing answers on host 4.
      expect(await accepting(c.ip(4), 1113)).toBe(false);
    });
  },
);

describe.skipIf(!available)(
  'scenario 1: three fresh hosts bootstrapped with the shipped manifest',
  { timeout: 180_000 },
  () => {
    let boot: BootstrapRun;
    let authKey: string;
    let cert: string;
    const flynnIn = (k: number, args: string[]) => c.flynn(k, args, c.clusterEnv(THREE));

    beforeAll(async () => {
      boot = await c.bootstrap({ hosts: THREE, args: ['--job-timeout', '120'] });
      console.log(
        `ops-bootstrap: three-host bootstrap (installed tree, netns, real ports) took ${(boot.ms / 1000).toFixed(1)} s`,
      );
      if (boot.code !== 0) console.log(boot.stderr, boot.stdout);
    }, 600_000);

    it('succeeds, printing the pin and the flynn cluster add line', () => {
      expect(boot.code, boot.stderr.slice(-3000)).toBe(0);
      expect(boot.pin).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(boot.stderr).toContain('status-check status-check all services healthy');
      expect(boot.stderr).toContain(
        `flynn-edge bootstrapping complete. Install the flynn CLI and paste the line below into a terminal window:\n\nflynn cluster add -p ${boot.pin} default ${c.domain} ${c.clusterKey}\n`,
      );
      expect(boot.stderr).not.toContain('PRIVATE KEY');
    });

    it('every host runs discoverd and a router', async () => {
      for (const k of THREE) {
        const apps = await liveApps(k);
        expect(apps.filter((a) => a === 'discoverd').length, `host ${k}: ${apps}`).toBe(1);
        expect(apps.filter((a) => a === 'router').length, `host ${k}: ${apps}`).toBe(1);
      }
    });

    it('status.<domain> answers 200 through every router from a public address with AUTH_KEY, 401 without', async () => {
      const r = await flynnIn(1, ['-a', 'status', 'env', 'get', 'AUTH_KEY']);
      expect(r.code, r.stderr).toBe(0);
      authKey = r.stdout.trim();
      expect(authKey).toMatch(/^[0-9a-f]{32}$/);
      for (const k of THREE) {
        const url = `http://${c.ip(k)}:80/`;
        const host = `status.${c.domain}`;
        const ok = await c.fromPublic({
          url,
          headers: { host, authorization: `Bearer ${authKey}`, accept: 'application/json' },
        });
        expect([ok.status, ok.error], `host ${k}`).toEqual([200, undefined]);
        expect(JSON.parse(ok.body).data.status).toBe('healthy');
        const anon = await c.fromPublic({ url, headers: { host, accept: 'application/json' } });
        expect(anon.status, `host ${k} without the key`).toBe(401);
      }
    });

    it('HTTPS to status.<domain> verifies against the generated certificate, whose pin was printed', async () => {
      const r = await flynnIn(1, ['-a', 'router', 'env', 'get', 'TLSCERT']);
      expect(r.code, r.stderr).toBe(0);
      cert = r.stdout.trim();
      expect(cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
      const servername = `status.${c.domain}`;
      for (const k of THREE) {
        const res = await c.fromPublic({
          url: `https://${c.ip(k)}:443/`,
          servername,
          ca: cert,
          headers: { host: servername, authorization: `Bearer ${authKey}`, accept: 'application/json' },
        });
        expect([res.status, res.error], `host ${k}`).toEqual([200, undefined]);
        expect(res.pin).toBe(boot.pin);
      }
      // Without that certificate as its CA, the same request does not verify.
      const untrusted = await c.fromPublic({
        url: `https://${c.ip(1)}:443/`,
        servername,
        headers: { host: servername },
      });
      expect(untrusted.error).toMatch(/certificate/i);
    });

    it('`flynn cluster add` with the printed pin works from the public address', async () => {
      // `flynn cluster add -p <pin> --controller-addr <host 1>:443 default <domain> <key>` into
      // its own flynnrc, then `flynn -c default apps` from the public address.
      const addThenApps = async (pin: string, rc: string) => {
        const env = { FLYNNRC: join(c.dir, rc), DISCOVERD: '', CLUSTER_KEY: '' };
        const args = ['-p', pin, '--controller-addr', `${c.ip(1)}:443`, 'default', c.domain, c.clusterKey];
        const add = await c.flynn('public', ['cluster', 'add', ...args], env);
        expect(add.code, add.stderr).toBe(0);
        return c.flynn('public', ['-c', 'default', 'apps'], env);
      };
      const apps = await addThenApps(boot.pin!, 'public.flynnrc');
      expect(apps.code, apps.stderr).toBe(0);
      for (const name of ['discoverd', 'router', 'logaggregator', 'status', 'controller']) {
        expect(apps.stdout).toContain(name);
      }
      // A wrong pin is refused.
      const badPin = `${'A'.repeat(43)}=`;
      const refused = await addThenApps(badPin, 'wrong-pin.flynnrc');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(
        `flynn: TLS pin mismatch for controller.${c.domain} (got ${boot.pin}, want ${badPin})\n`,
      );
    });
  },
);

describe.skipIf(!available)('scenario 2: a fourth host joins with init alone', { timeout: 180_000 }, () => {
  beforeAll(async () => {
    const r = await c.init(4, ['--external-ip', c.ip(4), '--peer-ips', THREE.map((k) => c.ip(k)).join(',')]);
    expect(r.code, r.stderr).toBe(0);
    c.startDaemon(4);
    await c.waitHost(4, 60_000);
  }, 120_000);

  it('starts discoverd and the router itself (the omni reconciler)', async () => {
    await waitFor(
      async () => {
        const apps = await liveApps(4);
        return apps.includes('discoverd') && apps.includes('router');
      },
      { timeoutMs: 180_000, intervalMs: 1000, what: 'discoverd and the router on host 4' },
    );
    const apps = await liveApps(4);
    expect(apps.filter((a) => a === 'discoverd' || a === 'router')).toEqual(['discoverd', 'router']);
  }, 200_000);

  it('serves status.<domain> on 80 and 443 to a public client', async () => {
    const cert = (
      await c.flynn(1, ['-a', 'router', 'env', 'get', 'TLSCERT'], c.clusterEnv(THREE))
    ).stdout.trim();
    const authKey = (
      await c.flynn(1, ['-a', 'status', 'env', 'get', 'AUTH_KEY'], c.clusterEnv(THREE))
    ).stdout.trim();
    const host = `status.${c.domain}`;
    const headers = { host, authorization: `Bearer ${authKey}`, accept: 'application/json' };
    // The router on host 4 syncs its routes from discoverd after it starts: poll until it serves.
    const http = await waitFor(
      async () => {
        const r = await c.fromPublic({ url: `http://${c.ip(4)}:80/`, headers });
        return r.status === 200 ? r : false;
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: 'status.<domain> through host 4 on port 80' },
    );
    expect(JSON.parse(http.body).data.status).toBe('healthy');
    const https = await c.fromPublic({ url: `https://${c.ip(4)}:443/`, servername: host, ca: cert, headers });
    expect([https.status, https.error]).toEqual([200, undefined]);
  }, 120_000);

  it('runs discoverd as a proxy: its :1111 answers, the raft peers do not list it', async () => {
    const get = async (ip: string, path: string) => {
      const res = await fetch(`http://${ip}:1111${path}`, {
        headers: { authorization: `Bearer ${c.clusterKey}` },
        signal: AbortSignal.timeout(5000),
      });
      expect(res.status, `${ip}${path}`).toBe(200);
      return res.json();
    };
    const peers = (await get(c.ip(1), '/raft/peers')) as string[];
    expect([...peers].sort()).toEqual(THREE.map((k) => `${c.ip(k)}:1111`).sort());
    const leader = (await get(c.ip(4), '/raft/leader')) as { host: string };
    expect(THREE.map((k) => `${c.ip(k)}:1111`)).toContain(leader.host);
    expect((await get(c.ip(4), '/raft/peers')) as string[]).not.toContain(`${c.ip(4)}:1111`);
  });

  it('`flynn-host list` shows it', async () => {
    const r = await c.flynnHost(1, ['list'], c.clusterEnv(THREE));
    expect(r.code, r.stderr).toBe(0);
    const line = r.stdout.split('\n').find((l) => /^h4\s/.test(l));
    expect(line, r.stdout).toBeDefined();
    expect(line).toContain(c.ip(4));
  });
});

describe.skipIf(!available)('scenario 6: bootstrap over the live cluster', { timeout: 180_000 }, () => {
  it('is refused, and no job changes', async () => {
    const before = await Promise.all(THREE.map((k) => liveApps(k)));
    const r = await c.bootstrap({ hosts: THREE });
    expect(r.code).toBe(1);
    expect(stepError(r)).toMatch(
      new RegExp(
        `^\\d\\d:\\d\\d:\\d\\d\\.\\d{6} check online-hosts error: a cluster is already running on ${c.ip(1).replace(/\./g, '\\.')} \\(discoverd leader [0-9.]+:1111\\); bootstrap needs fresh hosts$`,
      ),
    );
    expect(await Promise.all(THREE.map((k) => liveApps(k)))).toEqual(before);
  });
});

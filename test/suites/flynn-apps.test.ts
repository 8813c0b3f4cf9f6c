import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLYNN_BIN, runFlynn } from '@flynn-edge/cli/testing';
import { consecutivePorts, httpGet, LocalCluster } from '@flynn-edge/local-cluster';
import { nextPortBlock } from '@flynn-edge/process-kit';
import { NetNamespace, netnsAvailable, waitFor } from '@flynn-edge/testkit';
import { generateSelfSigned } from '@flynn-edge/tls';
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 13's scenarios on a real three-host cluster (LocalCluster on 127.0.0.111-113): an app
// created, released from a tarball, scaled and routed with the `flynn` command; env changes and
// rollbacks under load; a release that cannot start; the system apps; bad input of every kind.

const dir = mkdtempSync(join(tmpdir(), 'flynn-apps-'));
const BASE = nextPortBlock(10 + 3 * 40);
const cluster = new LocalCluster({
  hosts: ['127.0.0.111', '127.0.0.112', '127.0.0.113'],
  dir,
  ports: { ...consecutivePorts(BASE, BASE + 10), jobPortsPerHost: 40 },
});
const env = () => ({ DISCOVERD: cluster.discoverd, CLUSTER_KEY: cluster.keys.clusterKey });
const flynn = (...args: string[]) => runFlynn(args, env());

// A small HTTP server as a user brings one: it answers with its env and job id.
const SHOP = `
const http = require('node:http');
if (process.env.CRASH_AT_START) { console.error('boom: CRASH_AT_START is set'); process.exit(3); }
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  res.end(JSON.stringify({ job: process.env.FLYNN_JOB_ID, greeting: process.env.GREETING || null, release: process.env.FLYNN_RELEASE_ID }));
}).listen(process.env.PORT, process.env.EXTERNAL_IP);
`;
const RELEASE = {
  processes: {
    web: {
      args: ['server.js'],
      ports: [
        {
          proto: 'tcp',
          service: { name: 'shop-web', check: { type: 'http', path: '/healthz', interval: '500ms' } },
        },
      ],
    },
  },
};

function tarball(name: string, files: Record<string, string>): string {
  const src = join(dir, name);
  mkdirSync(src, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(src, f), text);
  const out = join(dir, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', out, '-C', src, '.']);
  return out;
}

const shopTar = () => tarball('shop', { 'server.js': SHOP, 'release.json': JSON.stringify(RELEASE) });
const domain = () => `shop.${cluster.domain}`;

async function httpGetVia(ip: string, host: string, path: string): Promise<{ status: number; body: string }> {
  const a = await httpGet(`http://${ip}:${cluster.ports.http}${path}`, { host });
  return { status: a.status, body: a.body };
}

beforeAll(async () => {
  await cluster.start();
}, 240_000);
afterAll(async () => {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('flynn: apps, releases and routes on a three-host cluster', { timeout: 120_000 }, () => {
  let cert: { cert: string; key: string };

  it('creates an app from a tarball, scales web=2 on two hosts, and routes it over HTTPS with an RSA certificate', async () => {
    let r = await flynn('create', 'shop');
    expect(r.stderr).toBe('Created shop\n');
    expect(r.code).toBe(0);
    r = await flynn('-a', 'shop', 'release', 'add', shopTar());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^Created release [0-9a-f-]{36}\.\n/);
    r = await flynn('-a', 'shop', 'scale', 'web=2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^scaling web: 0=>2\n\n(\d\d:\d\d:\d\d\.\d{3} ==> web \S+ up\n){2}\nscale completed in \d+\.\d{3}s\n$/,
    );

    const ps = await flynn('-a', 'shop', 'ps');
    const rows = ps.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^ID\s+TYPE\s+STATE\s+CREATED\s+RELEASE$/);
    expect(rows).toHaveLength(3);
    const hostsOfJobs = rows.slice(1).map((l) => l.split(/\s+/)[0].split('-')[0]);
    expect(new Set(hostsOfJobs).size).toBe(2);
    for (const l of rows.slice(1)) expect(l).toMatch(/\sweb\s+up\s+/);

    const pair = generateSelfSigned({ names: [domain()], keyType: 'rsa' });
    cert = { cert: pair.certPem, key: pair.keyPem };
    writeFileSync(join(dir, 'shop.crt'), cert.cert);
    writeFileSync(join(dir, 'shop.key'), cert.key);
    // The default route (shop.<domain>, from create) gets the certificate by an update.
    const routes = await flynn('-a', 'shop', 'route');
    expect(routes.code, routes.stderr).toBe(0);
    const id = routes.stdout
      .split('\n')
      .find((l) => l.includes(domain()))
      ?.match(/http\/[0-9a-f-]{36}/)?.[0];
    expect(id, routes.stdout).toBeDefined();
    r = await flynn(
      '-a',
      'shop',
      'route',
      'update',
      id!,
      '-c',
      join(dir, 'shop.crt'),
      '-k',
      join(dir, 'shop.key'),
    );
    expect(r.code, r.stderr).toBe(0);
    const listed = await flynn('-a', 'shop', 'route');
    expect(listed.stdout).toMatch(/^ROUTE\s+SERVICE\s+ID\s+STICKY\s+LEADER\s+PATH\n/);
    expect(listed.stdout).toContain(`https:${domain()}`);
    for (const ip of cluster.hosts) {
      await waitFor(async () => (await httpsVerified(ip)).includes('"job"'), {
        timeoutMs: 20_000,
        what: `HTTPS via the router on ${ip} verified against the RSA certificate`,
      });
    }
  });

  function httpsVerified(ip: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: ip,
          port: cluster.ports.https,
          servername: domain(),
          headers: { host: domain() },
          path: '/',
          ca: cert.cert,
        },
        (res) => {
          let body = '';
          res
            .setEncoding('utf8')
            .on('data', (d) => (body += d))
            .on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('env set and release rollback under constant load: zero failed requests, every job on the new env', async () => {
    const load = autocannon({
      url: `http://${cluster.hosts[0]}:${cluster.ports.http}/`,
      headers: { host: domain() },
      connections: 4,
      duration: 600,
    });
    const stats = { non2xx: 0, errors: 0, total: 0 };
    load.on('response', (_c, status) => {
      stats.total++;
      if (status < 200 || status > 299) stats.non2xx++;
    });
    load.on('reqError', () => stats.errors++);
    try {
      const t0 = Date.now();
      const set = await flynn('-a', 'shop', 'env', 'set', 'GREETING=hola=mundo');
      const took = Date.now() - t0;
      expect(set.code, set.stderr).toBe(0);
      expect(set.stderr).toMatch(/^Created release [0-9a-f-]{36}\.\n/);
      process.stderr.write(`flynn-apps: env set deployed a 2-job app in ${took} ms\n`);
      const seen = await collectGreetings(20);
      expect([...seen.greetings]).toEqual(['hola=mundo']);
      expect(seen.jobs.size).toBe(2);
      expect((await flynn('-a', 'shop', 'env', 'get', 'GREETING')).stdout).toBe('hola=mundo\n');

      const back = await flynn('-a', 'shop', 'release', 'rollback', '-y');
      expect(back.code, back.stderr).toBe(0);
      expect(back.stderr).toMatch(/Successfully rolled back to release/);
      const after = await collectGreetings(20);
      expect([...after.greetings]).toEqual([null]);
    } finally {
      load.stop();
    }
    process.stderr.write(
      `flynn-apps: ${stats.total} requests during env set + rollback, ${stats.non2xx} non-2xx, ${stats.errors} errors\n`,
    );
    expect(stats.total).toBeGreaterThan(100);
    expect(stats.non2xx).toBe(0);
    expect(stats.errors).toBe(0);
  });

  async function collectGreetings(n: number): Promise<{ greetings: Set<string | null>; jobs: Set<string> }> {
    const greetings = new Set<string | null>();
    const jobs = new Set<string>();
    for (let i = 0; i < n; i++) {
      const a = await httpGetVia(cluster.hosts[i % 3], domain(), '/');
      const body = JSON.parse(a.body) as { greeting: string | null; job: string };
      greetings.add(body.greeting);
      jobs.add(body.job);
    }
    return { greetings, jobs };
  }

  it("a release whose web process exits at start: exit 1 with the job's error, the old release serves, the lock is gone", async () => {
    const before = (await flynn('-a', 'shop', 'release', '-q')).stdout;
    const broken = tarball('broken', {
      'server.js': SHOP,
      'release.json': JSON.stringify({ ...RELEASE, env: { CRASH_AT_START: '1' } }),
    });
    const r = await flynn('-a', 'shop', 'release', 'add', broken);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^Created release [0-9a-f-]{36}\.\nflynn: deploy failed: job \S+: crashed \(exit status 3\): boom: CRASH_AT_START is set\n$/,
    );
    expect((await flynn('-a', 'shop', 'release', '-q')).stdout.split('\n').length).toBe(
      before.split('\n').length + 1,
    );
    const served = await collectGreetings(6);
    expect(served.jobs.size).toBe(2);
    const app = JSON.parse((await flynn('kv', 'get', 'apps/shop')).stdout) as { id: string; release: string };
    expect((await flynn('kv', 'get', `deployments/${app.id}`)).code).toBe(1);
    expect((await flynn('-a', 'shop', 'ps')).stdout.trim().split('\n')).toHaveLength(3);
  });

  it("lists the system apps; one router per host; the router's log lines", async () => {
    const apps = await flynn('apps');
    expect(apps.stdout).toMatch(/^ID\s+NAME\n/);
    for (const name of ['discoverd', 'router', 'logaggregator', 'status', 'demo', 'shop']) {
      expect(apps.stdout).toMatch(new RegExp(`\\s${name}\\n`));
    }
    const ps = await flynn('-a', 'router', 'ps');
    const hosts = ps.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split('-')[0]);
    expect(hosts.sort()).toEqual(['host1', 'host2', 'host3']);
    await waitFor(async () => (await flynn('-a', 'router', 'log', '-n', '50')).stdout.includes('router['), {
      timeoutMs: 20_000,
      what: 'router lines in flynn -a router log',
    });
  });

  it('flynn -a status env get AUTH_KEY is the key status enforces; setting it makes the old key 401 and the new 200 from a public address', async () => {
    const got = await flynn('-a', 'status', 'env', 'get', 'AUTH_KEY');
    expect(got.stdout).toBe(`${cluster.keys.authKey}\n`);
    if (!netnsAvailable().available) return;
    const ns = new NetNamespace({ name: 'appspub', hostIp: '198.18.11.1', nsIp: '198.18.11.2' });
    ns.create();
    try {
      ns.forward(cluster.ports.http, cluster.hosts[0]);
      const status = (key: string) => {
        // node:http (fetch cannot set Host) from the namespace's public address.
        const opts = {
          host: '198.18.11.1',
          port: cluster.ports.http,
          path: `/?key=${key}`,
          headers: { host: `status.${cluster.domain}` },
        };
        const script = `require('node:http').get(${JSON.stringify(opts)}, (r) => { process.stdout.write(String(r.statusCode)); r.resume(); }).on('error', (e) => { console.error(e); process.exit(1); })`;
        const r = ns.exec(process.execPath, ['-e', script]);
        if (r.code !== 0) throw new Error(r.stderr);
        return Number(r.stdout);
      };
      expect(status('wrong')).toBe(401);
      expect([200, 500]).toContain(status(cluster.keys.authKey));
      const set = await flynn('-a', 'status', 'env', 'set', 'AUTH_KEY=rotated-key-1234');
      expect(set.code, set.stderr).toBe(0);
      await waitFor(() => status(cluster.keys.authKey) === 401, {
        timeoutMs: 20_000,
        what: 'the old key refused',
      });
      expect([200, 500]).toContain(status('rotated-key-1234'));
    } finally {
      ns.destroy();
    }
  });

  it('from a public address, through controller.<domain> with the pin: every command works; a wrong pin is refused before the key is sent; without the key every path is 401', async () => {
    if (!netnsAvailable().available) return;
    const ns = new NetNamespace({ name: 'appsctl', hostIp: '198.18.12.1', nsIp: '198.18.12.2' });
    ns.create();
    const rc = join(dir, 'flynnrc');
    const withRc = (file: string, ...args: string[]) =>
      ns.exec('env', [
        '-u',
        'DISCOVERD',
        '-u',
        'CLUSTER_KEY',
        `FLYNNRC=${file}`,
        process.execPath,
        FLYNN_BIN,
        ...args,
      ]);
    const remote = (...args: string[]) => withRc(rc, ...args);
    try {
      ns.forward(cluster.ports.https, cluster.hosts[0]);
      const add = cluster.clusterAddCommand('remote');
      const at = add.indexOf('--controller-addr');
      add[at + 1] = `198.18.12.1:${cluster.ports.https}`;
      // A wrong pin first: refused, nothing saved that works.
      const wrong = [...add];
      wrong[wrong.indexOf('-p') + 1] = Buffer.alloc(32).toString('base64');
      wrong[wrong.indexOf('remote')] = 'wrongpin';
      const wrongRc = join(dir, 'flynnrc-wrong');
      const recorded = withRc(wrongRc, ...wrong);
      expect(recorded.code, recorded.stderr).toBe(0); // cluster add itself only records
      const refused = withRc(wrongRc, '-c', 'wrongpin', 'apps');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `^flynn: TLS pin mismatch for controller\\.${cluster.domain.replace(/\./g, '\\.')} \\(got \\S+, want \\S+\\)\n$`,
        ),
      );

      const added = remote(...add);
      expect(added.code, added.stderr).toBe(0);
      const apps = remote('-c', 'remote', 'apps');
      expect(apps.stderr).toBe('');
      expect(apps.stdout).toMatch(/\sdemo\n/);
      const ps = remote('-c', 'remote', '-a', 'demo', 'ps');
      expect(ps.stdout.trim().split('\n')).toHaveLength(3);
      expect(remote('-c', 'remote', '-a', 'status', 'env', 'get', 'AUTH_KEY').code).toBe(0);
      expect(remote('-c', 'remote', '-a', 'demo', 'route').stdout).toContain(`http:demo.${cluster.domain}`);
      expect(remote('-c', 'remote', 'kv', 'get', 'apps/demo').code).toBe(0);
      const scale = remote('-c', 'remote', '-a', 'demo', 'scale', 'web=3');
      expect(scale.code, scale.stderr).toBe(0);
      expect(remote('-c', 'remote', '-a', 'demo', 'scale', 'web=2').code).toBe(0);
      const run = remote(
        '-c',
        'remote',
        '-a',
        'demo',
        'run',
        'node',
        '-e',
        'console.log("ran " + process.env.FLYNN_RELEASE_ID.length); process.exit(4)',
      );
      expect([run.code, run.stdout]).toEqual([4, 'ran 36\n']);
      const log = remote('-c', 'remote', '-a', 'router', 'log', '-n', '5');
      expect(log.code, log.stderr).toBe(0);

      // Without the key: 401 on every path, registry writes included.
      const noKey = (method: string, path: string) => {
        const opts = {
          host: '198.18.12.1',
          port: cluster.ports.https,
          method,
          path,
          servername: `controller.${cluster.domain}`,
          headers: { host: `controller.${cluster.domain}` },
          rejectUnauthorized: false,
        };
        const script = `const r = require('node:https').request(${JSON.stringify(opts)}, (res) => { process.stdout.write(String(res.statusCode)); res.resume(); }); r.on('error', (e) => { console.error(e); process.exit(1); }); r.end(${method === 'GET' ? '' : JSON.stringify('{"addr":"1.2.3.4:5"}')});`;
        const r = ns.exec(process.execPath, ['-e', script]);
        return Number(r.stdout);
      };
      for (const [m, p] of [
        ['GET', '/discoverd/services/shop-web/instances'],
        ['PUT', '/discoverd/services/evil/instances/1.2.3.4:5'],
        ['GET', '/discoverd/kv/apps/shop'],
        ['GET', '/hosts/host1/host/jobs'],
        ['GET', '/'],
      ]) {
        expect(noKey(m, p), `${m} ${p}`).toBe(401);
      }
    } finally {
      ns.destroy();
    }
  });

  it.each([
    [['create', 'Bad_Name'], 1, 'flynn: validation_error: name is invalid\n'],
    [['create', 'shop'], 1, 'flynn: object_exists: application "shop" already exists\n'],
    [
      ['-a', 'shop', 'scale', 'web=-1'],
      2,
      'flynn: ERROR: process quantities cannot be negative in "web=-1"\n',
    ],
    [['-a', 'shop', 'scale', 'worker=1'], 1, 'flynn: ERROR: unknown process types: worker\n'],
    [['-a', 'shop', 'env', 'set', 'NOEQUALS'], 2, 'flynn: invalid var format: "NOEQUALS"\n'],
    [['kv', 'put', 'x', 'y'], 2, 'flynn: kv put changes the cluster store directly; pass --yes\n'],
  ])('refuses %j with one line, exit %d, nothing changed', async (args, code, stderr) => {
    const before = (await flynn('kv', 'list', '')).stdout;
    const r = await flynn(...(args as string[]));
    expect(r.stderr).toBe(stderr);
    expect(r.code).toBe(code);
    expect((await flynn('kv', 'list', '')).stdout).toBe(before);
  });

  it('refuses a corrupt tarball, a sha256 that does not match, and a domain another app owns', async () => {
    writeFileSync(join(dir, 'corrupt.tar.gz'), 'not a tarball at all');
    let r = await flynn('-a', 'shop', 'release', 'add', join(dir, 'corrupt.tar.gz'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^flynn: \S+corrupt\.tar\.gz is not a gzip tarball: /);
    r = await flynn('-a', 'shop', 'release', 'add', '--sha256', '0'.repeat(64), shopTar());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^flynn: sha256 mismatch for \S+: the file has [0-9a-f]{64}, --sha256 says 0{64}\n$/,
    );
    r = await flynn('-a', 'shop', 'route', 'add', 'http', `demo.${cluster.domain}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already routed by app/);
  });

  it('two deploys of one app at the same moment: one runs, the other is refused cleanly', async () => {
    const [a, b] = await Promise.all([
      flynn('-a', 'shop', 'env', 'set', 'RACE=a'),
      flynn('-a', 'shop', 'env', 'set', 'RACE=b'),
    ]);
    const codes = [a.code, b.code].sort();
    expect(codes[0]).toBe(0);
    if (codes[1] !== 0) {
      const loser = a.code === 0 ? b : a;
      expect(loser.stderr).toMatch(
        /flynn: a deployment of shop is already running \(release [0-9a-f-]{36}, since /,
      );
    }
    const app = JSON.parse((await flynn('kv', 'get', 'apps/shop')).stdout) as { id: string };
    expect((await flynn('kv', 'get', `deployments/${app.id}`)).code).toBe(1);
  });
});

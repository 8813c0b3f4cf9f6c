import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FLYNN_BIN, runFlynn } from '@flynn-edge/cli/testing';
import { ControllerProcess } from '@flynn-edge/controller/testing';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { localHostDaemon } from '@flynn-edge/local-cluster';
import { nextPortBlock } from '@flynn-edge/process-kit';
import { RouterProcess } from '@flynn-edge/router/testing';
import { NetNamespace, netnsAvailable, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Reaching a cluster from outside, as an operator's laptop does: the `flynn` CLI runs in a network
// namespace with a public address (198.18.16.2, not private), and its only way in is HTTPS to the
// router (listening on 198.18.16.1), which routes controller.ctl.test, with a self-signed
// certificate, to the controller gateway (127.0.0.162). Behind it: discoverd (127.0.0.161, with
// the cluster key) and a flynn-host daemon (127.0.0.163). The CLI adds the cluster with Flynn's pin
// and our --controller-addr (the router is on a test port, not 443) and reads discoverd, the
// cluster store and the host through the gateway. A wrong pin is refused before the key goes out
// (the controller counts no request), and without the key every path answers 401.

const netns = netnsAvailable();
const openssl = spawnSync('openssl', ['version']).status === 0;
if (!openssl)
  process.stderr.write('skipping tests: openssl is needed for the certificate (apt-get install openssl)\n');

const KEY = 'controller-remote-test-key';
const DOMAIN = 'ctl.test';
const CONTROLLER_HOST = `controller.${DOMAIN}`;
const HOST_IP = '198.18.16.1';
const PUBLIC_IP = '198.18.16.2';
const BASE = nextPortBlock(20);
const HTTPS_PORT = BASE + 3;
const CONTROLLER_ADDR = `${HOST_IP}:${HTTPS_PORT}`;

const dir = mkdtempSync(join(tmpdir(), 'controller-remote-'));
const ns = new NetNamespace({ name: 'ctlrem', hostIp: HOST_IP, nsIp: PUBLIC_IP });
const discoverd = new DiscoverdProcessCluster({
  size: 1,
  port: BASE,
  dnsPort: BASE + 1,
  dir,
  firstHost: 161,
  env: { CLUSTER_KEY: KEY },
});
const DISCOVERD = discoverd.addrs.join(',');
const router = new RouterProcess({
  ip: HOST_IP,
  httpPort: BASE + 2,
  httpsPort: HTTPS_PORT,
  apiPort: BASE + 4,
  tcpRange: { start: BASE + 5, end: BASE + 6 },
  discoverd: DISCOVERD,
  clusterKey: KEY,
  workers: 0,
  logFile: join(dir, 'router.log'),
});
const controller = new ControllerProcess({
  ip: '127.0.0.162',
  port: BASE + 7,
  discoverd: DISCOVERD,
  clusterKey: KEY,
  logFile: join(dir, 'controller.log'),
});
const host = localHostDaemon({
  n: 1,
  ip: '127.0.0.163',
  apiPort: BASE + 8,
  dir,
  jobPorts: { start: BASE + 9, end: BASE + 12 },
  env: { DISCOVERD, CLUSTER_KEY: KEY },
});

// The client side, run inside the namespace: a `flynn` program with the cluster commands and two
// reads through the target (until bin/flynn wires them, then `cluster` goes through bin/flynn).
const CLI_DIST = fileURLToPath(new URL('../../apps/cli/dist/', import.meta.url));
const COMMANDER = createRequire(join(CLI_DIST, 'index.js')).resolve('commander');
const HARNESS = join(dir, 'flynn-remote.mjs');
writeFileSync(
  HARNESS,
  `import { Command, CommanderError } from ${JSON.stringify(pathToFileURL(COMMANDER).href)};
import { registerClusterCommands, resolveTarget } from ${JSON.stringify(pathToFileURL(join(CLI_DIST, 'flynn/cluster.js')).href)};
import { getJson } from ${JSON.stringify(pathToFileURL(join(CLI_DIST, 'discoverd-http.js')).href)};
import { CliError } from ${JSON.stringify(pathToFileURL(join(CLI_DIST, 'output.js')).href)};
const program = new Command('flynn').exitOverride();
registerClusterCommands(program);
const print = (v) => process.stdout.write(JSON.stringify(v) + '\\n');
program.command('discoverd-get <path>').action(async (path, _o, cmd) => {
  const t = await resolveTarget(cmd.optsWithGlobals());
  print((await getJson(t.discoverd[0] + path, { clusterKey: t.clusterKey })).value);
});
program.command('host-get <id> <path>').action(async (id, path, _o, cmd) => {
  const t = await resolveTarget(cmd.optsWithGlobals());
  print((await getJson(t.hostUrl({ id, addr: '' }) + path, { clusterKey: t.clusterKey })).value);
});
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  if (!(err instanceof CliError)) throw err;
  process.stderr.write('flynn: ' + err.message + '\\n');
  process.exit(1);
}
`,
);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A command inside the namespace, without blocking this process (the test's servers run here). */
function inNs(command: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base: Record<string, string | undefined> = { ...process.env };
  delete base.DISCOVERD;
  delete base.CLUSTER_KEY;
  delete base.FLYNN_CLUSTER;
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns.ns, command, ...args], {
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let flynnrc = '';
let cliWired = false;
/** `flynn ARGS` from the public address, with its own flynnrc. */
function flynn(...args: string[]): Promise<Run> {
  return flynnWith(flynnrc, ...args);
}

function flynnWith(rc: string, ...args: string[]): Promise<Run> {
  const bin = cliWired && args[0] === 'cluster' ? FLYNN_BIN : HARNESS;
  return inNs(process.execPath, [bin, ...args], { FLYNNRC: rc });
}

/** Raw HTTPS requests from the public address to the router, for the controller name. */
async function statusesFromPublic(
  requests: { method: string; path: string; auth?: string }[],
): Promise<number[]> {
  const script = `
const https = await import('node:https');
const out = [];
for (const r of ${JSON.stringify(requests)}) {
  out.push(await new Promise((resolve) => {
    const req = https.request({ host: ${JSON.stringify(HOST_IP)}, port: ${HTTPS_PORT}, servername: ${JSON.stringify(CONTROLLER_HOST)},
      rejectUnauthorized: false, method: r.method, path: r.path,
      headers: { host: ${JSON.stringify(CONTROLLER_HOST)}, ...(r.auth ? { authorization: r.auth } : {}), ...(r.method === 'PUT' ? { 'content-type': 'application/json' } : {}) } },
      (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', (e) => resolve(String(e.code || e.message)));
    req.end(r.method === 'PUT' ? JSON.stringify({ addr: '10.9.9.9:80', proto: 'http' }) : undefined);
  }));
}
process.stdout.write(JSON.stringify(out));`;
  const r = await inNs(process.execPath, ['--input-type=module', '-e', script]);
  if (r.code !== 0) throw new Error(`client in the namespace failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as number[];
}

/** Every request the controller has answered (its own counter; a scrape counts once it is done). */
async function controllerRequests(): Promise<number> {
  const text = await (
    await fetch(`${controller.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })
  ).text();
  let sum = 0;
  for (const m of text.matchAll(/^flynn_controller_requests_total\{[^}]*\} (\d+)$/gm)) sum += Number(m[1]);
  return sum;
}

let pin = '';

describe.skipIf(!netns.available || !openssl)(
  'the flynn CLI from a public address, through the controller gateway',
  () => {
    beforeAll(async () => {
      ns.create();
      const key = join(dir, 'controller.key');
      const cert = join(dir, 'controller.crt');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-days',
          '2',
          '-subj',
          `/CN=${CONTROLLER_HOST}`,
          '-addext',
          `subjectAltName=DNS:${CONTROLLER_HOST}`,
          '-keyout',
          key,
          '-out',
          cert,
        ],
        { stdio: 'ignore' },
      );
      // Flynn's pin: base64(sha256(DER of the leaf)).
      pin = execFileSync('sh', [
        '-c',
        `openssl x509 -in '${cert}' -outform DER | openssl dgst -sha256 -binary | openssl base64 -A`,
      ])
        .toString()
        .trim();
      cliWired = /Usage: flynn cluster/.test((await runFlynn(['cluster', '--help'])).stdout);

      discoverd.start();
      await discoverd.leader(20_000);
      router.start();
      controller.start();
      host.start();
      await router.ready();
      const route = await fetch(`${router.apiUrl}/routes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...router.authHeaders() },
        body: JSON.stringify({
          type: 'http',
          service: 'controller',
          domain: CONTROLLER_HOST,
          certificate: { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') },
        }),
      });
      if (route.status !== 200)
        throw new Error(`route ${CONTROLLER_HOST}: ${route.status} ${await route.text()}`);
      await controller.ready();
      await waitFor(
        async () =>
          (
            await statusesFromPublic([
              { method: 'GET', path: '/discoverd/services/controller/instances', auth: `Bearer ${KEY}` },
            ])
          )[0] === 200,
        { timeoutMs: 20_000, what: 'the controller route serving' },
      );
      flynnrc = join(dir, 'flynnrc');
    }, 90_000);

    afterAll(async () => {
      await Promise.all([router.close(), controller.close(), host.close()]);
      await discoverd.close();
      ns.destroy();
    });

    it('cluster add with the pin and --controller-addr; discoverd, the cluster store and a host are read through the gateway', async () => {
      const add = await flynn(
        'cluster',
        'add',
        '-p',
        pin,
        '--controller-addr',
        CONTROLLER_ADDR,
        'local',
        DOMAIN,
        KEY,
      );
      expect(add.stderr).toBe('Cluster "local" added and set as default.\n');
      expect(add.code).toBe(0);
      const list = await flynn('cluster');
      expect(list.stdout).toMatch(
        /^local\s+https:\/\/controller\.ctl\.test\s+\(none\)\s+\(none\)\s+\(default\)$/m,
      );

      const instances = await flynn('discoverd-get', '/services/controller/instances');
      expect(instances.stderr).toBe('');
      expect(JSON.parse(instances.stdout)).toEqual([
        expect.objectContaining({ addr: `127.0.0.162:${BASE + 7}` }),
      ]);

      // The cluster store needs the key: it went along (and only to the pinned controller).
      await fetch(`http://${discoverd.addrs[0]}/kv/remote-check`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ value: 'seen from outside' }),
      });
      const kv = await flynn('discoverd-get', '/kv/remote-check');
      expect(JSON.parse(kv.stdout)).toMatchObject({ value: 'seen from outside' });

      const status = await waitFor(
        async () => {
          const r = await flynn('host-get', 'host1', '/host/status');
          return r.code === 0 ? r : undefined;
        },
        { timeoutMs: 20_000, what: 'host1 through the gateway' },
      );
      expect(JSON.parse(status.stdout)).toBeTypeOf('object');
    });

    it('a wrong pin is refused before anything is sent: the controller sees no request', async () => {
      const wrong = Buffer.alloc(32, 9).toString('base64');
      const rc = join(dir, 'flynnrc-bad');
      const add = await flynnWith(
        rc,
        'cluster',
        'add',
        '-p',
        wrong,
        '--controller-addr',
        CONTROLLER_ADDR,
        'bad',
        DOMAIN,
        KEY,
      );
      expect(add.code).toBe(0);
      const before = await controllerRequests();
      const r = await flynnWith(rc, '-c', 'bad', 'discoverd-get', '/services/controller/instances');
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`flynn: TLS pin mismatch for ${CONTROLLER_HOST} (got ${pin}, want ${wrong})\n`);
      // The only request since `before` is that scrape itself.
      expect(await controllerRequests()).toBe(before + 1);
    });

    it('without the key, every path under the controller name answers 401 (registry writes included)', async () => {
      const paths = [
        { method: 'GET', path: '/' },
        { method: 'GET', path: '/metrics' },
        { method: 'GET', path: '/discoverd/services/controller/instances' },
        { method: 'GET', path: '/discoverd/kv/remote-check' },
        { method: 'PUT', path: '/discoverd/services/x/instances/10.9.9.9:80' },
        { method: 'GET', path: '/hosts/host1/host/status' },
        { method: 'GET', path: `/services/router-api/${HOST_IP}:${BASE + 4}/routes` },
      ];
      expect(await statusesFromPublic(paths)).toEqual(paths.map(() => 401));
      const wrongKey = paths.map((p) => ({ ...p, auth: 'Bearer not-the-key' }));
      expect(await statusesFromPublic(wrongKey)).toEqual(paths.map(() => 401));
      // With it, the same reads go through.
      expect(await statusesFromPublic([{ ...paths[2]!, auth: `Bearer ${KEY}` }])).toEqual([200]);
    });
  },
);

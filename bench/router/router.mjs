// Our side of the bench: a 1-node discoverd, routers (apps/router) pointed at it, routes created
// through the router API and the backend registered in discoverd as Flynn's jobs would be.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { freePort, startProcess, waitFor } from './lib.mjs';

export const ROUTER_BIN = new URL('../../apps/router/bin/router.js', import.meta.url).pathname;
const DISCOVERD_BIN = new URL('../../apps/discoverd/bin/discoverd.js', import.meta.url).pathname;
const ROUTER_DIST = new URL('../../apps/router/dist/main.js', import.meta.url).pathname;

export function routerAvailable() {
  return existsSync(ROUTER_BIN) && existsSync(ROUTER_DIST);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP request with a JSON body; resolves { status, text }. */
export function request(method, url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const data = body === undefined ? undefined : JSON.stringify(body);
    const h = { ...headers };
    if (data !== undefined) {
      h['content-type'] = 'application/json';
      h['content-length'] = Buffer.byteLength(data);
    }
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, agent },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    req.end(data);
  });
}

export async function startDiscoverd(dir) {
  const port = await freePort();
  const dataDir = join(dir, 'discoverd');
  mkdirSync(dataDir, { recursive: true });
  const args = [DISCOVERD_BIN, '-addr', `127.0.0.1:${port}`, '-host', '127.0.0.1', '-data-dir', dataDir];
  // Registered once, never heartbeated by a job: keep the instance for the whole run.
  args.push('-instance-ttl', '24h');
  const proc = startProcess(process.execPath, args, { env: { ...process.env, LOG_LEVEL: 'warn' } });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`discoverd exited: ${proc.log()}`);
      const r = await request('GET', `${url}/raft/leader`);
      return r.status === 200 && r.text.includes('127.0.0.1');
    },
    { what: 'discoverd leader' },
  );
  return { proc, url };
}

/** Registers `addr` as an instance of `service` (Flynn's id: md5 of "tcp-" + addr). */
export async function registerBackend(discoverdUrl, service, addr) {
  const s = await request('PUT', `${discoverdUrl}/services/${service}`, {});
  if (s.status !== 200 && s.status !== 409) throw new Error(`create service: ${s.status} ${s.text}`);
  const id = createHash('md5').update(`tcp-${addr}`).digest('hex');
  const r = await request('PUT', `${discoverdUrl}/services/${service}/instances/${id}`, {
    id,
    addr,
    proto: 'tcp',
  });
  if (r.status !== 200) throw new Error(`register instance: ${r.status} ${r.text}`);
}

export const COOKIE_KEY = randomBytes(32).toString('base64');

/** Starts one router; resolves with its ports and process once its API answers. */
export async function startRouter({
  discoverdUrl,
  workers,
  tcpIp = '127.0.0.1',
  tcpStart,
  tcpRangeSize = 4,
  name = 'router',
}) {
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const apiPort = await freePort();
  const args = [
    ROUTER_BIN,
    '-http-port',
    String(httpPort),
    '-https-port',
    String(httpsPort),
    '-api-port',
    String(apiPort),
    '-tcp-ip',
    tcpIp,
    '-tcp-range-start',
    String(tcpStart),
    '-tcp-range-end',
    String(tcpStart + tcpRangeSize - 1),
    '-workers',
    String(workers),
  ];
  const env = {
    ...process.env,
    DISCOVERD: discoverdUrl,
    COOKIE_KEY,
    LISTEN_IP: '127.0.0.1',
    LOG_LEVEL: 'warn',
    FLYNN_HOST_ID: name,
  };
  const proc = startProcess(process.execPath, args, { env });
  const api = `http://127.0.0.1:${apiPort}`;
  await waitFor(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`router exited: ${proc.log()}`);
      return (await request('GET', `${api}/.well-known/status`)).status === 200;
    },
    { what: `${name} API`, timeoutMs: 30_000 },
  );
  return {
    name,
    proc,
    pid: proc.pid,
    api,
    httpPort,
    httpsPort,
    tcpIp,
    tcpStart,
    cmd: `DISCOVERD=${discoverdUrl} COOKIE_KEY=… node ${args.map((a) => a.replace(/.*\/apps\//, 'apps/')).join(' ')}`,
  };
}

/** POST /routes; a 503 marked `retry` (lost a store race with another writer) is retried. */
export async function addRoute(api, route) {
  for (let attempt = 1; ; attempt++) {
    const r = await request('POST', `${api}/routes`, route);
    if (r.status === 200) return JSON.parse(r.text);
    if (r.status === 503 && attempt < 20 && /"retry":\s*true/.test(r.text)) {
      await new Promise((res) => setTimeout(res, 5 * attempt * Math.random()));
      continue;
    }
    throw new Error(
      `POST /routes ${JSON.stringify(route).slice(0, 120)}: ${r.status} ${r.text.slice(0, 300)}`,
    );
  }
}

/** Status of GET / with a Host header on a router's HTTP port. */
export function probeHost(port, host) {
  return request('GET', `http://127.0.0.1:${port}/`, undefined, { host }).then((r) => r.status);
}

/**
 * A keep-alive prober on one raw socket: a prebuilt `GET /` with the given Host, the status read
 * off the answer's first line. The propagation scenario probes every router each millisecond;
 * through node:http each probe cost the bench ~0.2 ms of CPU on the CPU it shares with discoverd,
 * which slowed the very writes it timed.
 */
export function rawProber(port) {
  let sock;
  let buf = '';
  let waiting;
  const settle = (status) => {
    const w = waiting;
    waiting = undefined;
    w?.(status);
  };
  const connect = () => {
    sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    sock.setEncoding('latin1');
    sock.on('data', (d) => {
      buf += d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end));
      if (!len) {
        // Not the answer this prober expects (chunked or close-delimited): start over.
        sock.destroy();
        return;
      }
      const total = end + 4 + Number(len[1]);
      if (buf.length < total) return;
      const status = Number(buf.slice(9, 12));
      buf = buf.slice(total);
      settle(status);
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      sock = undefined;
      buf = '';
      settle(0);
    });
  };
  const probe = (host) =>
    new Promise((resolve) => {
      if (!sock) connect();
      waiting = resolve;
      sock.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    });
  probe.close = () => sock?.destroy();
  return probe;
}

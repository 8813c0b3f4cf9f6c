import { mkdtempSync } from 'node:fs';
import { createServer, get as httpGet, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { runDemo, waitFor } from '@flynn-edge/process-kit';
import { RouterProcess } from './process.js';

// `npm start`: the most complete local cluster so far. Three discoverd processes on
// 127.0.0.1-3, a router on 127.0.0.1 (HTTP 8080, HTTPS 8443, API 5000, TCP 3000-3500) with two
// workers, and a demo app of two backends registered in discoverd, routed at demo.localhost
// (HTTP, HTTPS) and on TCP port 3000. Prints the commands that reach it. Ctrl-C stops it all.

const env = process.env;
const discoverdPort = Number(env.DEMO_PORT ?? 1111);
const dnsPort = Number(env.DEMO_DNS_PORT ?? 5353);
const httpPort = Number(env.DEMO_HTTP_PORT ?? 8080);
const httpsPort = Number(env.DEMO_HTTPS_PORT ?? 8443);
const apiPort = Number(env.DEMO_API_PORT ?? 5000);
const dir = mkdtempSync(join(tmpdir(), 'flynn-edge-demo-'));
const say = (msg = '') => process.stdout.write(`${msg}\n`);

const discoverd = new DiscoverdProcessCluster({ port: discoverdPort, dnsPort, dir });
const router = new RouterProcess({
  ip: '127.0.0.1',
  httpPort,
  httpsPort,
  apiPort,
  tcpRange: { start: 3000, end: 3500 },
  discoverd: discoverd.addrs.join(','),
  workers: 2,
  hostName: 'host-1',
  logFile: join(dir, 'router.log'),
});
const client = new DiscoverdClient({ servers: discoverd.addrs });
const backends: Server[] = [];

function startBackend(n: number, port: number): Promise<void> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(
      `hello from demo-web backend ${n} (127.0.0.1:${port}): ${req.method} ${req.url} via ${req.headers['flynn-router-host'] ?? 'direct'}\n`,
    );
  });
  backends.push(server);
  return new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
}

async function api(path: string, body: unknown): Promise<unknown> {
  const r = await fetch(`${router.apiUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`POST ${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/** GET / through the router with a Host header (fetch cannot set Host). */
function statusThroughRouter(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpGet(
      { host: '127.0.0.1', port: httpPort, path: '/', headers: { host }, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function main(): Promise<void> {
  say(`flynn-edge demo: discoverd on ${discoverd.addrs.join(', ')}, a router on 127.0.0.1`);
  say(`data and logs in ${dir}\n`);
  discoverd.start();
  const leader = await discoverd.leader(20_000);
  say(`1. discoverd: Raft leader elected (${discoverd.addrs[leader]})`);

  router.start();
  await router.ready(60_000);
  say(`2. router serving: HTTP :${httpPort}, HTTPS :${httpsPort}, API :${apiPort}, TCP routes 3000-3500`);

  for (const [n, port] of [
    [1, 8091],
    [2, 8092],
  ] as const) {
    await startBackend(n, port);
    await client.addServiceAndRegister('demo-web', `127.0.0.1:${port}`, {
      meta: { FLYNN_APP_NAME: 'demo', FLYNN_JOB_ID: `host-1-demo-${n}` },
    });
  }
  say('3. demo app: 2 backends registered in discoverd as service demo-web');

  await api('/routes', { type: 'http', service: 'demo-web', domain: 'demo.localhost' });
  const tcp = (await api('/routes', { type: 'tcp', service: 'demo-web', port: 0 })) as { port: number };
  await waitFor(
    async () => {
      return (await statusThroughRouter('demo.localhost')) === 200;
    },
    { timeoutMs: 15_000, what: 'the demo route to serve' },
  );
  say(`4. routes: http demo.localhost -> demo-web, tcp :${tcp.port} -> demo-web\n`);

  say('Try it (Ctrl-C stops everything):');
  say(`  curl -s -H 'Host: demo.localhost' http://127.0.0.1:${httpPort}/`);
  say(`  curl -sk --resolve demo.localhost:${httpsPort}:127.0.0.1 https://demo.localhost:${httpsPort}/`);
  say(`  curl -s http://127.0.0.1:${tcp.port}/                      # the TCP route`);
  say(`  curl -s http://127.0.0.1:${apiPort}/routes                  # the route API`);
  say(
    `  curl -sN 'http://127.0.0.1:${apiPort}/events?types=set,remove,backend-up,backend-down,backend-drained'`,
  );
  say(`  curl -s http://127.0.0.1:${apiPort}/metrics | grep flynn_router_requests_total`);
  say(`  kill -HUP ${router.proc.pid}                              # replace the workers, dropping nothing`);
  say(`  curl -s http://127.0.0.1:${discoverdPort}/services/demo-web/instances`);
}

runDemo(
  main,
  async () => {
    await client.close();
    for (const b of backends) b.close();
    await router.close();
    await discoverd.close();
  },
  dir,
);

import { mkdtempSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { freePort, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RouterProcess } from '../src/process.js';
import { Backend, get } from './helpers.js';

// Issue 11: a router start either serves or exits with one clear line, and nothing a dying worker
// does to the IPC channel crashes the primary. Routers on 127.0.0.112 with fresh ports each time,
// against one discoverd on 127.0.0.111.

const IP = '127.0.0.112';
const dir = mkdtempSync(join(tmpdir(), 'router-start-'));
const discoverd = new DiscoverdProcessCluster({
  size: 1,
  firstHost: 111,
  port: 20_000 + Math.floor(Math.random() * 100) * 100,
  dir,
});
const client = new DiscoverdClient({ servers: discoverd.addrs });
const backend = new Backend('start-web');
const running: RouterProcess[] = [];

interface Ports {
  http: number;
  https: number;
  api: number;
  tcp: number;
}

async function freshPorts(): Promise<Ports> {
  const ports = new Set<number>();
  while (ports.size < 4) ports.add(await freePort(IP));
  const [http, https, api, tcp] = [...ports];
  return { http, https, api, tcp };
}

let n = 0;
function router(p: Ports, workers = 2, args: string[] = []): RouterProcess {
  const r = new RouterProcess({
    args,
    ip: IP,
    httpPort: p.http,
    httpsPort: p.https,
    apiPort: p.api,
    tcpRange: { start: p.tcp, end: p.tcp },
    discoverd: discoverd.addrs.join(','),
    workers,
    logFile: join(dir, `router-${++n}.log`),
  });
  running.push(r);
  r.start();
  return r;
}

/** What the router wrote besides its JSON log lines (stdout and stderr share the log file). */
function stderrOf(r: RouterProcess): string {
  const log = readFileSync(r.opts.logFile!, 'utf8');
  return log
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('{'))
    .join('\n');
}

async function workerStatus(r: RouterProcess): Promise<{ pid: number; connections: number }[]> {
  const res = await fetch(`${r.apiUrl}/router/status`, { signal: AbortSignal.timeout(2000) });
  return ((await res.json()) as { workers: { pid: number; connections: number }[] }).workers;
}

async function workers(r: RouterProcess): Promise<number[]> {
  return (await workerStatus(r)).map((w) => w.pid);
}

/** Opens a keep-alive connection, sends one GET and resolves with the socket once answered. */
function openAnswered(port: number, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, IP);
    s.setTimeout(10_000, () => s.destroy(new Error('no answer')));
    s.once('error', reject);
    s.once('data', (d) => (String(d).startsWith('HTTP/1.1 200') ? resolve(s) : reject(new Error(String(d)))));
    s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  });
}

function hold(port: number): Promise<Server> {
  const s = createServer();
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, IP, () => resolve(s));
  });
}

beforeAll(async () => {
  discoverd.start();
  await discoverd.leader(20_000);
  await backend.listen();
  backend.heartbeater = await client.addServiceAndRegister('start-web', backend.addr);
  // The route lives in the cluster store, so every router started below serves it.
  const p = await freshPorts();
  const r = router(p, 1);
  await r.ready();
  const res = await fetch(`${r.apiUrl}/routes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'http', service: 'start-web', domain: 'start.test' }),
  });
  expect(res.status).toBe(200);
  await r.close();
}, 60_000);

afterAll(async () => {
  await Promise.all(running.map((r) => r.proc.close()));
  backend.close();
  await client.close();
  await discoverd.close();
});

describe('router start', { timeout: 180_000 }, () => {
  it('serves after each of 10 starts with two workers on fresh ports', async () => {
    for (let i = 0; i < 10; i++) {
      const p = await freshPorts();
      const r = router(p);
      await r.ready(30_000);
      expect(await workers(r)).toHaveLength(2);
      const answer = await waitFor(
        async () => {
          const a = await get(`http://${IP}:${p.http}/`, 'start.test');
          return a.status === 200 && a;
        },
        { timeoutMs: 10_000, what: `start ${i} serving start.test` },
      );
      expect(answer.text).toContain(backend.id);
      await r.close();
      expect(stderrOf(r), `start ${i}`).toBe('');
    }
  });

  for (const which of ['http', 'https', 'api', 'tcp'] as const) {
    it(`exits non-zero with one line when the ${which} port is held by another process`, async () => {
      const p = await freshPorts();
      const holder = await hold(p[which]);
      try {
        const started = Date.now();
        const r = router(p);
        const code = await Promise.race([
          r.proc.wait(),
          new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 15_000)),
        ]);
        expect(code).toBe(1);
        expect(Date.now() - started).toBeLessThan(15_000);
        expect(stderrOf(r)).toBe(`router: cannot listen on ${IP}:${p[which]}: address already in use`);
      } finally {
        holder.close();
      }
    });
  }

  // -accept-policy: the workers accept from the shared socket (kernel, the default) or the
  // primary hands each connection over (round-robin: to the workers in turn, so both get some).
  it.each(['kernel', 'round-robin'])('serves every new connection with -accept-policy %s', async (policy) => {
    const p = await freshPorts();
    const r = router(p, 2, ['-accept-policy', policy]);
    await r.ready(30_000);
    for (let i = 0; i < 40; i++) {
      const a = await get(`http://${IP}:${p.http}/`, 'start.test', { connection: 'close' });
      expect(a.status, `connection ${i}`).toBe(200);
    }
    const open = await Promise.all(Array.from({ length: 20 }, () => openAnswered(p.http, 'start.test')));
    try {
      const counts = await waitFor(
        async () => {
          const c = (await workerStatus(r)).map((w) => w.connections);
          return c.reduce((a, b) => a + b, 0) === 20 && c;
        },
        { timeoutMs: 10_000, what: 'the 20 open connections in the workers’ status' },
      );
      if (policy === 'round-robin') for (const c of counts) expect(c).toBeGreaterThanOrEqual(5);
    } finally {
      for (const s of open) s.destroy();
    }
    await r.close();
    expect(stderrOf(r)).toBe('');
  });

  it('refuses an unknown -accept-policy with one line', async () => {
    const r = router(await freshPorts(), 2, ['-accept-policy', 'random']);
    expect(await r.proc.wait()).not.toBe(0);
    expect(stderrOf(r)).toMatch(/-accept-policy must be one of kernel, round-robin/);
  });

  it('retries a port that another process holds for a moment, then serves', async () => {
    const p = await freshPorts();
    const holder = await hold(p.http);
    const r = router(p);
    setTimeout(() => holder.close(), 1000);
    await r.ready(30_000);
    expect((await get(`http://${IP}:${p.http}/`, 'start.test')).status).toBe(200);
    await r.close();
    expect(stderrOf(r)).toBe('');
  });

  it('survives workers killed while it is sending them messages', async () => {
    const p = await freshPorts();
    const r = router(p);
    await r.ready(30_000);
    // Every /metrics request makes the primary message each worker (prom-client's aggregator),
    // and every status poll reads what they sent.
    let stop = false;
    const hammer = Array.from({ length: 16 }, async () => {
      while (!stop) {
        await fetch(`${r.apiUrl}/metrics`, { signal: AbortSignal.timeout(10_000) }).then(
          (res) => res.arrayBuffer(),
          () => undefined,
        );
      }
    });
    try {
      for (let round = 0; round < 4; round++) {
        const pids = await workers(r);
        expect(pids.length).toBeGreaterThan(0);
        for (const pid of pids) process.kill(pid, 'SIGKILL');
        await waitFor(
          async () => {
            if (!r.proc.running) throw new Error('the primary died');
            const now = await workers(r);
            return now.length === 2 && now.every((w) => !pids.includes(w));
          },
          { timeoutMs: 30_000, what: `round ${round}: both workers replaced` },
        );
      }
    } finally {
      stop = true;
      await Promise.all(hammer);
    }
    expect(r.proc.running).toBe(true);
    expect((await get(`http://${IP}:${p.http}/`, 'start.test')).status).toBe(200);
    await r.close();
    const err = stderrOf(r);
    expect(err).not.toMatch(/EPIPE|ERR_IPC_CHANNEL_CLOSED|Error/);
  });
});

import { existsSync, readFileSync } from 'node:fs';
import type { ManagedProcess } from '@flynn-edge/testkit';
import { waitFor } from '@flynn-edge/testkit';
import type { OpsCluster } from './ops-cluster.js';

// Constant HTTP load from the public client's namespace (198.18.<tag>.2) through every host's
// router, for the scenarios that must drop no request. Each target gets `conns` keep-alive
// connections plus one client opening a new connection per request. A GET that fails on a reused
// keep-alive connection before any byte of an answer (the server closed it as the request left) is
// sent again once, as browsers and Go's http.Transport do (RFC 9112 §9.3.1); those are counted
// apart. Everything else that is not a 200 is a failure, with its time, target and reason.

const LOAD = `
const http = require('node:http');
const fs = require('node:fs');
const o = JSON.parse(process.argv[1]);
const t0 = Date.now();
const out = { ok: 0, failures: [], retried: 0, latencies: [], byTarget: {}, bodies: {} };
let stopping = false;
function get(ip, agent) {
  return new Promise((resolve) => {
    const req = http.get({ host: ip, port: 80, path: '/', headers: { host: o.host }, agent, timeout: 10000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => { body += d; }).on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', (e) => resolve({ err: e.code || e.message, answered: true }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve({ err: e.code || e.message, reused: req.reusedSocket }));
  });
}
async function client(ip, agent) {
  while (!stopping) {
    const start = performance.now();
    let r = await get(ip, agent);
    if (r.err && r.reused && !r.answered) { out.retried++; r = await get(ip, agent); }
    const ms = performance.now() - start;
    out.latencies.push(Math.round(ms * 100) / 100);
    out.byTarget[ip] = (out.byTarget[ip] || 0) + 1;
    if (r.status === 200) {
      out.ok++;
      out.bodies[r.body] = (out.bodies[r.body] || 0) + 1;
    } else out.failures.push({ atMs: Date.now() - t0, target: ip, reason: r.err || ('HTTP ' + r.status + ' ' + (r.body || '').slice(0, 200)) });
  }
}
const clients = [];
for (const ip of o.targets) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.conns });
  for (let i = 0; i < o.conns; i++) clients.push(client(ip, agent));
  clients.push(client(ip, false));
}
process.on('SIGTERM', async () => {
  stopping = true;
  await Promise.all(clients);
  out.ms = Date.now() - t0;
  fs.writeFileSync(o.out + '.partial', JSON.stringify(out));
  fs.renameSync(o.out + '.partial', o.out);
  process.exit(0);
});
`;

export interface LoadResult {
  ok: number;
  failures: { atMs: number; target: string; reason: string }[];
  retried: number;
  ms: number;
  /** Requests per target address. */
  byTarget: Record<string, number>;
  /** How many times each answer body was seen (the demo app answers with its job and pid). */
  bodies: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
}

export class LoadClient {
  private constructor(
    private readonly proc: ManagedProcess,
    private readonly out: string,
  ) {}

  /** Starts the load against `hosts`' routers with Host: `host`. */
  static start(c: OpsCluster, hosts: number[], host: string, out: string, conns = 2): LoadClient {
    const proc = c.net.spawn('public', {
      name: 'load',
      command: process.execPath,
      args: ['-e', LOAD, JSON.stringify({ targets: hosts.map((k) => c.ip(k)), host, conns, out })],
      logFile: `${out}.log`,
    });
    return new LoadClient(proc, out);
  }

  /** Stops the load and reads what it saw. */
  async stop(): Promise<LoadResult> {
    this.proc.signal('SIGTERM');
    await waitFor(() => existsSync(this.out), { timeoutMs: 30_000, what: 'the load client results' });
    const raw = JSON.parse(readFileSync(this.out, 'utf8')) as Omit<LoadResult, 'p50' | 'p99' | 'max'> & {
      latencies: number[];
    };
    const sorted = raw.latencies.sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    const { latencies: _l, ...rest } = raw;
    return { ...rest, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? 0 };
  }
}

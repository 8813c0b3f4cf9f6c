// Shared helpers for the router bench: free ports, process trees and their CPU/RSS from /proc,
// wrk runs and their parsed output, child processes that are always cleaned up.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host, port: 0 }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A block of `n` consecutive free ports (for the TCP route range). */
export async function freeRange(n, host = '127.0.0.1') {
  for (let i = 0; i < 100; i++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const held = [];
    let ok = true;
    for (let p = base; p < base + n && ok; p++) {
      const s = net.createServer();
      ok = await new Promise((r) => {
        s.once('error', () => r(false));
        s.listen({ host, port: p }, () => r(true));
      });
      if (ok) held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (ok) return base;
  }
  throw new Error('no free port range');
}

const TICK = 100; // USER_HZ on Linux

function statOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** `pid` and all its descendants. */
export function processTree(pid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = statOf(name);
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(name));
    children.set(st.ppid, list);
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    if (!statOf(p)) continue;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** CPU seconds (user + system) consumed so far by `pid` and its descendants, per pid. */
export function cpuSnapshot(rootPids) {
  const snap = new Map();
  for (const root of rootPids) {
    for (const p of processTree(root)) snap.set(p, statOf(p)?.cpuTicks ?? 0);
  }
  return snap;
}

/** CPU seconds between two snapshots (a pid that appeared counts from zero). */
export function cpuDelta(before, after) {
  let ticks = 0;
  for (const [p, t] of after) ticks += t - (before.get(p) ?? 0);
  return ticks / TICK;
}

/** Resident set size in bytes, summed over the trees. */
export function rssBytes(rootPids) {
  let kb = 0;
  for (const root of rootPids) {
    for (const p of processTree(root)) {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
        if (m) kb += Number(m[1]);
      } catch {}
    }
  }
  return kb * 1024;
}

/** Parses wrk --latency output. Latencies in ms. */
export function parseWrk(text) {
  const unit = (v, u) => Number(v) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[u] ?? 1);
  const lat = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
    return m ? unit(m[1], m[2]) : null;
  };
  const reqs = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(text);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests: reqs ? Number(reqs[1]) : 0,
    seconds: reqs ? unit(reqs[2], reqs[3]) / 1000 : 0,
    rps: rps ? Number(rps[1]) : 0,
    p50: lat(50),
    p99: lat(99),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

/** Pins `pid` and its descendants (every thread) to `cpus` (a taskset list). */
export function pinTree(pid, cpus) {
  for (const p of processTree(pid))
    spawnSync('taskset', ['-a', '-p', '-c', cpus, String(p)], { stdio: 'ignore' });
}

/** Runs wrk; resolves with the parsed result plus the raw text. */
export function wrk({ url, connections = 50, threads = 2, seconds = 5, headers = [] }) {
  return new Promise((resolve, reject) => {
    const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--latency'];
    for (const h of headers) args.push('-H', h);
    args.push(url);
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      out += c;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`wrk exited ${code}: ${out}`));
      else resolve({ ...parseWrk(out), raw: out, cmd: `wrk ${args.join(' ')}` });
    });
  });
}

/** Child processes started by the bench, killed (by pid) on exit. */
const children = new Set();

export function startProcess(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let log = '';
  const keep = (c) => {
    log = (log + c).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return { child, pid: child.pid, log: () => log };
}

export async function stopProcess(proc, signal = 'SIGTERM') {
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

export function killAll() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

/** Polls `probe` until truthy or the deadline passes. */
export async function waitFor(probe, { timeoutMs = 20_000, what = 'condition', intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(intervalMs);
  }
}

export function tcpReady(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    load: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    node: process.version,
    kernel: os.release(),
    nginx: versionOf('nginx', ['-v']),
    haproxy: versionOf('haproxy', ['-v']).split('\n')[0],
    wrk: versionOf('wrk', ['-v']).split('\n')[0],
  };
}

function versionOf(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
}

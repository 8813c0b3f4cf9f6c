// Small helpers shared by the discoverd bench scripts: percentiles, md5 instance ids, a keep-alive
// HTTP request that resolves with status, headers and body, and process CPU time from /proc.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

export function md5Id(proto, addr) {
  return createHash('md5').update(`${proto}-${addr}`).digest('hex');
}

/** Percentile p (0–100) of an ascending array, rounded to µs; null when empty. */
export function pct(sorted, p) {
  if (sorted.length === 0) return null;
  const v = sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  return Math.round(v * 1000) / 1000;
}

export function summary(latencies) {
  const s = [...latencies].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p99: pct(s, 99), max: pct(s, 100) };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * One HTTP request. `url` is an absolute http:// URL; `body` a string or undefined. Resolves with
 * { status, headers, text }; rejects on a socket error or after `timeoutMs`.
 */
export function request(method, url, { body, headers = {}, agent, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const h = { ...headers };
    if (body !== undefined) {
      h['content-type'] ??= 'application/json';
      h['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, agent },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Sends a write, following 307s (re-sending the body) as Flynn's clients do. */
export async function write(method, url, opts = {}) {
  let target = url;
  for (let i = 0; i < 5; i++) {
    const r = await request(method, target, opts);
    if (r.status !== 307) return { ...r, url: target };
    target = new URL(r.headers.location, target).toString();
  }
  throw new Error('too many redirects');
}

/** Registers an instance (a new one per call when addr is new): the body Flynn's client sends. */
export function instanceBody(addr) {
  return JSON.stringify({ id: md5Id('tcp', addr), addr, proto: 'tcp' });
}

/** User plus system CPU seconds of a process so far (Linux /proc; 0 when gone). */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15, in clock ticks (100/s).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

// The load generator of bench/discoverd, in its own process so that the servers' CPU is apart
// from the client's. The same closed loop drives discoverd and etcd: `concurrency` workers, each
// sending one write and waiting for its acknowledgement before the next, over keep-alive
// connections to the leader. Bounded: a warm-up, then `seconds` of measurement, then it exits.
//
// Usage: node load.mjs '<json>' with {kind: "discoverd"|"etcd", base: "http://127.0.0.x:port",
//   concurrency, seconds, warmupSeconds, tag (0–255, keeps addrs/keys unique across runs),
//   total (optional: stop after this many measured requests, within `seconds`)}
// Prints {"phase":"measuring"} when the warm-up ends, then one JSON line with the results.
//   discoverd: PUT /services/bench/instances/<md5> {"id","addr","proto":"tcp"}, a new addr each time.
//   etcd:      POST /v3/kv/put {"key": base64("bench/<tag>/<n>"), "value": base64(100 bytes)}.
import http from 'node:http';
import { instanceBody, md5Id, nowMs, request, summary } from './lib.mjs';

const cfg = JSON.parse(process.argv[2]);
const {
  kind,
  base,
  concurrency,
  seconds,
  warmupSeconds = 1,
  tag = 0,
  total = Number.POSITIVE_INFINITY,
} = cfg;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
const value = Buffer.from('v'.repeat(100)).toString('base64');

let n = 0;
function nextRequest() {
  const i = n++;
  if (kind === 'discoverd') {
    // 10.<tag>.x.y:port: unique per request for 16M requests per run.
    const addr = `10.${tag}.${(i >> 8) & 255}.${i & 255}:${1024 + (i >> 16)}`;
    return {
      method: 'PUT',
      url: `${base}/services/bench/instances/${md5Id('tcp', addr)}`,
      body: instanceBody(addr),
    };
  }
  return {
    method: 'POST',
    url: `${base}/v3/kv/put`,
    body: JSON.stringify({ key: Buffer.from(`bench/${tag}/${i}`).toString('base64'), value }),
  };
}

const statuses = {};
let errors = 0;
let firstError;

let measured = 0;
async function worker(until, latencies) {
  while (Date.now() < until && (!latencies || measured++ < total)) {
    const { method, url, body } = nextRequest();
    const t0 = nowMs();
    try {
      const r = await request(method, url, { body, agent, timeoutMs: 10_000 });
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 200) latencies?.push(nowMs() - t0);
      else if (!firstError) firstError = `${r.status} ${r.text.slice(0, 200)}`;
    } catch (err) {
      errors++;
      firstError ??= String(err);
    }
  }
}

const warmUntil = Date.now() + warmupSeconds * 1000;
await Promise.all(Array.from({ length: concurrency }, () => worker(warmUntil)));
for (const k of Object.keys(statuses)) delete statuses[k];
errors = 0;
firstError = undefined;
process.stdout.write('{"phase":"measuring"}\n');

const latencies = [];
const started = nowMs();
const cpu0 = process.cpuUsage();
const until = Date.now() + seconds * 1000;
await Promise.all(Array.from({ length: concurrency }, () => worker(until, latencies)));
const elapsed = (nowMs() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
agent.destroy();
const s = summary(latencies);
process.stdout.write(
  `${JSON.stringify({
    kind,
    concurrency,
    ...(Number.isFinite(total) ? { total } : {}),
    seconds: Math.round(elapsed * 100) / 100,
    acknowledged: s.n,
    perSecond: Math.round(s.n / elapsed),
    clientCpuCores: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 100) / 100,
    p50: s.p50,
    p99: s.p99,
    max: s.max,
    statuses,
    socketErrors: errors,
    ...(firstError ? { firstError } : {}),
  })}\n`,
);

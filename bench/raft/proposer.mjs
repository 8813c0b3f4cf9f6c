// The proposers of bench/raft, in their own process so that the cluster's CPU is measured apart
// from the load generator's. Usage: node proposer.mjs <nodes,comma,separated> <concurrency> <seconds>
// Prints one JSON line: committed proposals per second and latency percentiles in milliseconds.
import { KvClient } from '@flynn-edge/raft-kv';

const [nodes, concurrencyArg, secondsArg, keysArg] = process.argv.slice(2);
const keysPerProposer = Number(keysArg ?? 16);
const concurrency = Number(concurrencyArg);
const seconds = Number(secondsArg);
const client = new KvClient({ nodes: nodes.split(','), timeoutMs: 10_000 });
const value = 'x'.repeat(100 - 24); // the JSON command around it makes ~100 bytes per entry
const latencies = [];
let errors = 0;

// Warm up (connections, JIT) before measuring.
const warmUntil = Date.now() + 1000;
await Promise.all(
  Array.from({ length: concurrency }, async (_, w) => {
    while (Date.now() < warmUntil) await client.call({ op: 'put', key: `w${w}`, value });
  }),
);

const started = process.hrtime.bigint();
const end = Date.now() + seconds * 1000;
await Promise.all(
  Array.from({ length: concurrency }, async (_, w) => {
    for (let i = 0; Date.now() < end; i++) {
      const t0 = process.hrtime.bigint();
      try {
        const r = await client.call({ op: 'put', key: `p${w}-${i % keysPerProposer}`, value });
        if (!r.ok) errors++;
        else latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch {
        errors++;
      }
    }
  }),
);
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
client.close();
latencies.sort((a, b) => a - b);
const pct = (p) =>
  Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] * 1000) /
  1000;
process.stdout.write(
  `${JSON.stringify({ concurrency, keys: concurrency * keysPerProposer, seconds: Math.round(elapsed * 100) / 100, committed: latencies.length, errors, perSecond: Math.round(latencies.length / elapsed), p50: pct(50), p99: pct(99), max: pct(100) })}\n`,
);

// How long RouteTable.match takes among 10,000 domains (the test checks only the results).
// Usage: npm run build && npm run bench -w @flynn-edge/router-core [-- lookups]
import { RouteTable } from '../dist/index.js';
import { corpusHosts, corpusRoutes, lookup } from './match-corpus.mjs';

const N = Number(process.argv[2] ?? 100_000);
const table = new RouteTable(corpusRoutes());
const hosts = corpusHosts();

let hits = 0;
for (let i = 0; i < 10_000; i++) if (lookup(table, hosts, i)) hits++;
const start = process.hrtime.bigint();
for (let i = 0; i < N; i++) if (lookup(table, hosts, i)) hits++;
const avgUs = Number(process.hrtime.bigint() - start) / 1000 / N;
console.log(
  `router-core: ${table.size} routes, ${N} lookups, ${avgUs.toFixed(3)} µs per lookup (${hits} hits)`,
);

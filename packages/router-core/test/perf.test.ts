import { expect, it } from 'vitest';
// @ts-expect-error: plain JS shared with the bench (bench/match.bench.mjs), which times these lookups.
import { corpusHosts, corpusRoutes, lookup } from '../bench/match-corpus.mjs';
import { RouteTable } from '../src/index.js';

it('matches every lookup of the benchmark corpus (10,000 domains, a catch-all) to the right route', () => {
  const table = new RouteTable(corpusRoutes());
  const hosts: string[] = corpusHosts();
  expect(table.size).toBe(16_001);

  let hits = 0;
  for (let i = 0; i < 110_000; i++) if (lookup(table, hosts, i)) hits++;
  expect(hits).toBe(110_000);

  // Exact domain (case-insensitive), longest path prefix, wildcard with a port, catch-all.
  expect(table.match('App3.Tenant3.example.com', 80, '/api/v1/users/42')?.id).toBe('v3');
  expect(table.match('App3.Tenant3.example.com', 80, '/api/x')?.id).toBe('a3');
  expect(table.match('App3.Tenant3.example.com', 80, '/static/app.js?v=1')?.id).toBe('d3');
  expect(table.match('x.y.tenant20.example.com:443', 80, '/')?.id).toBe('w20');
  expect(table.match('unknown.host.org', 80, '/')?.id).toBe('all');
});

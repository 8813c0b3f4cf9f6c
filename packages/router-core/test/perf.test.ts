import { expect, it } from 'vitest';
import { type Route, RouteTable } from '../src/index.js';
import { http } from './helpers.js';

it('looks up among 10,000 domains in a few microseconds on average (100k lookups)', () => {
  const routes: Route[] = [];
  for (let i = 0; i < 10_000; i++) {
    const d = `app${i}.tenant${i % 100}.example.com`;
    if (i % 10 === 0) routes.push(http(`*.tenant${i}.example.com`));
    else {
      routes.push(http(d));
      if (i % 3 === 0) routes.push(http(d, '/api/'), http(d, '/api/v1/'));
    }
  }
  routes.push(http('*'));
  const table = new RouteTable(routes);

  const hosts: string[] = [];
  const paths = ['/', '/api/v1/users/42', '/api/x', '/static/app.js?v=1'];
  for (let i = 0; i < 1000; i++) {
    const n = (i * 7919) % 10_000;
    hosts.push(n % 10 === 0 ? `x.y.tenant${n}.example.com:443` : `App${n}.Tenant${n % 100}.example.com`);
  }
  hosts.push('unknown.host.org');

  let hits = 0;
  for (let i = 0; i < 10_000; i++) if (table.match(hosts[i % hosts.length], 80, paths[i & 3])) hits++;

  const N = 100_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    if (table.match(hosts[i % hosts.length], 80, paths[i & 3])) hits++;
  }
  const avgUs = Number(process.hrtime.bigint() - start) / 1000 / N;
  console.log(`router-core: ${table.size} routes, ${avgUs.toFixed(3)} µs per lookup`);
  expect(hits).toBe(110_000);
  expect(avgUs).toBeLessThan(20);
});

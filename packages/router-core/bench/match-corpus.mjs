// The route table and lookups that bench/match.bench.mjs times and test/perf.test.ts checks:
// 10,000 domains (a tenth of them wildcards, a third with sub-paths), a catch-all, and 1,001
// request hosts in mixed case, with ports, and one unknown.

/** @typedef {import('../src/types.js').HTTPRoute} HTTPRoute */

/** @returns {HTTPRoute} */
function http(id, domain, path = '/') {
  return {
    type: 'http',
    id,
    service: 'web',
    port: 0,
    leader: false,
    created_at: '2020-01-01T00:00:00Z',
    updated_at: '2020-01-01T00:00:00Z',
    drain_backends: false,
    domain,
    sticky: false,
    path,
    disable_keep_alives: false,
  };
}

export const PATHS = ['/', '/api/v1/users/42', '/api/x', '/static/app.js?v=1'];

/** @returns {HTTPRoute[]} */
export function corpusRoutes() {
  const routes = [];
  for (let i = 0; i < 10_000; i++) {
    const d = `app${i}.tenant${i % 100}.example.com`;
    if (i % 10 === 0) routes.push(http(`w${i}`, `*.tenant${i}.example.com`));
    else {
      routes.push(http(`d${i}`, d));
      if (i % 3 === 0) routes.push(http(`a${i}`, d, '/api/'), http(`v${i}`, d, '/api/v1/'));
    }
  }
  routes.push(http('all', '*'));
  return routes;
}

/** @returns {string[]} */
export function corpusHosts() {
  const hosts = [];
  for (let i = 0; i < 1000; i++) {
    const n = (i * 7919) % 10_000;
    hosts.push(n % 10 === 0 ? `x.y.tenant${n}.example.com:443` : `App${n}.Tenant${n % 100}.example.com`);
  }
  hosts.push('unknown.host.org');
  return hosts;
}

/**
 * Runs lookup `i` of the sequence on `table` (listener port 80).
 * @param {{ match(host: string | undefined, port: number, path: string): unknown }} table
 * @param {string[]} hosts
 * @param {number} i
 */
export function lookup(table, hosts, i) {
  return table.match(hosts[i % hosts.length], 80, PATHS[i & 3]);
}

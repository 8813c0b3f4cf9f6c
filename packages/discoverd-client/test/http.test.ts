import { afterEach, describe, expect, it } from 'vitest';
import { DiscoverdClient } from '../src/client.js';
import { DiscoverdError } from '../src/errors.js';
import { Transport } from '../src/http.js';
import { ServerList } from '../src/servers.js';
import { deadUrl, FakeServer, hh, json } from './fake-server.js';

const servers: FakeServer[] = [];
async function server(handler: ConstructorParameters<typeof FakeServer>[0]): Promise<FakeServer> {
  const s = await new FakeServer(handler).start();
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function client(
  urls: string[],
  extra: ConstructorParameters<typeof DiscoverdClient>[0] = {},
): DiscoverdClient {
  return new DiscoverdClient({ servers: urls, env: {}, followPeers: false, ...extra });
}

describe('Transport', () => {
  it('follows a 307 re-sending method, body and headers, and pins writes (DELETE too) to the target', async () => {
    const leader = await server((_req, res) => json(res, 200, { data: 1, index: 42 }));
    const follower = await server((req, res) => {
      res.writeHead(307, { location: `${leader.url}${req.url}` });
      res.end();
    });
    const c = client([follower.url, leader.url], { clusterKey: 'sekrit' });
    expect(await c.setMeta('svc', { data: 1, index: 0 })).toBe(42);
    expect(follower.requests).toHaveLength(1);
    const got = leader.requests[0]!;
    expect(got.method).toBe('PUT');
    expect(got.url).toBe('/services/svc/meta');
    expect(JSON.parse(got.body)).toEqual({ data: 1, index: 0 });
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers.authorization).toBe('Bearer sekrit');
    expect(c.rememberedLeader).toBe(leader.url);

    await c.removeService('svc');
    await c.setLeader('svc', 'abc');
    expect(follower.requests).toHaveLength(1);
    expect(leader.requests.map((r) => r.method)).toEqual(['PUT', 'DELETE', 'PUT']);
  });

  it('skips a dead server and retries retryable hh errors until one answers', async () => {
    let n = 0;
    const flaky = await server((_req, res) => {
      n++;
      if (n < 3) hh(res, 503, 'service_unavailable', 'discoverd: no known leader', true);
      else json(res, 200, ['127.0.0.1:1111']);
    });
    const dead = await deadUrl();
    const c = client([dead, flaky.url]);
    expect(await c.raftPeers()).toEqual(['127.0.0.1:1111']);
    expect(n).toBe(3);
    // The live server is now tried first.
    await c.raftPeers();
    expect(c.transport.servers.order('GET')[0]).toBe(flaky.url);
  });

  it('surfaces non-retryable hh errors at once with code, message, retry and status', async () => {
    const s = await server((_req, res) =>
      hh(res, 412, 'precondition_failed', 'Service metadata for "x" exists, but wrong index provided'),
    );
    const c = client([s.url]);
    const err = (await c.setMeta('x', { data: null, index: 3 }).catch((e) => e)) as DiscoverdError;
    expect(err).toBeInstanceOf(DiscoverdError);
    expect(err).toMatchObject({
      code: 'precondition_failed',
      status: 412,
      retry: false,
      message: 'Service metadata for "x" exists, but wrong index provided',
    });
    expect(s.requests).toHaveLength(1);
  });

  it('maps the plain-text 404 and 404s of reads to empty answers', async () => {
    const s = await server((req, res) => {
      if (req.url.endsWith('/instances')) return hh(res, 404, 'object_not_found', 'service not found: "x"');
      if (req.url.endsWith('/leader')) return hh(res, 404, 'object_not_found', 'no leader found');
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('404 page not found');
    });
    const c = client([s.url]);
    expect(await c.instances('x')).toEqual([]);
    expect(await c.leader('x')).toBeNull();
    expect(await c.getMeta('x')).toBeNull();
    const err = (await c.send('GET', '/nope').catch((e) => e)) as DiscoverdError;
    expect(err).toMatchObject({ code: 'not_found', status: 404, message: '404 page not found' });
  });

  it('gives up at the retry deadline with the last error', async () => {
    const s = await server((_req, res) =>
      hh(res, 503, 'service_unavailable', 'discoverd: no known leader', true),
    );
    const c = client([s.url], { retryDeadlineMs: 400 });
    const t0 = Date.now();
    const err = (await c.raftLeader().catch((e) => e)) as DiscoverdError;
    const took = Date.now() - t0;
    expect(err).toMatchObject({ code: 'service_unavailable', retry: true, status: 503 });
    expect(took).toBeGreaterThanOrEqual(350);
    expect(took).toBeLessThan(2000);
    // ~100 ms between rounds.
    expect(s.requests.length).toBeGreaterThanOrEqual(3);
    expect(s.requests.length).toBeLessThanOrEqual(7);
  });

  it('times out a silent server and moves on', async () => {
    const silent = await server(() => {
      /* never answers */
    });
    const ok = await server((_req, res) => json(res, 200, { host: '127.0.0.1:1' }));
    const c = client([silent.url, ok.url], { requestTimeoutMs: 200 });
    const t0 = Date.now();
    expect(await c.raftLeader()).toBe('127.0.0.1:1');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });

  it('stops after 10 redirects', async () => {
    const loop = await server((req, res) => {
      res.writeHead(307, { location: req.url });
      res.end();
    });
    const c = client([loop.url], { retryDeadlineMs: 0 });
    const err = (await c.ping().catch((e) => e)) as DiscoverdError;
    expect(err.code).toBe('too_many_redirects');
    expect(loop.requests).toHaveLength(11);
  });

  it('refreshes the server list from Discoverd-Peers and Discoverd-Current-Peers', async () => {
    const a = await server((_req, res) =>
      json(res, 200, [], { 'Discoverd-Peers': '127.0.0.5:1111,127.0.0.6:1111', 'Discoverd-Index': '12' }),
    );
    const list = new ServerList([a.url]);
    const t = new Transport({ servers: list });
    await t.request('GET', '/raft/peers');
    expect(list.servers).toEqual(['http://127.0.0.5:1111', 'http://127.0.0.6:1111']);
    expect(list.lastIndex).toBe(12);
    // The last good server stays first, so the client keeps working while the list changes.
    expect(list.order('GET')[0]).toBe(a.url);
  });

  it('reads DISCOVERD and CLUSTER_KEY from the env', () => {
    const c = new DiscoverdClient({ env: { DISCOVERD: '127.0.0.7:1111,', CLUSTER_KEY: 'k' } });
    expect(c.servers).toEqual(['http://127.0.0.7:1111']);
    expect(new DiscoverdClient({ env: { DISCOVERD: 'none' } }).servers).toEqual(['http://127.0.0.1:1111']);
  });

  it('aborts a request on its signal without retrying', async () => {
    const silent = await server(() => {});
    const c = client([silent.url]);
    const ctrl = new AbortController();
    const p = c.send('GET', '/ping', { signal: ctrl.signal }).catch((e) => e);
    setTimeout(() => ctrl.abort(), 50);
    expect(((await p) as DiscoverdError).code).toBe('aborted');
  });
});

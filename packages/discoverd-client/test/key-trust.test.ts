import { afterEach, describe, expect, it } from 'vitest';
import { DiscoverdClient } from '../src/client.js';
import type { DiscoverdError } from '../src/errors.js';
import { FakeServer, hh, json } from './fake-server.js';

// Issue 11: the client follows 307s itself and re-sends the cluster key only to servers it trusts:
// the configured ones, and the peers a trusted server names in Discoverd-Peers.

const servers: FakeServer[] = [];
async function server(handler: ConstructorParameters<typeof FakeServer>[0]): Promise<FakeServer> {
  const s = await new FakeServer(handler).start();
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function client(urls: string[]): DiscoverdClient {
  return new DiscoverdClient({
    servers: urls,
    env: {},
    followPeers: false,
    clusterKey: 'sekrit',
    retryDeadlineMs: 0,
  });
}

const hostOf = (url: string) => url.replace('http://', '');

describe('cluster key and redirects', () => {
  it('does not re-send the key to a Location nobody vouched for, and says so on a 401', async () => {
    const elsewhere = await server((_req, res) =>
      hh(res, 401, 'unauthorized', 'discoverd: this request needs the cluster key'),
    );
    const entry = await server((req, res) => {
      res.writeHead(307, { location: `${elsewhere.url}${req.url}` });
      res.end();
    });
    const c = client([entry.url]);
    const err = (await c.kv.put('k', 'v').catch((e) => e)) as DiscoverdError;
    expect(err.status).toBe(401);
    expect(err.message).toContain(`the cluster key was not sent to ${elsewhere.url}`);
    expect(entry.requests[0]!.headers.authorization).toBe('Bearer sekrit');
    expect(elsewhere.requests).toHaveLength(1);
    expect(elsewhere.requests[0]!.headers.authorization).toBeUndefined();
    // Nor is it remembered as the leader, where the next write would go first with the key.
    expect(c.rememberedLeader).toBeUndefined();
  });

  it('re-sends the key to a peer the redirecting server names in Discoverd-Peers', async () => {
    const leader = await server((_req, res) => json(res, 200, { key: 'k', revision: 5 }));
    const follower = await server((req, res) => {
      res.writeHead(307, {
        location: `${leader.url}${req.url}`,
        'discoverd-peers': `${hostOf(follower.url)},${hostOf(leader.url)}`,
      });
      res.end();
    });
    const c = client([follower.url]);
    await c.kv.put('k', 'v');
    expect(leader.requests[0]!.headers.authorization).toBe('Bearer sekrit');
    expect(c.rememberedLeader).toBe(leader.url);
  });

  it('an untrusted server cannot vouch for others', async () => {
    const third = await server((_req, res) => json(res, 200, { key: 'k', revision: 5 }));
    const second = await server((req, res) => {
      res.writeHead(307, {
        location: `${third.url}${req.url}`,
        'discoverd-peers': `${hostOf(second.url)},${hostOf(third.url)}`,
      });
      res.end();
    });
    const entry = await server((req, res) => {
      res.writeHead(307, { location: `${second.url}${req.url}` });
      res.end();
    });
    await client([entry.url]).kv.put('k', 'v');
    expect(second.requests[0]!.headers.authorization).toBeUndefined();
    expect(third.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('refuses a redirect to anything but http(s)', async () => {
    const entry = await server((_req, res) => {
      res.writeHead(307, { location: 'file:///etc/passwd' });
      res.end();
    });
    const err = (await client([entry.url])
      .kv.get('k')
      .catch((e) => e)) as DiscoverdError;
    expect(err.code).toBe('bad_redirect');
  });
});

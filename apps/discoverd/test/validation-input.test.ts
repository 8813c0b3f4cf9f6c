import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscoverdProcessCluster } from '../src/process-cluster.js';
import { http, md5Id, type Res, write } from './helpers.js';

// Issue 11: discoverd refuses what cannot or must not be stored, with a 400 in Flynn's envelope,
// before anything is proposed: the Raft commit index does not move. Each bad request goes to the
// leader and to a follower (which must refuse it itself rather than redirect it). Registry
// requests carry no credentials (that API is open); /kv/ ones carry the cluster key.

const KEY = 'validation-key';
const AUTH = { authorization: `Bearer ${KEY}` };

interface Bad {
  what: string;
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  status?: number;
  code?: string;
  /** Refused for the current state: only the leader decides, a follower redirects. */
  state?: true;
}

const inst = (addr: string, extra: Record<string, unknown> = {}) => ({
  id: md5Id('tcp', addr),
  addr,
  proto: 'tcp',
  ...extra,
});
const instPath = (service: string, addr: string) => `/services/${service}/instances/${md5Id('tcp', addr)}`;

function deep(levels: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

const BAD: Bad[] = [
  { what: 'a 1,000-character service name', method: 'PUT', path: `/services/${'a'.repeat(1000)}`, body: {} },
  { what: 'a 64-character service name', method: 'PUT', path: `/services/${'a'.repeat(64)}`, body: {} },
  {
    what: 'instance meta with a number',
    method: 'PUT',
    path: instPath('v', '10.0.0.1:80'),
    body: inst('10.0.0.1:80', { meta: { a: 1 } }),
  },
  {
    what: 'instance meta with an object',
    method: 'PUT',
    path: instPath('v', '10.0.0.1:80'),
    body: inst('10.0.0.1:80', { meta: { a: { b: 'c' } } }),
  },
  {
    what: 'instance meta that is a list',
    method: 'PUT',
    path: instPath('v', '10.0.0.1:80'),
    body: inst('10.0.0.1:80', { meta: ['a'] }),
  },
  {
    what: 'instance meta with 129 keys',
    method: 'PUT',
    path: instPath('v', '10.0.0.1:80'),
    body: inst('10.0.0.1:80', {
      meta: Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v'])),
    }),
  },
  {
    what: 'an instance meta value of 5,000 bytes',
    method: 'PUT',
    path: instPath('v', '10.0.0.1:80'),
    body: inst('10.0.0.1:80', { meta: { k: 'v'.repeat(5000) } }),
  },
  {
    what: 'an instance index that is not an integer',
    method: 'PUT',
    path: instPath('v', '10.0.0.1:80'),
    body: inst('10.0.0.1:80', { index: 'x' }),
  },
  {
    what: 'a negative instance index',
    method: 'PUT',
    path: instPath('v', '10.0.0.1:80'),
    body: inst('10.0.0.1:80', { index: -1 }),
  },
  { what: 'an addr without host', method: 'PUT', path: instPath('v', ':80'), body: inst(':80') },
  { what: 'an addr with port 0', method: 'PUT', path: instPath('v', '10.0.0.1:0'), body: inst('10.0.0.1:0') },
  {
    what: 'an addr with port 99999',
    method: 'PUT',
    path: instPath('v', '10.0.0.1:99999'),
    body: inst('10.0.0.1:99999'),
  },
  {
    what: 'an addr with a named port',
    method: 'PUT',
    path: instPath('v', '10.0.0.1:http'),
    body: inst('10.0.0.1:http'),
  },
  {
    what: 'an addr host with spaces',
    method: 'PUT',
    path: instPath('v', 'a b:80'),
    body: inst('a b:80'),
  },
  {
    what: 'an addr that is not a string',
    method: 'PUT',
    path: instPath('v', '10.0.0.1:80'),
    body: { id: md5Id('tcp', '10.0.0.1:80'), addr: ['10.0.0.1:80'], proto: 'tcp' },
  },
  {
    what: 'a 63-character proto',
    method: 'PUT',
    path: `/services/v/instances/${md5Id('p'.repeat(63), '10.0.0.1:80')}`,
    body: { id: md5Id('p'.repeat(63), '10.0.0.1:80'), addr: '10.0.0.1:80', proto: 'p'.repeat(63) },
  },
  {
    what: 'an instance that is not an object',
    method: 'PUT',
    path: instPath('v', '10.0.0.1:80'),
    body: '"x"',
    code: 'syntax_error',
  },
  {
    what: 'a 200-byte instance id to delete',
    method: 'DELETE',
    path: `/services/v/instances/${'f'.repeat(200)}`,
  },
  {
    what: 'service meta data of 70 KB',
    method: 'PUT',
    path: '/services/v/meta',
    body: { data: 'x'.repeat(70_000), index: 0 },
  },
  {
    what: 'service meta nested 100 deep',
    method: 'PUT',
    path: '/services/v/meta',
    body: { data: deep(100), index: 0 },
  },
  {
    what: 'a 200-byte leader_id',
    method: 'PUT',
    path: '/services/v/meta',
    body: { data: 1, index: 0, leader_id: 'f'.repeat(200) },
  },
  { what: 'a negative meta index', method: 'PUT', path: '/services/v/meta', body: { data: 1, index: -1 } },
  { what: 'a 200-byte leader id', method: 'PUT', path: '/services/m/leader', body: { id: 'f'.repeat(200) } },
  { what: 'a leader id that is a number', method: 'PUT', path: '/services/m/leader', body: { id: 7 } },
  {
    what: 'a registry body over 128 KiB',
    method: 'PUT',
    path: '/services/v/meta',
    body: { data: 'x'.repeat(200_000), index: 0 },
    code: 'request_body_too_big',
  },
  { what: 'malformed JSON', method: 'PUT', path: '/services/v/meta', body: '{"data":', code: 'syntax_error' },
  // State-dependent refusals are answered without a log entry too.
  {
    what: 'a manual leader on an oldest service',
    method: 'PUT',
    path: '/services/v/leader',
    body: { id: md5Id('tcp', '10.0.0.1:80') },
    state: true,
  },
  {
    what: 'an instance of a missing service',
    method: 'PUT',
    path: instPath('missing', '10.0.0.1:80'),
    body: inst('10.0.0.1:80'),
    status: 404,
    code: 'object_not_found',
    state: true,
  },
  {
    what: 'a meta write with a stale index',
    method: 'PUT',
    path: '/services/v/meta',
    body: { data: 2, index: 1 },
    status: 412,
    code: 'precondition_failed',
    state: true,
  },
  {
    what: 'a duplicate service',
    method: 'PUT',
    path: '/services/v',
    body: {},
    status: 409,
    code: 'object_exists',
    state: true,
  },
  // The cluster store.
  {
    what: 'a 5,000-byte key',
    method: 'PUT',
    path: `/kv/${'k'.repeat(5000)}`,
    body: { value: 'v' },
    headers: AUTH,
  },
  {
    what: 'a 600 KB value',
    method: 'PUT',
    path: '/kv/big',
    body: { value: 'v'.repeat(600_000) },
    headers: AUTH,
  },
  { what: 'a value that is not a string', method: 'PUT', path: '/kv/x', body: { value: 5 }, headers: AUTH },
  {
    what: 'a /kv/ body over 1 MiB',
    method: 'PUT',
    path: '/kv/big',
    body: { value: 'v'.repeat(1_100_000) },
    headers: AUTH,
    code: 'request_body_too_big',
  },
  {
    what: 'a transaction of 16,385 ops',
    method: 'POST',
    path: '/kv/txn',
    body: { success: Array.from({ length: 16_385 }, () => ({ op: 'delete', key: 'k' })) },
    headers: AUTH,
  },
  { what: 'a bad Raft peer', method: 'PUT', path: '/raft/peers/127.0.0.9:0', headers: AUTH },
  { what: 'a Raft peer with a bad host', method: 'PUT', path: '/raft/peers/a%20b:1', headers: AUTH },
];

describe('discoverd refuses bad input before it reaches the log', () => {
  const cluster = new DiscoverdProcessCluster({ size: 3, env: { CLUSTER_KEY: KEY } });
  let leader = 0;
  let follower = 1;

  async function commitIndex(): Promise<number> {
    const r = await http('GET', cluster.url(leader, '/raft/status'));
    return (r.json() as { commit_index: number }).commit_index;
  }

  beforeAll(async () => {
    cluster.start();
    leader = await cluster.leader(30_000);
    follower = (leader + 1) % 3;
    const ok = (r: Res) => expect([200, 409]).toContain(r.status);
    ok(await http('PUT', cluster.url(leader, '/services/v'), {}));
    ok(await http('PUT', cluster.url(leader, '/services/m'), { leader_type: 'manual' }));
    ok(await http('PUT', cluster.url(leader, '/services/v/meta'), { data: 1, index: 0 }));
    // The nodes register themselves once (heartbeats of unchanged instances cost no entry):
    // after that, nothing writes to the log on its own.
    await waitFor(
      async () => {
        const r = await http('GET', cluster.url(leader, '/services/discoverd/instances'));
        return r.status === 200 && (r.json() as unknown[]).length === 3;
      },
      { timeoutMs: 30_000, what: 'the three self-registrations' },
    );
  }, 60_000);

  afterAll(() => cluster.close());

  for (const target of ['leader', 'follower'] as const) {
    it(`answers 4xx in Flynn's envelope on the ${target}, and the commit index stays put`, async () => {
      const node = target === 'leader' ? leader : follower;
      const before = await commitIndex();
      for (const bad of BAD) {
        const send = bad.state ? write : http;
        const r = await send(bad.method, cluster.url(node, bad.path), bad.body, bad.headers);
        expect(r.status, `${bad.what}: ${r.text.slice(0, 200)}`).toBe(bad.status ?? 400);
        const env = r.json() as { code: string; message: string; retry: boolean };
        expect(env.code, bad.what).toBe(bad.code ?? 'validation_error');
        expect(typeof env.message).toBe('string');
        expect(env.retry).toBe(false);
      }
      expect(await commitIndex()).toBe(before);

      // A good client is still served, on every node.
      const addr = `10.0.1.${node + 1}:80`;
      const reg = await http(
        'PUT',
        cluster.url(leader, instPath('v', addr)),
        inst(addr, { meta: { ['k'.repeat(255)]: 'v'.repeat(4096) } }),
      );
      expect(reg.status, reg.text).toBe(200);
      expect(await commitIndex()).toBe(before + 1);
      const longest = await http('PUT', cluster.url(leader, `/services/${'s'.repeat(63)}`), {});
      expect([200, 409]).toContain(longest.status);
      for (let i = 0; i < 3; i++) {
        await waitFor(
          async () => {
            const list = await http('GET', cluster.url(i, '/services/v/instances'));
            return list.status === 200 && (list.json() as { addr: string }[]).some((x) => x.addr === addr);
          },
          { what: `node ${i} serving the good registration` },
        );
      }
      const put = await http('PUT', cluster.url(leader, '/kv/ok'), { value: 'fine' }, AUTH);
      expect(put.status, put.text).toBe(200);
    });
  }
});

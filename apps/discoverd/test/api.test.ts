import { requireCommand, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscoverdProcessCluster } from '../src/process-cluster.js';
import { dig, http, md5Id, registerInstance, SseReader, write } from './helpers.js';

// Flynn's discoverd API (spec §1), checked over real HTTP, SSE and DNS against three processes.

const digTool = requireCommand('dig', 'dnsutils');
const cluster = new DiscoverdProcessCluster();
let leader = 0;
let follower = 1;
const L = (path: string) => cluster.url(leader, path);
const F = (path: string) => cluster.url(follower, path);

beforeAll(async () => {
  cluster.start();
  leader = await cluster.leader();
  follower = (leader + 1) % 3;
});
afterAll(() => cluster.close());

describe('headers and routing', () => {
  it('every answer carries Discoverd-Peers and Discoverd-Index (both spellings), errors too', async () => {
    for (const r of [await http('GET', F('/raft/leader')), await http('GET', F('/services/none/meta'))]) {
      expect(r.headers.get('discoverd-peers')).toBe(cluster.addrs.join(','));
      expect(Number(r.headers.get('discoverd-index'))).toBeGreaterThan(0);
      expect(r.headers.get('discoverd-current-peers')).toBe(r.headers.get('discoverd-peers'));
    }
  });

  it('a write on a follower is a 307 to the leader, port from the Host header', async () => {
    const r = await http('PUT', F('/services/redirected'), {});
    expect(r.status).toBe(307);
    expect(r.headers.get('location')).toBe(
      `http://${cluster.hosts[leader]}:${cluster.port}/services/redirected`,
    );
    expect(r.headers.get('discoverd-peers')).toBeTruthy();
  });

  it('unknown paths and wrong methods get Go’s plain-text 404', async () => {
    for (const [m, p] of [
      ['GET', '/nope'],
      ['POST', '/services/x'],
    ]) {
      const r = await http(m, F(p));
      expect(r.status).toBe(404);
      expect(r.text).toBe('404 page not found\n');
    }
  });

  it('raft endpoints and ping', async () => {
    expect((await http('GET', F('/raft/leader'))).json()).toEqual({ host: cluster.addrs[leader] });
    expect((await http('GET', F('/raft/peers'))).json()).toEqual(cluster.addrs);
    const ping = await http('GET', F('/ping'));
    expect([ping.status, ping.text]).toEqual([200, '']);
    const status = await http('GET', F('/.well-known/status'));
    expect((status.json() as { data: { status: string } }).data.status).toBe('healthy');
  });

  it('GET /raft/status is each node’s own view, not the leader’s', async () => {
    type RaftStatusBody = {
      id: string;
      role: string;
      leader: string;
      commit_index: number;
      applied_index: number;
    };
    const l = (await http('GET', L('/raft/status'))).json() as RaftStatusBody;
    const f = (await http('GET', F('/raft/status'))).json() as RaftStatusBody;
    expect([l.id, l.role, l.leader]).toEqual([cluster.addrs[leader], 'leader', cluster.addrs[leader]]);
    expect([f.id, f.role, f.leader]).toEqual([cluster.addrs[follower], 'follower', cluster.addrs[leader]]);
    expect(f).toMatchObject({ voters: cluster.addrs, learners: [] });
    expect(l.commit_index).toBeGreaterThan(0);
    expect(f.applied_index).toBeLessThanOrEqual(f.commit_index);
  });
});

describe('notify webhook', () => {
  it('POSTs the peers and the DNS address once serving', async () => {
    const { createServer } = await import('node:http');
    const bodies: unknown[] = [];
    const hook = createServer((req, res) => {
      let b = '';
      req.on('data', (d) => (b += d));
      req.on('end', () => {
        bodies.push(JSON.parse(b));
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const port = (hook.address() as { port: number }).port;
    const solo = new DiscoverdProcessCluster({
      size: 1,
      firstHost: 31,
      args: ['-notify', `http://127.0.0.1:${port}/host/discoverd`],
      env: { FLYNN_JOB_ID: 'job-1' },
    });
    try {
      solo.start();
      await waitFor(() => bodies.length >= 2, { timeoutMs: 15_000, what: 'two notifications' });
      expect(bodies[0]).toEqual({
        job_id: 'job-1',
        url: solo.addrs[0],
        dns: `${solo.hosts[0]}:${solo.dnsPort}`,
      });
    } finally {
      await solo.close();
      hook.close();
    }
  });
});

describe('self-registration and metrics', () => {
  it('every peer registers itself as service discoverd', async () => {
    await waitFor(
      async () => {
        const r = await http('GET', L('/services/discoverd/instances'));
        return r.status === 200 && (r.json() as { addr: string }[]).length === 3;
      },
      { timeoutMs: 15_000, what: 'three discoverd instances' },
    );
    const list = (await http('GET', L('/services/discoverd/instances'))).json() as {
      addr: string;
      proto: string;
    }[];
    expect(list.map((i) => i.addr).sort()).toEqual([...cluster.addrs].sort());
    expect(list.every((i) => i.proto === 'http')).toBe(true);
  });

  it('serves Prometheus metrics with the Raft gauges', async () => {
    const r = await http('GET', L('/metrics'));
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/^flynn_discoverd_raft_leader 1$/m);
    expect(r.text).toMatch(/^flynn_discoverd_raft_applied_index \d+$/m);
    expect(r.text).toMatch(/flynn_discoverd_raft_fsync_duration_seconds_bucket\{le="0.005"\}/);
    const f = await http('GET', F('/metrics'));
    expect(f.text).toMatch(/^flynn_discoverd_raft_leader 0$/m);
  });
});

describe('services', () => {
  it('creates, refuses duplicates and bad names, deletes', async () => {
    const ok = await write('PUT', L('/services/alpha'), { leader_type: 'oldest' });
    expect([ok.status, ok.text]).toEqual([200, '']);
    const dup = await write('PUT', L('/services/alpha'), {});
    expect(dup.status).toBe(409);
    expect(dup.json()).toEqual({
      code: 'object_exists',
      message: 'discoverd: service "alpha" already exists',
      retry: false,
    });
    const upper = await write('PUT', L('/services/Alpha'), {});
    expect(upper.json()).toMatchObject({
      code: 'validation_error',
      message: 'discoverd: service must be lowercase alphanumeric plus dash',
    });
    const missing = await write('DELETE', L('/services/never'));
    expect(missing.status).toBe(404);
    expect(missing.json()).toMatchObject({
      code: 'object_not_found',
      message: 'discoverd: service "never" not found',
    });
    expect((await write('DELETE', L('/services/alpha'))).status).toBe(200);
  });

  it('bad bodies get the envelope, never a crash', async () => {
    const ct = await write('PUT', L('/services/beta'), '{}', { 'content-type': 'text/plain' });
    expect(ct.json()).toMatchObject({
      code: 'validation_error',
      message: 'Content-Type must be application/json',
    });
    const bad = await write('PUT', L('/services/beta'), '{nope');
    expect(bad.json()).toMatchObject({ code: 'syntax_error', message: 'The provided JSON input is invalid' });
    const empty = await write('PUT', L('/services/beta'), '');
    expect(empty.status).toBe(400);
    const big = await write('PUT', L('/services/beta'), JSON.stringify({ x: 'y'.repeat(2 * 1024 * 1024) }));
    expect(big.json()).toMatchObject({ code: 'request_body_too_big' });
    expect((await http('GET', L('/ping'))).status).toBe(200);
  });
});

describe('instances, leaders and meta', () => {
  it('registers, validates, lists by index and elects the oldest', async () => {
    expect((await write('PUT', L('/services/web'), {})).status).toBe(200);
    const id = md5Id('tcp', '10.0.0.1:80');
    const wrongId = await write('PUT', L(`/services/web/instances/${id}`), {
      id: 'x',
      addr: '10.0.0.1:80',
      proto: 'tcp',
    });
    expect(wrongId.json()).toMatchObject({ message: `discoverd: instance id is incorrect, expected ${id}` });
    const badProto = await write('PUT', L(`/services/web/instances/${id}`), {
      id,
      addr: '10.0.0.1:80',
      proto: 'TCP',
    });
    expect(badProto.status).toBe(400);
    expect((await registerInstance(L(''), 'web', '10.0.0.1:80')).status).toBe(200);
    const second = await registerInstance(L(''), 'web', '10.0.0.2:80', { k: 'v' });
    expect(second.status).toBe(200);
    // Follower reads may lag (as in Flynn); ?index= waits until the follower applied our write.
    const index = second.headers.get('discoverd-index');
    const list = (await http('GET', F(`/services/web/instances?index=${index}`))).json() as {
      addr: string;
      index: number;
    }[];
    expect(list.map((i) => i.addr)).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    expect(list[0].index).toBeLessThan(list[1].index);
    const lead = (await http('GET', F('/services/web/leader'))).json() as { addr: string };
    expect(lead.addr).toBe('10.0.0.1:80');
    const none = await http('GET', F('/services/empty/instances'));
    expect(none.json()).toEqual({
      code: 'object_not_found',
      message: 'service not found: "empty"',
      retry: false,
    });
    const noLeader = await http('GET', F('/services/empty/leader'));
    expect(noLeader.json()).toEqual({ code: 'object_not_found', message: 'no leader found', retry: false });
  });

  it('meta compare-and-set follows Flynn’s table', async () => {
    await write('PUT', L('/services/meta'), {});
    const created = await write('PUT', L('/services/meta/meta'), { data: { v: 1 }, index: 0 });
    const { index } = created.json() as { index: number };
    expect(created.json()).toEqual({ data: { v: 1 }, index });
    const again = await write('PUT', L('/services/meta/meta'), { data: { v: 2 }, index: 0 });
    expect([again.status, (again.json() as { code: string }).code]).toEqual([409, 'object_exists']);
    const wrong = await write('PUT', L('/services/meta/meta'), { data: { v: 2 }, index: index + 100 });
    expect(wrong.json()).toMatchObject({
      code: 'precondition_failed',
      message: 'Service metadata for "meta" exists, but wrong index provided',
    });
    const next = await write('PUT', L('/services/meta/meta'), { data: { v: 2 }, index });
    expect((next.json() as { index: number }).index).toBeGreaterThan(index);
    expect((await http('GET', L('/services/meta/meta'))).json()).toEqual(next.json());
    expect((await http('GET', L('/services/nometa/meta'))).json()).toMatchObject({
      message: 'service meta not found',
    });
  });

  it('manual leaders need a manual service', async () => {
    await write('PUT', L('/services/oldest-svc'), {});
    const refused = await write('PUT', L('/services/oldest-svc/leader'), { id: 'abc' });
    expect(refused.json()).toMatchObject({ message: 'service leader election type is not manual' });
    await write('PUT', L('/services/manual'), { leader_type: 'manual' });
    await registerInstance(L(''), 'manual', '10.0.1.1:80');
    await registerInstance(L(''), 'manual', '10.0.1.2:80');
    expect(
      (await write('PUT', L('/services/manual/leader'), { id: md5Id('tcp', '10.0.1.2:80') })).status,
    ).toBe(200);
    expect(((await http('GET', L('/services/manual/leader'))).json() as { addr: string }).addr).toBe(
      '10.0.1.2:80',
    );
  });
});

describe('streams', () => {
  it('GET /services/:s streams the initial burst in order, then live events', async () => {
    await write('PUT', L('/services/stream'), {});
    await registerInstance(L(''), 'stream', '10.0.2.1:80');
    const meta = await write('PUT', L('/services/stream/meta'), { data: 1, index: 0 });
    // ?index= makes the follower wait until it applied the meta write before the initial burst.
    const s = new SseReader(
      F(`/services/stream?index=${meta.headers.get('discoverd-index')}`),
      'application/json',
    );
    expect(await s.waitForKinds(4)).toEqual(['up', 'leader', 'service_meta', 'current']);
    expect(s.contentType).toBe('text/event-stream; charset=utf-8');
    await registerInstance(L(''), 'stream', '10.0.2.2:80');
    expect((await s.waitForKinds(5))[4]).toBe('up');
    s.close();
  });

  it('instances and leader streams need the Accept header and never send current', async () => {
    const inst = new SseReader(F('/services/stream/instances'));
    const lead = new SseReader(F('/services/stream/leader'));
    expect(await inst.waitForKinds(2)).toEqual(['up', 'up']);
    expect(await lead.waitForKinds(1)).toEqual(['leader']);
    await registerInstance(L(''), 'stream', '10.0.2.2:80', { changed: 'yes' });
    expect((await inst.waitForKinds(3))[2]).toBe('update');
    expect(inst.kinds()).not.toContain('current');
    inst.close();
    lead.close();
  });
});

describe.skipIf(!digTool.available)('DNS', () => {
  it('answers A, SRV and leader names with TTL 0', async () => {
    await write('PUT', L('/services/dns'), {});
    await registerInstance(L(''), 'dns', '10.9.0.1:8080');
    await registerInstance(L(''), 'dns', '10.9.0.2:8080');
    const host = cluster.hosts[follower];
    // DNS answers from the follower's local state, which may lag the leader for a moment.
    const a = await waitFor(
      () => {
        const lines = dig(host, cluster.dnsPort, 'dns.discoverd', 'A');
        return lines.length === 2 ? lines : undefined;
      },
      { what: 'both instances in DNS' },
    );
    expect(a.every((l) => /\s0\s+IN\s+A\s+10\.9\.0\.[12]$/.test(l))).toBe(true);
    const srv = dig(host, cluster.dnsPort, '_dns._tcp.discoverd', 'SRV');
    expect(srv[0]).toMatch(/SRV\s+1 1 8080 [0-9a-f]{32}\.dns\._i\.discoverd\.$/);
    expect(dig(host, cluster.dnsPort, 'leader.dns.discoverd', 'A')).toEqual([
      expect.stringMatching(/10\.9\.0\.1$/),
    ]);
    expect(dig(host, cluster.dnsPort, 'missing.discoverd', 'A')).toEqual([]);
  });
});

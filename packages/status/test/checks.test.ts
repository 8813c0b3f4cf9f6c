import { afterEach, describe, expect, it } from 'vitest';
import { discoverdCheck, discoverdLeaderCheck, type RaftStatus } from '../src/checks/discoverd.js';
import { flynnHostCheck, judgeHost } from '../src/checks/flynn-host.js';
import { hostRouterCheck, judgeRouter, routerCheck } from '../src/checks/router.js';
import { runCheck, runChecks } from '../src/runner.js';
import { deadAddr, type FakeServer, fakeDiscovery, fakeServer, hang, inst, json } from './helpers.js';

const servers: FakeServer[] = [];
async function serve(...args: Parameters<typeof fakeServer>): Promise<FakeServer> {
  const s = await fakeServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const raft = (over: Partial<RaftStatus>): RaftStatus => ({
  id: '',
  role: 'follower',
  term: 2,
  leader: '',
  commit_index: 100,
  applied_index: 100,
  last_index: 100,
  voters: [],
  learners: [],
  ...over,
});

async function voters(states: ((self: string) => RaftStatus)[]): Promise<string[]> {
  const addrs: string[] = [];
  for (const [i, st] of states.entries()) {
    let self = '';
    const s = await serve(
      json(() => st(self)),
      `127.0.0.7${i + 1}`,
    );
    self = s.addr;
    addrs.push(s.addr);
  }
  return addrs;
}

describe('discoverd check', () => {
  it('healthy: a leader, every voter answers, applied within the lag of the leader’s commit', async () => {
    let leader = '';
    const addrs = await voters([
      (self) => raft({ id: self, role: 'leader', leader: self, commit_index: 500, applied_index: 500 }),
      (self) => raft({ id: self, leader, commit_index: 499, applied_index: 400 }),
      (self) => raft({ id: self, leader, commit_index: 500, applied_index: 10 }),
    ]);
    leader = addrs[0]!;
    const check = discoverdCheck({ discovery: fakeDiscovery({}, addrs), maxLag: 1000 });
    const r = await runCheck(check);
    expect(r).toMatchObject({
      status: 'healthy',
      detail: { voters: 3, leader, commit_index: 500, max_lag: 490 },
    });
    const strict = await runCheck(discoverdCheck({ discovery: fakeDiscovery({}, addrs), maxLag: 100 }));
    expect(strict.status).toBe('unhealthy');
    expect(strict.reason).toMatch(/is 490 entries behind the leader's commit index \(limit 100\)/);
  });

  it('unhealthy when a voter does not answer', async () => {
    const addrs = await voters([(self) => raft({ id: self, role: 'leader', leader: self })]);
    const dead = await deadAddr();
    const r = await runCheck(discoverdCheck({ discovery: fakeDiscovery({}, [...addrs, dead]) }));
    expect(r.status).toBe('unhealthy');
    expect(r.reason).toContain(`voter ${dead} does not answer`);
  });

  it('unhealthy without a leader, and the host scope says so too', async () => {
    const addrs = await voters([(self) => raft({ id: self }), (self) => raft({ id: self })]);
    const r = await runCheck(discoverdCheck({ discovery: fakeDiscovery({}, addrs) }));
    expect(r).toMatchObject({ status: 'unhealthy', reason: 'no Raft leader is known' });
    const h = await runCheck(discoverdLeaderCheck({ discovery: fakeDiscovery({}, addrs) }));
    expect(h.status).toBe('unhealthy');
    expect((await runCheck(discoverdCheck({ discovery: fakeDiscovery({}, []) }))).status).toBe('unhealthy');
  });
});

describe('router check', () => {
  const fresh = () => ({ healthy: true, workers: [{ pid: 1, synced: true, watchAliveAt: 1000 }], now: 1500 });

  it('judges /router/status: loaded routes and a live store watch', () => {
    expect(judgeRouter(fresh())).toEqual({ healthy: true });
    expect(judgeRouter({ ...fresh(), healthy: false, reason: 'x' })).toEqual({ healthy: false, reason: 'x' });
    expect(judgeRouter({ ...fresh(), workers: [{ pid: 7, synced: false, watchAliveAt: 0 }] }).reason).toBe(
      'process 7 has not loaded the route table',
    );
    expect(judgeRouter({ ...fresh(), now: 20_000 }).reason).toBe(
      'process 1: store watch silent for 19000 ms',
    );
    expect(judgeRouter({ ...fresh(), workers: [] }).healthy).toBe(false);
    expect(judgeRouter('nonsense' as never).healthy).toBe(false);
  });

  it('checks every router-api instance; the host scope only the receiving host’s', async () => {
    const good = await serve(json(fresh), '127.0.0.71');
    const stale = await serve(json({ ...fresh(), now: 60_000 }), '127.0.0.72');
    const discovery = fakeDiscovery({
      'router-api': [inst(good.addr, { HOST_ID: 'h1' }), inst(stale.addr, { HOST_ID: 'h2' })],
    });
    const all = await runCheck(routerCheck({ discovery }));
    expect(all.status).toBe('unhealthy');
    expect(all.reason).toContain(`${stale.addr} (h2): process 1: store watch silent`);
    expect((await runCheck(hostRouterCheck({ discovery, hostId: 'h1' }))).status).toBe('healthy');
    expect((await runCheck(hostRouterCheck({ discovery, hostId: 'h2' }))).status).toBe('unhealthy');
    const none = await runCheck(hostRouterCheck({ discovery, hostId: 'h3' }));
    expect(none.reason).toBe('no router-api instance with HOST_ID h3');
    expect((await runCheck(routerCheck({ discovery: fakeDiscovery({}) }))).reason).toBe(
      'no router-api instance is registered',
    );
  });
});

describe('flynn-host check', () => {
  const GiB = 1024 ** 3;
  const MiB = 1024 ** 2;
  it('needs ≥ 5 % and ≥ 256 MiB free on the log disk, and an ONLINE pool', () => {
    const disk = (free: number, total = 100 * GiB) => ({
      log_disk: { total_bytes: total, free_bytes: free },
    });
    expect(judgeHost(disk(10 * GiB)).healthy).toBe(true);
    expect(judgeHost(disk(4 * GiB)).reason).toMatch(/log disk nearly full: 4096 MiB \(4\.0 %\) free/);
    expect(judgeHost(disk(200 * MiB, 1 * GiB)).healthy).toBe(false); // 19.5 % but < 256 MiB
    expect(judgeHost(disk(300 * MiB, 1 * GiB)).healthy).toBe(true);
    expect(judgeHost({ log_disk: { error: 'ENOENT' } }).reason).toBe('log disk: ENOENT');
    expect(judgeHost({}).healthy).toBe(false);
    const pool = (health: string) => ({
      ...disk(10 * GiB),
      volumes: { enabled: true as const, pool: 'p', health },
    });
    expect(judgeHost(pool('ONLINE')).healthy).toBe(true);
    expect(judgeHost(pool('DEGRADED')).reason).toBe('pool p is DEGRADED');
    expect(judgeHost({ ...disk(10 * GiB), volumes: { enabled: false, reason: 'off' } }).healthy).toBe(true);
    expect(judgeHost(disk(1 * GiB, 10 * GiB), 0.2).healthy).toBe(false);
  });

  it('probes every daemon', async () => {
    const ok = await serve(json({ log_disk: { total_bytes: 100 * GiB, free_bytes: 50 * GiB } }));
    const dead = await deadAddr();
    const discovery = fakeDiscovery({
      'flynn-host': [inst(ok.addr, { id: 'host1' }), inst(dead, { id: 'host2' })],
    });
    const r = await runCheck(flynnHostCheck({ discovery }));
    expect(r.status).toBe('unhealthy');
    expect(r.reason).toContain(`${dead} (host2): connect ECONNREFUSED`);
  });
});

describe('timeouts', () => {
  it('a component that never answers is unhealthy at the deadline and does not hold the round', async () => {
    const hung = await serve(hang());
    const ok = await serve(
      json({ healthy: true, workers: [{ pid: 1, synced: true, watchAliveAt: 1 }], now: 1 }),
    );
    const started = performance.now();
    const result = await runChecks(
      [
        routerCheck({ discovery: fakeDiscovery({ 'router-api': [inst(ok.addr)] }) }),
        { ...flynnHostCheck({ discovery: fakeDiscovery({ 'flynn-host': [inst(hung.addr)] }) }) },
        { name: 'never', run: () => new Promise(() => {}) }, // ignores its signal entirely
      ],
      { timeoutMs: 300 },
    );
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(800);
    expect(result.healthy).toBe(false);
    expect(result.detail.router!.status).toBe('healthy');
    expect(result.detail['flynn-host']).toMatchObject({
      status: 'unhealthy',
      reason: 'timed out after 300 ms',
    });
    expect(result.detail.never).toMatchObject({ status: 'unhealthy', reason: 'timed out after 300 ms' });
    expect(result.detail.never!.latency_seconds).toBeGreaterThanOrEqual(0.29);
  });

  it('with the default 2 s deadline, the answer comes at ~2 s', async () => {
    const hung = await serve(hang());
    const started = performance.now();
    const r = await runCheck(
      flynnHostCheck({ discovery: fakeDiscovery({ 'flynn-host': [inst(hung.addr)] }) }),
    );
    const elapsed = performance.now() - started;
    expect(r.reason).toBe('timed out after 2000 ms');
    expect(elapsed).toBeGreaterThanOrEqual(1990);
    expect(elapsed).toBeLessThan(2500);
  });

  it('a check that throws is unhealthy with the error as reason; an optional one does not count', async () => {
    const result = await runChecks([
      { name: 'a', run: async () => ({ healthy: true }) },
      {
        name: 'b',
        optional: true,
        run: async () => {
          throw new Error('kaput');
        },
      },
    ]);
    expect(result.healthy).toBe(true);
    expect(result.detail.b).toMatchObject({ status: 'unhealthy', reason: 'kaput', optional: true });
  });
});

import {
  buildInstance,
  DiscoverdClient,
  type DiscoverdClientOptions,
  DiscoverdError,
  type FetchLike,
} from '@flynn-edge/discoverd-client';
import type { Event } from '@flynn-edge/discoverd-state';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscoverdProcessCluster } from '../src/process-cluster.js';

// The client against a real 3-process discoverd cluster on 127.0.0.1–3 (build first:
// `npx turbo run build`). One cluster for the whole file; the test that SIGKILLs a node runs last.

const KEY = 'client-test-key';
let cluster: DiscoverdProcessCluster;
let leaderIdx: number;
const clients: DiscoverdClient[] = [];

function client(opts: DiscoverdClientOptions = {}): DiscoverdClient {
  const c = new DiscoverdClient({ servers: cluster.addrs, env: {}, clusterKey: KEY, ...opts });
  clients.push(c);
  return c;
}

/** A fetch that records "METHOD url" of every request it sends. */
function recordingFetch(log: string[]): FetchLike {
  return (url, init) => {
    log.push(`${init.method ?? 'GET'} ${url}`);
    return fetch(url, init);
  };
}

beforeAll(async () => {
  cluster = new DiscoverdProcessCluster({ env: { CLUSTER_KEY: KEY } });
  cluster.start();
  leaderIdx = await cluster.leader(20_000);
}, 30_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await cluster?.close();
});

const followers = () => [0, 1, 2].filter((i) => i !== leaderIdx);

describe('DiscoverdClient against a 3-node cluster', () => {
  it('close() gives up unregistering after about 2 s when the cluster is gone', async () => {
    let gone = false;
    const c = client({
      fetch: (url, init) =>
        gone ? Promise.reject(new TypeError('fetch failed: ECONNREFUSED')) : fetch(url, init),
    });
    const hb = await c.addServiceAndRegister('gone-test', '127.0.0.1:8123');
    gone = true;
    const t0 = Date.now();
    await hb.close();
    const took = Date.now() - t0;
    expect(took).toBeLessThan(4000);
    expect(hb.lastError).toBeDefined();
  }, 15_000);

  it('raftLeader, raftPeers and ping', async () => {
    const c = client();
    await c.ping();
    expect(await c.raftLeader()).toBe(cluster.addrs[leaderIdx]);
    expect([...(await c.raftPeers())].sort()).toEqual([...cluster.addrs].sort());
    // The peer header replaced the configured list with the same servers.
    expect([...c.servers].sort()).toEqual(cluster.addrs.map((a) => `http://${a}`).sort());
  });

  it('redirects writes to the leader and remembers it', async () => {
    const log: string[] = [];
    const f = followers()[0]!;
    const c = client({ servers: [cluster.addrs[f]!], fetch: recordingFetch(log), followPeers: false });
    await c.addService('redirected');
    const leaderUrl = cluster.url(leaderIdx);
    expect(log).toEqual([
      `PUT ${cluster.url(f)}/services/redirected`,
      `PUT ${leaderUrl}/services/redirected`,
    ]);
    expect(c.rememberedLeader).toBe(leaderUrl);
    log.length = 0;
    await c.setMeta('redirected', { data: { a: 1 }, index: 0 });
    await c.removeService('redirected');
    expect(log).toEqual([
      `PUT ${leaderUrl}/services/redirected/meta`,
      `DELETE ${leaderUrl}/services/redirected`,
    ]);
  });

  it('meta compare-and-set: create, update, 409 and 412', async () => {
    const c = client();
    await c.addService('db');
    expect(await c.getMeta('db')).toBeNull();
    const i1 = await c.setMeta('db', { data: { primary: 'a' }, index: 0 });
    expect(i1).toBeGreaterThan(0);
    const exists = (await c.setMeta('db', { data: {}, index: 0 }).catch((e) => e)) as DiscoverdError;
    expect(exists).toBeInstanceOf(DiscoverdError);
    expect(exists).toMatchObject({ code: 'object_exists', status: 409, retry: false });
    const i2 = await c.setMeta('db', { data: { primary: 'b' }, index: i1 });
    expect(i2).toBeGreaterThan(i1);
    const stale = (await c.setMeta('db', { data: {}, index: i1 }).catch((e) => e)) as DiscoverdError;
    expect(stale).toMatchObject({
      code: 'precondition_failed',
      status: 412,
      message: 'Service metadata for "db" exists, but wrong index provided',
    });
    // Read-your-writes on a follower: ?index= waits until it has applied the write.
    const f = client({ servers: [cluster.addrs[followers()[0]!]!], followPeers: false });
    expect(await f.getMeta('db', { index: i2 })).toEqual({ data: { primary: 'b' }, index: i2 });
    expect(f.lastIndex).toBeGreaterThanOrEqual(i2);
    const missing = (await c.setMeta('nosuch', { data: 1, index: 0 }).catch((e) => e)) as DiscoverdError;
    expect(missing).toMatchObject({ code: 'object_not_found', status: 404 });
  });

  it('registry reads: instances, leader, manual leader via setLeader', async () => {
    const c = client();
    expect(await c.instances('nothing-here')).toEqual([]);
    expect(await c.leader('nothing-here')).toBeNull();
    const a = await c.addServiceAndRegister('manual-svc', '127.0.0.1:7001', { leader_type: 'manual' });
    const b = await c.addServiceAndRegister('manual-svc', '127.0.0.1:7002', { leader_type: 'manual' });
    await waitFor(async () => (await c.instances('manual-svc')).length === 2, { what: 'two instances' });
    await c.setLeader('manual-svc', b.id);
    await waitFor(async () => (await c.leader('manual-svc'))?.id === b.id, { what: 'manual leader' });
    await Promise.all([a.close(), b.close()]);
    await waitFor(async () => (await c.instances('manual-svc')).length === 0, { what: 'instances removed' });
  });

  it('leaderWatch follows the oldest-instance leader', async () => {
    const c = client();
    const a = await c.addServiceAndRegister('elect', '127.0.0.1:7101');
    const lw = c.leaderWatch('elect');
    const it = lw[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ id: a.id });
    const b = await c.register('elect', '127.0.0.1:7102');
    await a.close();
    expect((await it.next()).value).toMatchObject({ id: b.id });
    await b.close();
    expect((await it.next()).value).toBeNull();
    lw.close();
  });

  describe('cluster store (/kv/)', () => {
    it('get, put, compare-and-set, delete; keys with any characters', async () => {
      const c = client();
      const kv = c.kv;
      expect(await kv.get('app/none')).toBeNull();
      const p1 = await kv.put('app/one', 'v1');
      expect(p1).toMatchObject({
        key: 'app/one',
        version: 1,
        create_revision: p1.revision,
        mod_revision: p1.revision,
      });
      expect(await kv.get('app/one')).toEqual({
        key: 'app/one',
        value: 'v1',
        create_revision: p1.revision,
        mod_revision: p1.revision,
        version: 1,
      });
      const dup = (await kv.put('app/one', 'x', { prevRevision: 0 }).catch((e) => e)) as DiscoverdError;
      expect(dup).toMatchObject({ code: 'precondition_failed', status: 412 });
      expect(dup.detail).toMatchObject({ key: 'app/one', mod_revision: p1.revision });
      const p2 = await kv.put('app/one', 'v2', { prevRevision: p1.revision });
      expect(p2).toMatchObject({ version: 2, create_revision: p1.revision });
      expect(p2.revision).toBeGreaterThan(p1.revision);
      const stale = (await kv
        .put('app/one', 'v3', { prevRevision: p1.revision })
        .catch((e) => e)) as DiscoverdError;
      expect(stale).toMatchObject({ code: 'precondition_failed', status: 412 });
      const badDel = (await kv
        .delete('app/one', { prevRevision: p1.revision })
        .catch((e) => e)) as DiscoverdError;
      expect(badDel.code).toBe('precondition_failed');
      expect(await kv.delete('app/one', { prevRevision: p2.revision })).toMatchObject({ deleted: 1 });
      expect(await kv.get('app/one')).toBeNull();
      expect(await kv.delete('app/one')).toMatchObject({ deleted: 0 });

      for (const key of ['app/a b?c#d%e&f=g', 'app/ünï/ç', 'app//double', 'app/../dots', 'app/./dot']) {
        const r = await kv.put(key, `value of ${key}`);
        expect(await kv.get(key)).toMatchObject({ key, value: `value of ${key}`, mod_revision: r.revision });
        expect(await kv.get(key, { stale: true, index: r.revision })).toMatchObject({ key });
        expect(await kv.delete(key)).toMatchObject({ deleted: 1 });
      }
    });

    it('list with paging, prefix delete and transactions', async () => {
      const { kv } = client();
      for (let i = 0; i < 5; i++) await kv.put(`list/k${i}`, String(i));
      await kv.put('listx', 'outside');
      const page = await kv.list('list/', { limit: 2 });
      expect(page.entries.map((e) => e.key)).toEqual(['list/k0', 'list/k1']);
      expect(page.more).toBe(true);
      const all = await kv.listAll('list/', { pageSize: 2 });
      expect(all.entries.map((e) => e.value)).toEqual(['0', '1', '2', '3', '4']);
      expect(all.more).toBe(false);
      expect(await kv.deletePrefix('list/')).toMatchObject({ deleted: 5 });
      expect((await kv.list('list/')).entries).toEqual([]);

      const claim = {
        compare: [{ key: 'routes/by-domain/example.com', op: 'absent' as const }],
        success: [
          { op: 'put' as const, key: 'routes/by-domain/example.com', value: 'r1' },
          { op: 'put' as const, key: 'routes/r1', value: '{"domain":"example.com"}' },
        ],
        failure: [],
      };
      const t1 = await kv.txn(claim);
      expect(t1.succeeded).toBe(true);
      expect(t1.results.map((r) => r.op)).toEqual(['put', 'put']);
      const t2 = await kv.txn(claim);
      expect(t2.succeeded).toBe(false);
      expect(t2.revision).toBe(t1.revision);
    });

    it('watch delivers changes by revision and resumes from a revision', async () => {
      const { kv } = client();
      const got: string[] = [];
      const revs: number[] = [];
      const w = kv.watch('watched/', {
        onRevision: (rev, evs) => {
          revs.push(rev);
          for (const e of evs) got.push(`${e.type} ${e.key}${e.value !== undefined ? `=${e.value}` : ''}`);
        },
      });
      await w.ready;
      const a = await kv.put('watched/a', '1');
      await kv.put('unwatched/x', '1');
      await kv.txn({
        success: [
          { op: 'put', key: 'watched/b', value: '2' },
          { op: 'delete', key: 'watched/a' },
        ],
      });
      await waitFor(() => got.length === 3, { what: 'three watch events' });
      expect(got).toEqual(['put watched/a=1', 'put watched/b=2', 'delete watched/a']);
      expect(revs[0]).toBe(a.revision);
      expect(revs).toHaveLength(2);
      w.close();
      expect(await w.done).toBeUndefined();

      const c3 = await kv.put('watched/c', '3');
      const resumed: string[] = [];
      const w2 = kv.watch('watched/', {
        startRevision: revs[1]! + 1,
        onEvent: (e) => resumed.push(`${e.type} ${e.key} @${e.revision}`),
      });
      await waitFor(() => resumed.length === 1, { what: 'resumed event' });
      expect(resumed).toEqual([`put watched/c @${c3.revision}`]);
      w2.close();
    });

    it('needs the cluster key', async () => {
      const c = client({ clusterKey: undefined });
      const err = (await c.kv.get('x').catch((e) => e)) as DiscoverdError;
      expect(err).toMatchObject({ code: 'unauthorized', status: 401 });
    });
  });

  // Last: it SIGKILLs a follower.
  it('heartbeats keep an instance past the TTL; a watch sees up/update/down and survives a SIGKILL', async () => {
    const [f1] = followers();
    // The watch prefers f1: last good first, then the list in order.
    const order = [f1!, ...[0, 1, 2].filter((i) => i !== f1)];
    const w = client({ servers: order.map((i) => cluster.addrs[i]!), followPeers: false });
    const events: Event[] = [];
    const watch = w.watch('web', { onEvent: (e) => events.push(e) });
    await watch.current;
    expect(watch.server).toBe(cluster.url(f1!));
    const shown = () => events.map((e) => (e.instance ? `${e.kind}:${e.instance.addr}` : e.kind));

    const r = client();
    const env = { FLYNN_JOB_ID: 'host-job1', FLYNN_APP_NAME: 'web' };
    const rc = new DiscoverdClient({ servers: cluster.addrs, env });
    clients.push(rc);
    const t0 = Date.now();
    const hb = await rc.addServiceAndRegister('web', '127.0.0.1:8001', { meta: { v: '1' } });
    expect(hb.instance.meta).toEqual({ FLYNN_APP_NAME: 'web', FLYNN_JOB_ID: 'host-job1', v: '1' });
    await waitFor(() => shown().includes('up:127.0.0.1:8001'), { what: 'up' });
    await hb.setMeta({ v: '2' });
    await waitFor(() => shown().includes('update:127.0.0.1:8001'), { what: 'update' });
    expect(events.find((e) => e.kind === 'update')!.instance!.meta).toEqual({
      FLYNN_APP_NAME: 'web',
      FLYNN_JOB_ID: 'host-job1',
      v: '2',
    });

    // Kill the node the watch is streaming from: it reconnects elsewhere and, diffing, reports
    // nothing for the unchanged instance.
    await cluster.procs[f1!]!.kill('SIGKILL');
    await waitFor(() => watch.connections >= 2, { timeoutMs: 10_000, what: 'watch reconnect' });
    expect(watch.server).not.toBe(cluster.url(f1!));
    const hb2 = await rc.register('web', '127.0.0.1:8002');
    await waitFor(() => shown().includes('up:127.0.0.1:8002'), { what: 'up after reconnect' });
    expect(shown().filter((s) => s === 'up:127.0.0.1:8001')).toHaveLength(1);
    expect(shown().filter((s) => s === 'current')).toHaveLength(1);
    expect(shown().some((s) => s.startsWith('down:'))).toBe(false);

    // A control instance registered once and never heartbeated: the leader expires it after the
    // 10 s TTL (and its own 2×TTL grace after election). The heartbeated ones outlive it.
    const control = buildInstance('127.0.0.1:8009', { env: {} });
    await r.send('PUT', `/services/web/instances/${control.id}`, { body: control });
    await waitFor(() => shown().includes('down:127.0.0.1:8009'), {
      timeoutMs: 35_000,
      what: 'control expiry',
    });
    expect(Date.now() - t0).toBeGreaterThan(10_000);
    const live = await r.instances('web');
    expect(live.map((i) => i.addr).sort()).toEqual(['127.0.0.1:8001', '127.0.0.1:8002']);
    expect(shown().filter((s) => s.startsWith('down:'))).toEqual(['down:127.0.0.1:8009']);
    expect(hb.beats).toBeGreaterThanOrEqual(3);
    expect(hb.failures).toBe(0);

    // close() unregisters at once.
    await hb.close();
    await waitFor(() => shown().includes('down:127.0.0.1:8001'), { what: 'down' });
    expect((await r.instances('web')).map((i) => i.addr)).toEqual(['127.0.0.1:8002']);
    await hb2.close();
    watch.close();
  }, 50_000);
});

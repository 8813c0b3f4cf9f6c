import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { SseReader, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DiscoverdProcessCluster } from '../src/process-cluster.js';

// The cluster store's HTTP API (/kv/) against a real 3-process discoverd cluster started with a
// cluster key. Build first: npx turbo run build (the processes run the built dist/).

const KEY = `kv-test-${randomBytes(12).toString('hex')}`;
const AUTH = { authorization: `Bearer ${KEY}` };

interface Res {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: response shapes are checked by the assertions
  json: () => any;
}

async function http(
  method: string,
  url: string,
  opts: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const r = await fetch(url, {
    method,
    headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(15_000),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: () => JSON.parse(text) };
}

/** Follows 307s by hand, re-sending the body and the Authorization header (fetch drops it cross-origin). */
async function follow(
  method: string,
  url: string,
  opts: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Res> {
  let target = url;
  for (let i = 0; i < 10; i++) {
    const r = await http(method, target, opts);
    if (r.status !== 307) return r;
    target = new URL(r.headers.get('location')!, target).toString();
  }
  throw new Error('too many redirects');
}

/** An authorized request, following redirects. */
function kv(method: string, url: string, body?: unknown): Promise<Res> {
  return follow(method, url, { body, headers: AUTH });
}

/** Data messages (no event name) parsed as JSON: the KV watch's batches. */
function batches(
  r: SseReader,
): { revision: number; events: { type: string; key: string; value?: string }[] }[] {
  return r.messages.filter((m) => m.event === undefined).map((m) => JSON.parse(m.data));
}

describe('cluster store HTTP API (/kv/) on a 3-node cluster', () => {
  let cluster: DiscoverdProcessCluster;
  let leader = 0;
  const readers: SseReader[] = [];
  const url = (i: number, path: string) => cluster.url(i, path);
  const followers = () => [0, 1, 2].filter((i) => i !== leader);
  const watch = (i: number, path: string, headers: Record<string, string> = {}) => {
    const r = new SseReader(url(i, path), { ...AUTH, ...headers });
    readers.push(r);
    return r;
  };

  beforeAll(async () => {
    cluster = new DiscoverdProcessCluster({ args: ['-cluster-key', KEY] });
    cluster.start();
    leader = await cluster.leader(20_000);
  }, 30_000);

  // Leadership is stable on an idle cluster, but look again before each test anyway.
  beforeEach(async () => {
    leader = await cluster.leader(20_000);
  }, 30_000);

  afterAll(async () => {
    await Promise.all(readers.map((r) => r.close()));
    await cluster?.close();
  });

  it('puts, gets, lists and deletes keys', async () => {
    const p1 = await kv('PUT', url(leader, '/kv/app/a'), { value: 'one' });
    expect(p1.status).toBe(200);
    expect(p1.headers.get('content-type')).toBe('application/json');
    const r1 = p1.json();
    expect(r1).toEqual({
      key: 'app/a',
      revision: r1.revision,
      create_revision: r1.revision,
      mod_revision: r1.revision,
      version: 1,
    });
    const p2 = (await kv('PUT', url(leader, '/kv/app/a'), { value: 'two' })).json();
    expect(p2.revision).toBeGreaterThan(r1.revision);
    expect(p2).toMatchObject({ create_revision: r1.revision, mod_revision: p2.revision, version: 2 });
    await kv('PUT', url(leader, '/kv/app/b'), { value: 'bee' });
    await kv('PUT', url(leader, '/kv/app/c%2Fd'), { value: 'slash' });
    await kv('PUT', url(leader, '/kv/other'), { value: 'x' });

    const g = await kv('GET', url(leader, '/kv/app/a'));
    expect(g.status).toBe(200);
    expect(g.json()).toEqual({
      key: 'app/a',
      value: 'two',
      create_revision: r1.revision,
      mod_revision: p2.revision,
      version: 2,
    });

    const all = (await kv('GET', url(leader, '/kv/?prefix=app/'))).json();
    expect(all.entries.map((e: { key: string }) => e.key)).toEqual(['app/a', 'app/b', 'app/c/d']);
    expect(all.more).toBe(false);
    expect(all.revision).toBeGreaterThanOrEqual(p2.revision);
    const page1 = (await kv('GET', url(leader, '/kv/?prefix=app/&limit=2'))).json();
    expect(page1.entries.map((e: { key: string }) => e.key)).toEqual(['app/a', 'app/b']);
    expect(page1.more).toBe(true);
    const page2 = (await kv('GET', url(leader, '/kv/?prefix=app/&limit=2&start_after=app/b'))).json();
    expect(page2.entries.map((e: { key: string }) => e.key)).toEqual(['app/c/d']);
    expect(page2.more).toBe(false);

    const d = await kv('DELETE', url(leader, '/kv/app/b'));
    expect(d.status).toBe(200);
    expect(d.json()).toMatchObject({ deleted: 1 });
    expect((await kv('DELETE', url(leader, '/kv/app/b'))).json()).toMatchObject({ deleted: 0 });
    const missing = await kv('GET', url(leader, '/kv/app/b'));
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ code: 'object_not_found', message: 'kv: key not found', retry: false });

    const dp = await kv('DELETE', url(leader, '/kv/?prefix=app/'));
    expect(dp.json()).toMatchObject({ deleted: 2 });
    expect((await kv('GET', url(leader, '/kv/?prefix=app/'))).json().entries).toEqual([]);
    expect((await kv('GET', url(leader, '/kv/other'))).status).toBe(200);
  });

  it('create-only puts and compare-and-set answer 412 with the current entry', async () => {
    const created = await kv('PUT', url(leader, '/kv/cas/k'), { value: 'v1', prev_revision: 0 });
    expect(created.status).toBe(200);
    const rev1 = created.json().revision as number;

    const again = await kv('PUT', url(leader, '/kv/cas/k'), { value: 'v2', prev_revision: 0 });
    expect(again.status).toBe(412);
    const body = again.json();
    expect(body.code).toBe('precondition_failed');
    expect(body.retry).toBe(false);
    expect(body.detail).toMatchObject({ key: 'cas/k', value: 'v1', mod_revision: rev1, version: 1 });

    const ok = await kv('PUT', url(leader, '/kv/cas/k'), { value: 'v2', prev_revision: rev1 });
    expect(ok.status).toBe(200);
    const rev2 = ok.json().revision as number;
    const stale = await kv('PUT', url(leader, '/kv/cas/k'), { value: 'v3', prev_revision: rev1 });
    expect(stale.status).toBe(412);
    expect(stale.json().detail).toMatchObject({ value: 'v2', mod_revision: rev2 });

    const absent = await kv('PUT', url(leader, '/kv/cas/none'), { value: 'x', prev_revision: 5 });
    expect(absent.status).toBe(412);
    expect(absent.json().detail).toBeNull();

    const badDelete = await kv('DELETE', url(leader, `/kv/cas/k?prev_revision=${rev1}`));
    expect(badDelete.status).toBe(412);
    const goodDelete = await kv('DELETE', url(leader, `/kv/cas/k?prev_revision=${rev2}`));
    expect(goodDelete.json()).toMatchObject({ deleted: 1 });
  });

  it('runs transactions: the success branch when every compare holds, else the failure branch', async () => {
    const txn = {
      compare: [
        { key: 'routes/by-domain/example.com', op: 'absent' },
        { key: 'routes/seq', op: '=', mod_revision: 0 },
      ],
      success: [
        { op: 'put', key: 'routes/by-domain/example.com', value: 'r1' },
        { op: 'put', key: 'routes/r1', value: '{"domain":"example.com"}' },
      ],
      failure: [{ op: 'put', key: 'routes/conflicts', value: 'example.com' }],
    };
    const first = await kv('POST', url(leader, '/kv/txn'), txn);
    expect(first.status).toBe(200);
    const a = first.json();
    expect(a.succeeded).toBe(true);
    expect(a.results).toEqual([
      { op: 'put', key: 'routes/by-domain/example.com' },
      { op: 'put', key: 'routes/r1' },
    ]);
    const r1 = (await kv('GET', url(leader, '/kv/routes/r1'))).json();
    expect(r1.mod_revision).toBe(a.revision);
    expect((await kv('GET', url(leader, '/kv/routes/by-domain/example.com'))).json().mod_revision).toBe(
      a.revision,
    );

    const second = (await kv('POST', url(leader, '/kv/txn'), txn)).json();
    expect(second.succeeded).toBe(false);
    expect(second.revision).toBeGreaterThan(a.revision);
    expect(second.results).toEqual([{ op: 'put', key: 'routes/conflicts' }]);
    expect((await kv('GET', url(leader, '/kv/routes/conflicts'))).json().value).toBe('example.com');
    // The success branch did not run again.
    expect((await kv('GET', url(leader, '/kv/routes/r1'))).json().version).toBe(1);

    const cleanup = (
      await kv('POST', url(leader, '/kv/txn'), {
        compare: [{ key: 'routes/r1', op: '=', mod_revision: a.revision }],
        success: [
          { op: 'delete', key: 'routes/r1' },
          { op: 'delete_prefix', prefix: 'routes/' },
        ],
      })
    ).json();
    expect(cleanup.succeeded).toBe(true);
    expect(cleanup.results[0]).toMatchObject({ op: 'delete', key: 'routes/r1', deleted: 1 });
    expect(cleanup.results[1]).toEqual({ op: 'delete_prefix', prefix: 'routes/', deleted: 2 });

    // A transaction that writes nothing leaves the revision alone.
    const noop = (
      await kv('POST', url(leader, '/kv/txn'), { compare: [{ key: 'nope', op: 'present' }] })
    ).json();
    expect(noop).toEqual({ succeeded: false, revision: cleanup.revision, results: [] });
  });

  it('redirects linearizable reads on a follower; stale and ?index reads are answered locally', async () => {
    const put = (await kv('PUT', url(leader, '/kv/lin/k'), { value: 'fresh' })).json();
    const f = followers()[0]!;

    const r = await http('GET', url(f, '/kv/lin/k'), { headers: AUTH });
    expect(r.status).toBe(307);
    const loc = new URL(r.headers.get('location')!);
    expect(loc.host).toBe(cluster.addrs[leader]);
    expect(loc.pathname).toBe('/kv/lin/k');
    // The client re-sends the key to the leader.
    const redirected = await follow('GET', url(f, '/kv/lin/k'), { headers: AUTH });
    expect(redirected.status).toBe(200);
    expect(redirected.json().value).toBe('fresh');
    // Lists redirect too.
    expect((await http('GET', url(f, '/kv/?prefix=lin/'), { headers: AUTH })).status).toBe(307);

    // ?stale=true&index=N: read-your-writes on the follower itself, never a 404.
    const local = await http('GET', url(f, `/kv/lin/k?stale=true&index=${put.revision}`), { headers: AUTH });
    expect(local.status).toBe(200);
    expect(local.json().value).toBe('fresh');
    const localList = await http('GET', url(f, `/kv/?prefix=lin/&stale=true&index=${put.revision}`), {
      headers: AUTH,
    });
    expect(localList.json().entries).toHaveLength(1);
    // A plain stale read is served without a redirect (it may lag, so poll).
    await waitFor(
      async () => (await http('GET', url(f, '/kv/lin/k?stale=true'), { headers: AUTH })).status === 200,
      { what: 'a stale read on the follower' },
    );

    // An index that is not reached in time: 503 with retry.
    const late = await http('GET', url(f, '/kv/lin/k?stale=true&index=999999999&wait=200ms'), {
      headers: AUTH,
    });
    expect(late.status).toBe(503);
    expect(late.json()).toMatchObject({ code: 'service_unavailable', retry: true });

    // Writes on a follower redirect as well.
    const w = await http('PUT', url(f, '/kv/lin/k'), { body: { value: 'x' }, headers: AUTH });
    expect(w.status).toBe(307);
    expect(new URL(w.headers.get('location')!).host).toBe(cluster.addrs[leader]);
  });

  it('honours ?index=N on the registry GET routes (read-your-writes on any node)', async () => {
    expect((await follow('PUT', url(leader, '/services/kvidx'), { body: {} })).status).toBe(200);
    const meta = await follow('PUT', url(leader, '/services/kvidx/meta'), {
      body: { data: { a: 1 }, index: 0 },
    });
    expect(meta.status).toBe(200);
    const index = Number(meta.headers.get('discoverd-index'));
    expect(index).toBeGreaterThan(0);
    for (const f of followers()) {
      const r = await http('GET', url(f, `/services/kvidx/meta?index=${index}`));
      expect(r.status).toBe(200);
      expect(r.json().data).toEqual({ a: 1 });
    }
    const late = await http('GET', url(followers()[0]!, '/services/kvidx/meta?index=999999999&wait=100ms'));
    expect(late.status).toBe(503);
    const bad = await http('GET', url(leader, '/services/kvidx/meta?index=abc'));
    expect(bad.status).toBe(400);
    expect(bad.json().code).toBe('validation_error');
  });

  it('watches a prefix from a revision and resumes with Last-Event-ID', async () => {
    const a = (await kv('PUT', url(leader, '/kv/w/a'), { value: '1' })).json().revision as number;
    await kv('PUT', url(leader, '/kv/unwatched'), { value: 'no' });
    const b = (await kv('PUT', url(leader, '/kv/w/b'), { value: '2' })).json().revision as number;

    const f = followers()[0]!;
    const s1 = watch(f, `/kv/?watch=true&prefix=w/&start_revision=${a}`);
    await waitFor(() => batches(s1).length >= 2, { what: 'the backlog' });
    expect(s1.status).toBe(200);
    expect(s1.contentType).toContain('text/event-stream');
    expect(s1.messages.slice(0, 2).map((m) => m.id)).toEqual([String(a), String(b)]);
    expect(batches(s1).slice(0, 2)).toEqual([
      { revision: a, events: [{ type: 'put', key: 'w/a', value: '1' }] },
      { revision: b, events: [{ type: 'put', key: 'w/b', value: '2' }] },
    ]);

    // Live: a transaction arrives as one message.
    const t = (
      await kv('POST', url(leader, '/kv/txn'), {
        success: [
          { op: 'put', key: 'w/a', value: '1b' },
          { op: 'delete', key: 'w/b' },
          { op: 'put', key: 'elsewhere', value: 'z' },
        ],
      })
    ).json().revision as number;
    await waitFor(() => batches(s1).length >= 3, { what: 'the live event' });
    expect(s1.messages[2]!.id).toBe(String(t));
    expect(batches(s1)[2]).toEqual({
      revision: t,
      events: [
        { type: 'put', key: 'w/a', value: '1b', prev_revision: a },
        { type: 'delete', key: 'w/b', prev_revision: b },
      ],
    });
    await s1.close();

    // Resume after b: only t comes again. Last-Event-ID wins over start_revision.
    const s2 = watch(leader, '/kv/?prefix=w/&start_revision=1', { 'last-event-id': String(b) });
    await waitFor(() => batches(s2).length >= 1, { what: 'the resumed stream' });
    expect(batches(s2).map((x) => x.revision)).toEqual([t]);

    // Without a start revision the watch starts now.
    const s3 = watch(leader, '/kv/?watch=true&prefix=w/');
    await waitFor(
      async () => {
        await kv('PUT', url(leader, '/kv/w/now'), { value: 'n' });
        return batches(s3).length > 0;
      },
      { what: 'a live event on a watch without start revision' },
    );
    expect(batches(s3)[0]!.revision).toBeGreaterThan(t);
    expect(batches(s3)[0]!.events[0]).toMatchObject({ key: 'w/now' });
  });

  it('requires the cluster key on /kv/ and on membership changes, not on the registry API', async () => {
    const f = followers()[0]!;
    for (const [method, path] of [
      ['GET', '/kv/anything'],
      ['GET', '/kv/?prefix='],
      ['PUT', '/kv/anything'],
      ['DELETE', '/kv/anything'],
      ['POST', '/kv/txn'],
      ['GET', '/%6Bv/anything'],
      ['PUT', '/raft/peers/127.0.0.9:1'],
      ['DELETE', '/raft/peers/127.0.0.9:1'],
      ['POST', '/raft/promote'],
      ['POST', '/shutdown'],
    ] as const) {
      for (const i of [leader, f]) {
        const none = await http(method, url(i, path), {
          body: method === 'GET' ? undefined : { value: 'x' },
        });
        expect(none.status, `${method} ${path} without a key`).toBe(401);
        expect(none.json()).toMatchObject({ code: 'unauthorized', retry: false });
        expect(none.headers.get('www-authenticate')).toContain('Bearer');
        const wrong = await http(method, url(i, path), {
          body: method === 'GET' ? undefined : { value: 'x' },
          headers: { authorization: `Bearer ${KEY}x` },
        });
        expect(wrong.status, `${method} ${path} with a wrong key`).toBe(401);
        expect(wrong.json().code).toBe('unauthorized');
      }
    }
    // The key is never taken from the URL.
    expect((await http('GET', url(leader, `/kv/anything?key=${KEY}`))).status).toBe(401);
    // Basic auth with the key as password works (any user name).
    const basic = `Basic ${Buffer.from(`flynn:${KEY}`).toString('base64')}`;
    expect(
      (await follow('GET', url(leader, '/kv/other'), { headers: { authorization: basic } })).status,
    ).toBe(200);
    // With the key, PUT /raft/peers reaches its own validation.
    const bad = await follow('PUT', url(leader, '/raft/peers/not-a-peer'), { headers: AUTH });
    expect(bad.status).toBe(400);
    expect(bad.json().code).toBe('validation_error');

    // Flynn's registry API and the raft reads stay open.
    expect((await follow('PUT', url(f, '/services/kvopen'), { body: {} })).status).toBe(200);
    expect((await http('GET', url(f, '/raft/leader'))).status).toBe(200);
    expect((await http('GET', url(f, '/raft/peers'))).status).toBe(200);
    // A redirected KV write with the key re-sent works.
    const w = await http('PUT', url(f, '/kv/redirected'), { body: { value: 'ok' }, headers: AUTH });
    expect(w.status).toBe(307);
    expect(
      (await http('PUT', w.headers.get('location')!, { body: { value: 'ok' }, headers: AUTH })).status,
    ).toBe(200);
  });

  it('answers bad input with the error envelope and keeps running', async () => {
    const long = 'k'.repeat(5 * 1024);
    const cases: [string, string, unknown, number, string][] = [
      ['PUT', '/kv/', { value: 'x' }, 400, 'validation_error'],
      ['GET', `/kv/${long}`, undefined, 400, 'validation_error'],
      ['PUT', `/kv/${long}`, { value: 'x' }, 400, 'validation_error'],
      ['DELETE', `/kv/${long}`, undefined, 400, 'validation_error'],
      ['PUT', '/kv/a', 'not json', 400, 'syntax_error'],
      ['PUT', '/kv/a', '{"value":', 400, 'syntax_error'],
      ['PUT', '/kv/a', '', 400, 'syntax_error'],
      ['PUT', '/kv/a', [1, 2], 400, 'validation_error'],
      ['PUT', '/kv/a', { value: 5 }, 400, 'validation_error'],
      ['PUT', '/kv/a', { value: 'x', prev_revision: -1 }, 400, 'validation_error'],
      ['PUT', '/kv/a', { value: 'x', prevRevision: 3 }, 400, 'validation_error'],
      ['POST', '/kv/txn', 'nope', 400, 'syntax_error'],
      ['POST', '/kv/txn', { success: [{ op: 'frob', key: 'a' }] }, 400, 'validation_error'],
      ['POST', '/kv/txn', { success: [{ op: 'put', key: '', value: 'x' }] }, 400, 'validation_error'],
      ['POST', '/kv/txn', { success: [{ op: 'put', key: long, value: 'x' }] }, 400, 'validation_error'],
      ['POST', '/kv/txn', { compare: [{ key: 'a', op: '=' }] }, 400, 'validation_error'],
      ['POST', '/kv/txn', { compare: 'a' }, 400, 'validation_error'],
      ['POST', '/kv/txn', { success: [{ op: 'delete_prefix', prefix: '' }] }, 400, 'validation_error'],
      ['DELETE', '/kv/', undefined, 400, 'validation_error'],
      ['DELETE', '/kv/?prefix=', undefined, 400, 'validation_error'],
      ['GET', '/kv/?limit=-1', undefined, 400, 'validation_error'],
      ['GET', '/kv/a?stale=maybe', undefined, 400, 'validation_error'],
      ['GET', '/kv/a?index=x', undefined, 400, 'validation_error'],
      ['GET', '/kv/?watch=true&start_revision=x', undefined, 400, 'validation_error'],
      ['GET', '/kv/%E0%A4%A', undefined, 400, 'validation_error'],
    ];
    for (const i of [leader, ...followers()]) {
      for (const [method, path, body, status, code] of cases) {
        const r = await http(method, url(i, path), { body, headers: AUTH });
        expect(r.status, `${method} ${path.slice(0, 40)} ${JSON.stringify(body)?.slice(0, 40)}`).toBe(status);
        expect(r.json()).toMatchObject({ code, retry: false });
        expect(typeof r.json().message).toBe('string');
      }
    }
    const msg = (await http('PUT', url(leader, '/kv/'), { body: { value: 'x' }, headers: AUTH })).json()
      .message;
    expect(msg).toBe('kv: key must not be empty');
    for (let i = 0; i < 3; i++) {
      expect(cluster.procs[i]!.running).toBe(true);
      expect((await http('GET', url(i, '/ping'))).status).toBe(200);
    }
  });

  it('exports the KV request counter and the watcher gauge', async () => {
    const text = await waitFor(
      async () => {
        const t = (await http('GET', url(leader, '/metrics'))).text;
        return t.includes('flynn_discoverd_kv_watchers') ? t : undefined;
      },
      { what: 'metrics' },
    );
    expect(text).toMatch(/flynn_discoverd_kv_requests_total\{op="put",code="200"\} \d+/);
    expect(text).toMatch(/flynn_discoverd_kv_requests_total\{op="get",code="401"\} \d+/);
    expect(text).toMatch(/flynn_discoverd_kv_requests_total\{op="watch",code="200"\} \d+/);
    expect(text).toMatch(/flynn_discoverd_kv_watchers \d+/);
  });

  it('drops a watcher that stops reading instead of buffering without bound', async () => {
    const i = followers()[0]!;
    const req = httpRequest(url(i, '/kv/?watch=true&prefix=slow/'), {
      headers: { ...AUTH, accept: 'text/event-stream' },
    });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
      req.end();
    });
    try {
      expect(res.statusCode).toBe(200);
      res.pause();
      const value = 'v'.repeat(200 * 1024);
      const dropped = async () => {
        const text = (await http('GET', url(i, '/metrics'))).text;
        const m = /flynn_discoverd_kv_watchers_dropped_total (\d+)/.exec(text);
        return m !== null && Number(m[1]) >= 1;
      };
      await waitFor(
        async () => {
          const success = Array.from({ length: 4 }, (_, j) => ({ op: 'put', key: `slow/${j}`, value }));
          expect((await kv('POST', url(leader, '/kv/txn'), { success })).status).toBe(200);
          return dropped();
        },
        { timeoutMs: 60_000, intervalMs: 1, what: 'the slow watcher to be dropped' },
      );
      expect((await kv('DELETE', url(leader, '/kv/?prefix=slow/'))).status).toBe(200);
    } finally {
      req.destroy();
    }
  }, 90_000);

  it('says "compacted" when the start revision is older than the watch history', async () => {
    // 10,001 keys in one transaction push everything before it out of the 10,000-event history.
    const success = Array.from({ length: 10_001 }, (_, i) => ({
      op: 'put',
      key: `bulk/${String(i).padStart(5, '0')}`,
      value: 'x',
    }));
    const bulk = await kv('POST', url(leader, '/kv/txn'), { success });
    expect(bulk.status).toBe(200);
    const rev = bulk.json().revision as number;

    const f = followers()[0]!;
    const s = watch(f, `/kv/?watch=true&prefix=w/&start_revision=1&index=${rev}`);
    await waitFor(() => s.ended, { what: 'the compacted stream to end' });
    expect(s.status).toBe(200);
    expect(s.messages).toHaveLength(1);
    expect(s.messages[0]!.event).toBe('compacted');
    const info = JSON.parse(s.messages[0]!.data);
    expect(info.compact_revision).toBe(rev);
    expect(info.revision).toBeGreaterThanOrEqual(rev);

    // The bulk revision itself is partly gone too; resuming after it works.
    const gone = watch(f, `/kv/?watch=true&prefix=bulk/&start_revision=${rev}`);
    await waitFor(() => gone.ended, { what: 'the compacted stream to end' });
    expect(gone.messages.map((m) => m.event)).toEqual(['compacted']);
    const ok = watch(f, '/kv/?watch=true&prefix=bulk/', { 'last-event-id': String(rev) });
    const next = (await kv('PUT', url(leader, '/kv/bulk/new'), { value: 'y' })).json().revision as number;
    await waitFor(() => batches(ok).length >= 1, { what: 'a watch resumed after the compaction revision' });
    expect(batches(ok)[0]).toEqual({
      revision: next,
      events: [{ type: 'put', key: 'bulk/new', value: 'y' }],
    });
    expect(ok.messages.some((m) => m.event === 'compacted')).toBe(false);

    const list = (await kv('GET', url(leader, '/kv/?prefix=bulk/&limit=3'))).json();
    expect(list.entries).toHaveLength(3);
    expect(list.more).toBe(true);
  });
});

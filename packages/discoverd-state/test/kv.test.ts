import { describe, expect, it } from 'vitest';
import { type KvEvent, type KvTxnResult, WatchHistory } from '../src/index.js';
import { expectOk, Harness } from './helpers.js';

const value = (r: ReturnType<Harness['apply']>) => expectOk(r).value as KvTxnResult;

describe('put / delete, revisions and versions', () => {
  it('tracks create_revision, mod_revision, version and the store revision', () => {
    const h = new Harness();
    expect(h.state.kvRevision()).toBe(0);
    h.addService('web'); // 1: not a KV write
    const r = expectOk(h.put('a', '1')); // 2
    expect(r.value).toEqual({ succeeded: true, revision: 2, results: [{ op: 'put', key: 'a' }] });
    expect(r.kvEvents).toEqual([{ type: 'put', key: 'a', value: '1', revision: 2 }]);
    expect(r.events).toEqual([]);
    expect(h.state.kvGet('a')).toEqual({
      key: 'a',
      value: '1',
      create_revision: 2,
      mod_revision: 2,
      version: 1,
    });
    h.addService('db'); // 3
    const r2 = expectOk(h.put('a', '2')); // 4
    const prev = { key: 'a', value: '1', create_revision: 2, mod_revision: 2, version: 1 };
    expect(r2.value).toEqual({ succeeded: true, revision: 4, results: [{ op: 'put', key: 'a', prev }] });
    expect(r2.kvEvents).toEqual([{ type: 'put', key: 'a', value: '2', revision: 4, prevRevision: 2 }]);
    expect(h.state.kvGet('a')).toEqual({
      key: 'a',
      value: '2',
      create_revision: 2,
      mod_revision: 4,
      version: 2,
    });
    expect(h.state.kvRevision()).toBe(4);

    const d = expectOk(h.del('a')); // 5
    expect(d.value).toEqual({
      succeeded: true,
      revision: 5,
      results: [
        {
          op: 'delete',
          key: 'a',
          prev: { key: 'a', value: '2', create_revision: 2, mod_revision: 4, version: 2 },
        },
      ],
    });
    expect(d.kvEvents).toEqual([{ type: 'delete', key: 'a', revision: 5, prevRevision: 4 }]);
    expect(h.state.kvGet('a')).toBeUndefined();

    // deleting an absent key writes nothing: the revision stays
    const d2 = expectOk(h.del('a')); // 6
    expect(d2.value).toEqual({ succeeded: true, revision: 5, results: [{ op: 'delete', key: 'a' }] });
    expect(d2.kvEvents).toEqual([]);
    expect(h.state.kvRevision()).toBe(5);

    // re-creating starts a new incarnation
    expectOk(h.put('a', '3')); // 7
    expect(h.state.kvGet('a')).toEqual({
      key: 'a',
      value: '3',
      create_revision: 7,
      mod_revision: 7,
      version: 1,
    });
  });

  it('an empty value is a value', () => {
    const h = new Harness();
    expectOk(h.put('k', ''));
    expect(h.state.kvGet('k')?.value).toBe('');
  });
});

describe('kvTxn compares', () => {
  function setup() {
    const h = new Harness();
    h.put('a', 'x'); // 1
    h.put('b', 'y'); // 2
    h.put('a', 'z'); // 3 → a.mod = 3, b.mod = 2
    return h;
  }
  const succ = (h: Harness, compare: Parameters<Harness['txn']>[0]) =>
    value(h.txn(compare, [{ Op: 'put', Key: 'ok', Value: 's' }], [{ Op: 'put', Key: 'ko', Value: 'f' }]))
      .succeeded;

  it('= < > against mod_revision', () => {
    const h = setup();
    expect(succ(h, [{ Key: 'a', Op: '=', ModRevision: 3 }])).toBe(true);
    expect(succ(h, [{ Key: 'a', Op: '=', ModRevision: 1 }])).toBe(false);
    expect(succ(h, [{ Key: 'a', Op: '<', ModRevision: 4 }])).toBe(true);
    expect(succ(h, [{ Key: 'a', Op: '<', ModRevision: 3 }])).toBe(false);
    expect(succ(h, [{ Key: 'b', Op: '>', ModRevision: 1 }])).toBe(true);
    expect(succ(h, [{ Key: 'b', Op: '>', ModRevision: 2 }])).toBe(false);
  });

  it('absent keys have mod_revision 0', () => {
    const h = setup();
    expect(succ(h, [{ Key: 'nope', Op: '=', ModRevision: 0 }])).toBe(true);
    expect(succ(h, [{ Key: 'nope', Op: '<', ModRevision: 1 }])).toBe(true);
    expect(succ(h, [{ Key: 'nope', Op: '>', ModRevision: 0 }])).toBe(false);
    expect(succ(h, [{ Key: 'a', Op: '=', ModRevision: 0 }])).toBe(false);
  });

  it('absent / present', () => {
    const h = setup();
    expect(succ(h, [{ Key: 'nope', Op: 'absent' }])).toBe(true);
    expect(succ(h, [{ Key: 'a', Op: 'absent' }])).toBe(false);
    expect(succ(h, [{ Key: 'a', Op: 'present' }])).toBe(true);
    expect(succ(h, [{ Key: 'nope', Op: 'present' }])).toBe(false);
  });

  it('all compares must hold; no compares means success', () => {
    const h = setup();
    expect(
      succ(h, [
        { Key: 'a', Op: 'present' },
        { Key: 'b', Op: '=', ModRevision: 2 },
      ]),
    ).toBe(true);
    expect(
      succ(h, [
        { Key: 'a', Op: 'present' },
        { Key: 'b', Op: '=', ModRevision: 9 },
      ]),
    ).toBe(false);
    expect(succ(h, [])).toBe(true);
  });

  it('runs the Failure branch atomically and reports it', () => {
    const h = setup();
    const r = expectOk(
      h.txn(
        [{ Key: 'a', Op: 'absent' }],
        [{ Op: 'put', Key: 's', Value: '1' }],
        [
          { Op: 'put', Key: 'f1', Value: '1' },
          { Op: 'put', Key: 'f2', Value: '2' },
        ],
      ),
    ); // 4
    expect(r.value).toEqual({
      succeeded: false,
      revision: 4,
      results: [
        { op: 'put', key: 'f1' },
        { op: 'put', key: 'f2' },
      ],
    });
    expect(r.kvEvents.map((e) => [e.key, e.revision])).toEqual([
      ['f1', 4],
      ['f2', 4],
    ]);
    expect(h.state.kvGet('s')).toBeUndefined();
  });

  it('a failed compare with no Failure ops writes nothing', () => {
    const h = setup();
    const r = expectOk(h.txn([{ Key: 'a', Op: 'absent' }], [{ Op: 'put', Key: 's', Value: '1' }])); // 4
    expect(r.value).toEqual({ succeeded: false, revision: 3, results: [] });
    expect(r.kvEvents).toEqual([]);
    expect(h.state.kvRevision()).toBe(3);
  });

  it('compares see the state before the transaction; ops apply in order', () => {
    const h = new Harness();
    const r = expectOk(
      h.txn(
        [{ Key: 'k', Op: 'absent' }],
        [
          { Op: 'put', Key: 'k', Value: '1' },
          { Op: 'put', Key: 'k', Value: '2' },
          { Op: 'delete', Key: 'k' },
          { Op: 'put', Key: 'k', Value: '3' },
        ],
      ),
    );
    expect((r.value as KvTxnResult).succeeded).toBe(true);
    expect(r.kvEvents).toEqual([
      { type: 'put', key: 'k', value: '1', revision: 1 },
      { type: 'put', key: 'k', value: '2', revision: 1, prevRevision: 1 },
      { type: 'delete', key: 'k', revision: 1, prevRevision: 1 },
      { type: 'put', key: 'k', value: '3', revision: 1 },
    ]);
    expect(h.state.kvGet('k')).toEqual({
      key: 'k',
      value: '3',
      create_revision: 1,
      mod_revision: 1,
      version: 1,
    });
  });

  it('router-style uniqueness: claim a domain only if unclaimed', () => {
    const h = new Harness();
    const claim = (id: string) =>
      value(
        h.txn(
          [{ Key: 'routes/by-domain/example.com', Op: 'absent' }],
          [
            { Op: 'put', Key: `routes/${id}`, Value: '{}' },
            { Op: 'put', Key: 'routes/by-domain/example.com', Value: id },
          ],
        ),
      );
    expect(claim('r1').succeeded).toBe(true);
    expect(claim('r2').succeeded).toBe(false);
    expect(h.state.kvGet('routes/by-domain/example.com')?.value).toBe('r1');
    expect(h.state.kvGet('routes/r2')).toBeUndefined();
  });
});

describe('kvTxn validation', () => {
  it('rejects invalid keys as validation_error without applying anything', () => {
    const h = new Harness();
    h.put('a', '1'); // 1
    const r = h.txn(
      [],
      [
        { Op: 'put', Key: 'b', Value: '1' },
        { Op: 'put', Key: '', Value: '2' },
      ],
    );
    expect(r).toEqual({
      ok: false,
      error: { code: 'validation_error', message: 'kv: key must not be empty' },
      events: [],
      kvEvents: [],
    });
    expect(h.state.kvGet('b')).toBeUndefined();
    expect(h.state.kvRevision()).toBe(1);
    expect(h.txn([{ Key: 'x'.repeat(4097), Op: 'absent' }], [])).toMatchObject({
      ok: false,
      error: { code: 'validation_error', message: 'kv: key must be at most 4096 bytes' },
    });
    // the invalid key in the branch that would not run still rejects the transaction
    expect(h.txn([], [], [{ Op: 'delete', Key: '' }])).toMatchObject({ ok: false });
  });
});

describe('list by prefix and deletePrefix', () => {
  function setup() {
    const h = new Harness();
    for (const k of ['routes/b', 'routes/a', 'certs/x', 'routes/c', 'routesX', 'r', 'routes/a/1'])
      h.put(k, k);
    return h;
  }

  it('lists sorted entries under a prefix, with a limit and pagination', () => {
    const h = setup();
    const keys = (prefix: string, opts = {}) => h.state.kvList(prefix, opts).entries.map((e) => e.key);
    expect(keys('routes/')).toEqual(['routes/a', 'routes/a/1', 'routes/b', 'routes/c']);
    expect(keys('')).toEqual(['certs/x', 'r', 'routes/a', 'routes/a/1', 'routes/b', 'routes/c', 'routesX']);
    expect(keys('zzz')).toEqual([]);
    const page = h.state.kvList('routes/', { limit: 2 });
    expect(page.entries.map((e) => e.key)).toEqual(['routes/a', 'routes/a/1']);
    expect(page.more).toBe(true);
    expect(page.revision).toBe(7);
    const next = h.state.kvList('routes/', { limit: 2, startAfter: 'routes/a/1' });
    expect(next.entries.map((e) => e.key)).toEqual(['routes/b', 'routes/c']);
    expect(next.more).toBe(false);
    expect(keys('routes/', { startAfter: 'routes/a/0' })).toEqual(['routes/a/1', 'routes/b', 'routes/c']);
    expect(keys('routes/', { startAfter: 'a' })).toEqual(['routes/a', 'routes/a/1', 'routes/b', 'routes/c']);
    expect(keys('routes/', { startAfter: 'routes/c' })).toEqual([]);
    expect(keys('routes/', { limit: 0 })).toHaveLength(4);
    expect(h.state.kvList('routes/', { limit: 4 }).more).toBe(false);
  });

  it('deletePrefix removes the range and reports each deleted entry', () => {
    const h = setup();
    const r = expectOk(h.txn([], [{ Op: 'deletePrefix', Prefix: 'routes/a' }])); // 8
    const v = r.value as KvTxnResult;
    expect(v.revision).toBe(8);
    const res = v.results[0]!;
    expect(res.op).toBe('deletePrefix');
    if (res.op === 'deletePrefix') expect(res.deleted.map((e) => e.key)).toEqual(['routes/a', 'routes/a/1']);
    expect(r.kvEvents).toEqual([
      { type: 'delete', key: 'routes/a', revision: 8, prevRevision: 2 },
      { type: 'delete', key: 'routes/a/1', revision: 8, prevRevision: 7 },
    ]);
    expect(h.state.kvList('').entries.map((e) => e.key)).toEqual([
      'certs/x',
      'r',
      'routes/b',
      'routes/c',
      'routesX',
    ]);
    // nothing matching: no write
    const r2 = expectOk(h.txn([], [{ Op: 'deletePrefix', Prefix: 'nope/' }])); // 9
    expect(r2.value).toEqual({
      succeeded: true,
      revision: 8,
      results: [{ op: 'deletePrefix', prefix: 'nope/', deleted: [] }],
    });
  });

  it('keeps code-point order for non-ASCII keys', () => {
    const h = new Harness();
    for (const k of ['k/\u{1F600}', 'k/\uFFFD', 'k/z', 'k/é']) h.put(k, '');
    expect(h.state.kvList('k/').entries.map((e) => e.key)).toEqual(['k/z', 'k/é', 'k/\uFFFD', 'k/\u{1F600}']);
  });
});

describe('watch history', () => {
  it('resumes from a revision, filtered by prefix', () => {
    const h = new Harness();
    h.put('a/1', 'x'); // 1
    h.addService('web'); // 2
    h.put('b/1', 'y'); // 3
    h.txn(
      [],
      [
        { Op: 'put', Key: 'a/2', Value: 'z' },
        { Op: 'delete', Key: 'a/1' },
      ],
    ); // 4
    const all = h.state.kvEventsSince(0);
    expect(all).toEqual([
      { type: 'put', key: 'a/1', value: 'x', revision: 1 },
      { type: 'put', key: 'b/1', value: 'y', revision: 3 },
      { type: 'put', key: 'a/2', value: 'z', revision: 4 },
      { type: 'delete', key: 'a/1', revision: 4, prevRevision: 1 },
    ]);
    expect(h.state.kvEventsSince(1, 'a/')).toEqual([
      { type: 'put', key: 'a/2', value: 'z', revision: 4 },
      { type: 'delete', key: 'a/1', revision: 4, prevRevision: 1 },
    ]);
    expect(h.state.kvEventsSince(2)).toHaveLength(3);
    expect(h.state.kvEventsSince(3, 'b/')).toEqual([]);
    expect(h.state.kvEventsSince(4)).toEqual([]);
    expect(h.state.kvEventsSince(100)).toEqual([]);
  });

  it("answers 'compacted' once the bounded history dropped needed events", () => {
    const h = new Harness({ watchHistory: 3 });
    for (let i = 1; i <= 5; i++) h.put(`k${i}`, String(i)); // revisions 1..5; history keeps 3..5
    expect(h.state.kvCompactedRevision()).toBe(2);
    expect(h.state.kvEventsSince(1)).toBe('compacted');
    expect(h.state.kvEventsSince(0)).toBe('compacted');
    expect((h.state.kvEventsSince(2) as KvEvent[]).map((e) => e.key)).toEqual(['k3', 'k4', 'k5']);
    expect(h.state.kvEventsSince(4)).toEqual([{ type: 'put', key: 'k5', value: '5', revision: 5 }]);
  });

  it('a transaction straddling the cut makes its own revision the boundary', () => {
    const w = new WatchHistory(3);
    w.push({ type: 'put', key: 'a', revision: 1 });
    w.push({ type: 'put', key: 'b', revision: 2 });
    w.push({ type: 'put', key: 'c', revision: 2 });
    w.push({ type: 'put', key: 'd', revision: 3 }); // evicts a@1
    expect(w.compactedRevision).toBe(1);
    expect(w.since(1)).toHaveLength(3);
    w.push({ type: 'put', key: 'e', revision: 3 }); // evicts b@2: c@2 alone is incomplete
    expect(w.compactedRevision).toBe(2);
    expect(w.since(1)).toBe('compacted');
    expect((w.since(2) as { key: string }[]).map((e) => e.key)).toEqual(['d', 'e']);
    expect(w.length).toBe(3);
  });

  it('capacity 0 keeps nothing but still answers for the current revision', () => {
    const w = new WatchHistory(0);
    w.push({ type: 'put', key: 'a', revision: 5 });
    expect(w.since(4)).toBe('compacted');
    expect(w.since(5)).toEqual([]);
    expect(() => new WatchHistory(-1)).toThrow(RangeError);
  });

  it('wraps around the ring many times', () => {
    const h = new Harness({ watchHistory: 7 });
    for (let i = 1; i <= 100; i++) h.put(`k/${i % 5}`, String(i));
    const evs = h.state.kvEventsSince(95);
    expect(evs).not.toBe('compacted');
    expect((evs as { revision: number }[]).map((e) => e.revision)).toEqual([96, 97, 98, 99, 100]);
    expect(h.state.kvEventsSince(92)).toBe('compacted');
    expect((h.state.kvEventsSince(93) as unknown[]).length).toBe(7);
  });
});

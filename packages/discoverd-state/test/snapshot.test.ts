import { describe, expect, it } from 'vitest';
import { DiscoverdState, type EventKind } from '../src/index.js';
import { expectOk, Harness, inst } from './helpers.js';

const ALL: EventKind[] = ['up', 'update', 'down', 'leader', 'current', 'service_meta'];
const A = inst('10.0.0.1:80', { FLYNN_APP_ID: 'app', z: '1' });
const B = inst('10.0.0.2:80');
const C = inst('[::1]:53', undefined, 'udp');

function populated(): Harness {
  const h = new Harness();
  h.addService('web');
  h.addService('pg', 'manual');
  h.addService('9lives');
  h.add('web', B);
  h.add('web', A);
  h.add('pg', C);
  h.add('pg', A);
  h.setLeader('pg', C.id);
  h.setMeta('pg', { data: { states: { 'a:1': 'done' }, n: 1.5, list: [true, null] }, index: 0 });
  h.setMeta('web', { data: null, index: 0 });
  h.add('old', A); // fails: no service
  h.addService('gone');
  h.add('gone', B);
  h.removeService('gone'); // instance map and leader survive
  h.addService('empty');
  h.add('empty', B);
  h.remove('empty', B.id); // empty instance map survives
  h.put('routes/1', '{"domain":"example.com"}');
  h.put('certs/1', '-----BEGIN PRIVATE KEY-----\n…');
  h.put('routes/1', '{"domain":"example.org"}');
  h.put('tmp', 'x');
  h.del('tmp');
  return h;
}

function queries(s: DiscoverdState) {
  const names = ['web', 'pg', '9lives', 'gone', 'empty', 'old', 'nope'];
  return {
    services: s.services(),
    per: names.map((n) => ({
      config: s.serviceConfig(n),
      instances: s.instances(n),
      leader: s.leader(n),
      leaderId: s.leaderId(n),
      meta: s.meta(n),
      initial: s.initialEvents(n, ALL),
    })),
    kv: s.kvList(''),
    kvRevision: s.kvRevision(),
    stats: s.stats(),
  };
}

describe('snapshot', () => {
  it("has Flynn's FSM shape plus kv, sorted keys, empty members omitted", () => {
    expect(new TextDecoder().decode(new DiscoverdState().snapshot())).toBe('{}');
    const h = new Harness();
    h.addService('b');
    h.addService('a', 'manual');
    expect(new TextDecoder().decode(h.state.snapshot())).toBe(
      '{"services":{"a":{"leader_type":"manual"},"b":{"leader_type":"oldest"}}}',
    );
    h.add('b', B); // 3
    h.setMeta('b', { data: { x: 1 }, leader_id: 'ignored', index: 0 }); // 4
    h.put('k', 'v'); // 5
    const json = JSON.parse(new TextDecoder().decode(h.state.snapshot()));
    expect(Object.keys(json)).toEqual(['services', 'metas', 'leaders', 'instances', 'kv']);
    expect(json.metas).toEqual({ b: { data: { x: 1 }, index: 4 } });
    expect(json.leaders).toEqual({ b: 'ignored' });
    expect(json.instances).toEqual({ b: { [B.id]: { ...B, index: 3 } } });
    expect(json.kv).toEqual({
      revision: 5,
      keys: { k: { value: 'v', create_revision: 5, mod_revision: 5, version: 1 } },
    });
  });

  it('keeps the kv revision even when every key is deleted', () => {
    const h = new Harness();
    h.put('k', 'v');
    h.del('k');
    expect(new TextDecoder().decode(h.state.snapshot())).toBe('{"kv":{"revision":2,"keys":{}}}');
  });

  it('round-trips: identical queries and identical bytes', () => {
    const h = populated();
    const bytes = h.state.snapshot();
    const restored = new DiscoverdState();
    restored.restore(h.index, bytes);
    expect(queries(restored)).toEqual(queries(h.state));
    expect(restored.snapshot()).toEqual(bytes);
    expect(restored.appliedIndex()).toBe(h.index);
    // and a second generation too
    const again = new DiscoverdState();
    again.restore(h.index, restored.snapshot());
    expect(again.snapshot()).toEqual(bytes);
  });

  it('the restored state keeps applying like the original', () => {
    const a = populated();
    const b = new Harness();
    b.state.restore(a.index, a.state.snapshot());
    b.index = a.index;
    const mod = a.state.kvGet('routes/1')!.mod_revision;
    for (const h of [a, b]) {
      h.add('web', inst('10.0.0.9:80'));
      h.remove('web', B.id);
      h.setMeta('pg', { data: 2, index: h.state.meta('pg')!.index });
      const r = expectOk(
        h.txn(
          [{ Key: 'routes/1', Op: '=', ModRevision: mod }],
          [{ Op: 'put', Key: 'routes/1', Value: 'v3' }],
        ),
      );
      expect((r.value as { succeeded: boolean }).succeeded).toBe(true);
    }
    expect(b.state.snapshot()).toEqual(a.state.snapshot());
    expect(b.state.instance('web', A.id)!.index).toBe(a.state.instance('web', A.id)!.index);
  });

  it('restore replaces everything, emits nothing and resets the watch history', () => {
    const src = new Harness();
    src.put('a', '1'); // 1
    src.put('b', '2'); // 2
    src.addService('web'); // 3
    const snap = src.state.snapshot();

    const dst = new Harness();
    dst.addService('other');
    dst.put('z', '9');
    dst.state.restore(3, snap);
    expect(dst.state.services()).toEqual(['web']);
    expect(dst.state.kvGet('z')).toBeUndefined();
    expect(dst.state.kvRevision()).toBe(2);
    // history starts empty at the restored store revision
    expect(dst.state.kvCompactedRevision()).toBe(2);
    expect(dst.state.kvEventsSince(1)).toBe('compacted');
    expect(dst.state.kvEventsSince(2)).toEqual([]);
    expect(dst.state.kvEventsSince(3)).toEqual([]);
    // entries at or below the snapshot index are refused; later ones apply
    dst.index = 3;
    expect(dst.state.apply(3, new Uint8Array([1]))).toMatchObject({
      ok: false,
      error: { code: 'unknown_error' },
    });
    const r = expectOk(dst.put('c', '3')); // 4
    expect(r.kvEvents).toEqual([{ type: 'put', key: 'c', value: '3', revision: 4 }]);
    expect(dst.state.kvEventsSince(2)).toEqual([{ type: 'put', key: 'c', value: '3', revision: 4 }]);
  });

  it("restores Flynn's own snapshot JSON (no kv, empty leaders, null entries)", () => {
    const id = B.id;
    const flynn = {
      services: { web: { leader_type: 'oldest' }, pg: { leader_type: 'manual' }, nil: null },
      metas: { pg: { data: { a: 1 }, index: 12 } },
      leaders: { web: id, pg: '' },
      instances: { web: { [id]: { ...B, index: 7 } }, pg: {} },
    };
    const s = new DiscoverdState();
    s.restore(20, new TextEncoder().encode(JSON.stringify(flynn)));
    expect(s.services()).toEqual(['pg', 'web']);
    expect(s.leader('web')).toEqual({ ...B, index: 7 });
    expect(s.leaderId('pg')).toBeUndefined();
    expect(s.meta('pg')).toEqual({ data: { a: 1 }, index: 12 });
    expect(s.instances('pg')).toEqual([]);
    expect(s.kvRevision()).toBe(0);
    expect(s.appliedIndex()).toBe(20);
  });

  it('throws on a malformed snapshot and leaves the state untouched', () => {
    const h = populated();
    const before = h.state.snapshot();
    const bad = [
      'nope',
      '[]',
      '{"services":[]}',
      '{"services":{"a":{"leader_type":"x"}}}',
      '{"metas":{"a":{"index":-1}}}',
      '{"leaders":{"a":1}}',
      '{"instances":{"a":{"x":{"id":"x"}}}}',
      '{"kv":{"keys":{}}}',
      '{"kv":{"revision":1,"keys":{"":{"value":"","create_revision":1,"mod_revision":1,"version":1}}}}',
      '{"kv":{"revision":1,"keys":{"k":{"value":1,"create_revision":1,"mod_revision":1,"version":1}}}}',
    ];
    for (const text of bad) {
      expect(() => h.state.restore(99, new TextEncoder().encode(text))).toThrow(
        /^discoverd: cannot restore snapshot: /,
      );
    }
    expect(() => h.state.restore(99, new Uint8Array([0xff]))).toThrow(/invalid JSON/);
    expect(h.state.snapshot()).toEqual(before);
  });

  it('sliced: the same bytes as snapshot(), of the state when it began, however applies go on', async () => {
    const h = populated();
    for (let i = 0; i < 600; i++) h.put(`routes/${i}`, `{"domain":"d${i}.example.com"}`);
    const at = h.state.snapshot();
    let slices = 0;
    const sliced = h.state.snapshotSliced(async () => {
      // Between slices the state changes: puts, a delete, a new key sorting first.
      slices++;
      h.put(`routes/${slices}`, '{"changed":true}');
      h.del('routes/599');
      h.put('a-first', 'x');
    });
    expect(Buffer.from(await sliced).equals(Buffer.from(at))).toBe(true);
    expect(slices).toBe(2);
    // A state without KV writes and an empty one too.
    const fresh = new Harness();
    expect(await fresh.state.snapshotSliced(async () => {})).toEqual(fresh.state.snapshot());
    fresh.addService('web');
    expect(await fresh.state.snapshotSliced(async () => {})).toEqual(fresh.state.snapshot());
  });
});

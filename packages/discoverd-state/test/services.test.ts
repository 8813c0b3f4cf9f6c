import { describe, expect, it } from 'vitest';
import { brief, expectOk, Harness, inst } from './helpers.js';

const A = inst('10.0.0.1:80');
const B = inst('10.0.0.2:80');
const C = inst('10.0.0.3:80');

describe('addService / removeService', () => {
  it('creates a service and refuses a duplicate with object_exists', () => {
    const h = new Harness();
    expect(h.addService('web')).toEqual({ ok: true, events: [], kvEvents: [] });
    expect(h.state.serviceConfig('web')).toEqual({ leader_type: 'oldest' });
    expect(h.addService('web', 'manual')).toEqual({
      ok: false,
      error: { code: 'object_exists', message: 'discoverd: service "web" already exists' },
      events: [],
      kvEvents: [],
    });
    expect(h.state.serviceConfig('web')).toEqual({ leader_type: 'oldest' });
    expect(h.state.services()).toEqual(['web']);
  });

  it('lists services sorted', () => {
    const h = new Harness();
    for (const s of ['b', 'a-1', 'a', '9']) h.addService(s);
    expect(h.state.services()).toEqual(['9', 'a', 'a-1', 'b']);
  });

  it('404s removing an unknown service', () => {
    const h = new Harness();
    const r = h.removeService('nope');
    expect(r).toMatchObject({
      ok: false,
      error: { code: 'object_not_found', message: 'discoverd: service "nope" not found' },
    });
  });

  it('quirk: removes config and meta, keeps instances and leader, broadcasts down per instance', () => {
    const h = new Harness();
    h.addService('web');
    h.add('web', A);
    h.add('web', B);
    expectOk(h.setMeta('web', { data: { x: 1 }, index: 0 }));
    const r = expectOk(h.removeService('web'));
    expect(brief(r)).toEqual(['web:down:10.0.0.1:80', 'web:down:10.0.0.2:80']);
    expect(r.events[0]!.instance).toEqual({ ...A, index: 2 });
    expect(h.state.serviceConfig('web')).toBeUndefined();
    expect(h.state.services()).toEqual([]);
    expect(h.state.meta('web')).toBeUndefined();
    // instances and leader survive until they expire
    expect(h.state.instances('web')!.map((i) => i.addr)).toEqual([A.addr, B.addr]);
    expect(h.state.leader('web')?.addr).toBe(A.addr);
    // a second delete is a 404 now
    expect(h.removeService('web')).toMatchObject({ ok: false, error: { code: 'object_not_found' } });
    // registrations need the service, removals only the instance map
    expect(h.add('web', C)).toMatchObject({ ok: false, error: { code: 'object_not_found' } });
    const rm = expectOk(h.remove('web', A.id));
    expect(brief(rm)).toEqual(['web:down:10.0.0.1:80']); // no leader recomputation without a config
    expect(h.state.leaderId('web')).toBe(A.id);
    expect(h.state.leader('web')).toBeUndefined();
    // re-creating the service brings the old instance map back into play
    h.addService('web');
    const up = expectOk(h.add('web', C));
    expect(brief(up)).toEqual(['web:up:10.0.0.3:80', 'web:leader:10.0.0.2:80']);
  });

  it('unchanged heartbeat of a deleted service is detectable before proposing', () => {
    const h = new Harness();
    h.addService('web');
    h.add('web', A);
    h.removeService('web');
    expect(h.state.instanceUnchanged('web', A)).toBe(true);
    expect(h.state.instanceUnchanged('web', { ...A, meta: { k: 'v' } })).toBe(false);
    expect(h.state.instanceUnchanged('web', B)).toBe(false);
  });
});

describe('addInstance', () => {
  it('404s for an unknown service', () => {
    const h = new Harness();
    expect(h.add('web', A)).toEqual({
      ok: false,
      error: { code: 'object_not_found', message: 'discoverd: service "web" not found' },
      events: [],
      kvEvents: [],
    });
    expect(h.state.instances('web')).toBeUndefined();
  });

  it('assigns the first registration index, keeps it on update, emits up then update', () => {
    const h = new Harness();
    h.addService('web'); // 1
    const up = expectOk(h.add('web', A)); // 2
    expect(up.events).toEqual([
      { service: 'web', kind: 'up', instance: { ...A, index: 2 } },
      { service: 'web', kind: 'leader', instance: { ...A, index: 2 } },
    ]);
    const changed = { ...A, meta: { v: '2' } };
    const upd = expectOk(h.add('web', changed)); // 3
    expect(upd.events).toEqual([{ service: 'web', kind: 'update', instance: { ...changed, index: 2 } }]);
    expect(h.state.instance('web', A.id)).toEqual({ ...changed, index: 2 });
    expect(JSON.stringify(h.state.instance('web', A.id))).toBe(
      `{"id":"${A.id}","addr":"10.0.0.1:80","proto":"tcp","meta":{"v":"2"},"index":2}`,
    );
  });

  it('is idempotent for an unchanged instance: no event, no change', () => {
    const h = new Harness();
    h.addService('web');
    h.add('web', A);
    const before = h.state.snapshot();
    const again = expectOk(h.add('web', { ...A, index: 999 }));
    expect(again.events).toEqual([]);
    expect(h.state.snapshot()).toEqual(before);
    expect(h.state.instance('web', A.id)!.index).toBe(2);
  });

  it('ignores a client-supplied index for new instances', () => {
    const h = new Harness();
    h.addService('web');
    h.add('web', { ...A, index: 77 });
    expect(h.state.instance('web', A.id)!.index).toBe(2);
  });

  it('lists instances sorted by index and hands out frozen objects', () => {
    const h = new Harness();
    h.addService('web');
    h.add('web', C);
    h.add('web', A);
    h.add('web', B);
    h.add('web', { ...C, meta: { x: 'y' } }); // update keeps C first
    const list = h.state.instances('web')!;
    expect(list.map((i) => [i.addr, i.index])).toEqual([
      [C.addr, 2],
      [A.addr, 3],
      [B.addr, 4],
    ]);
    expect(Object.isFrozen(list[0])).toBe(true);
    expect(Object.isFrozen(list[0]!.meta)).toBe(true);
  });

  it('instances() is [] for an emptied map and undefined for a service without one', () => {
    const h = new Harness();
    h.addService('web');
    expect(h.state.instances('web')).toBeUndefined();
    h.add('web', A);
    h.remove('web', A.id);
    expect(h.state.instances('web')).toEqual([]);
  });
});

describe('removeInstance', () => {
  it('404s only when the service never had an instance map', () => {
    const h = new Harness();
    h.addService('web');
    expect(h.remove('web', A.id)).toMatchObject({
      ok: false,
      error: { code: 'object_not_found', message: 'discoverd: service "web" not found' },
    });
    h.add('web', A);
    expect(expectOk(h.remove('web', B.id)).events).toEqual([]);
  });

  it('emits down then the new oldest leader, or a bare leader event when none is left', () => {
    const h = new Harness();
    h.addService('web');
    h.add('web', A);
    h.add('web', B);
    const r1 = expectOk(h.remove('web', A.id));
    expect(r1.events).toEqual([
      { service: 'web', kind: 'down', instance: { ...A, index: 2 } },
      { service: 'web', kind: 'leader', instance: { ...B, index: 3 } },
    ]);
    const r2 = expectOk(h.remove('web', B.id));
    expect(r2.events).toEqual([
      { service: 'web', kind: 'down', instance: { ...B, index: 3 } },
      { service: 'web', kind: 'leader' },
    ]);
    expect(JSON.stringify(r2.events[1])).toBe('{"service":"web","kind":"leader"}');
    expect(h.state.leader('web')).toBeUndefined();
    expect(h.state.leaderId('web')).toBeUndefined();
  });
});

describe('oldest leader election', () => {
  it('leader = smallest index; events only when the leader changes', () => {
    const h = new Harness();
    h.addService('web');
    expect(brief(h.add('web', B))).toEqual(['web:up:10.0.0.2:80', 'web:leader:10.0.0.2:80']);
    expect(brief(h.add('web', A))).toEqual(['web:up:10.0.0.1:80']); // newer: not leader
    expect(brief(h.add('web', { ...B, meta: { m: '1' } }))).toEqual(['web:update:10.0.0.2:80']);
    expect(h.state.leader('web')).toEqual({ ...B, meta: { m: '1' }, index: 2 });
    expect(brief(h.remove('web', A.id))).toEqual(['web:down:10.0.0.1:80']);
    expect(brief(h.remove('web', B.id))).toEqual(['web:down:10.0.0.2:80', 'web:leader']);
    // a re-registered instance is new again and gets a new index
    expect(brief(h.add('web', B))).toEqual(['web:up:10.0.0.2:80', 'web:leader:10.0.0.2:80']);
    expect(h.state.leader('web')!.index).toBe(7);
  });

  it('a meta leader_id on an oldest service holds until the next recomputation', () => {
    const h = new Harness();
    h.addService('web');
    h.add('web', A);
    h.add('web', B);
    const r = expectOk(h.setMeta('web', { data: null, leader_id: B.id, index: 0 }));
    expect(brief(r)).toEqual(['web:service_meta@4', 'web:leader:10.0.0.2:80']);
    expect(h.state.leader('web')!.id).toBe(B.id);
    expect(brief(h.add('web', C))).toEqual(['web:up:10.0.0.3:80', 'web:leader:10.0.0.1:80']);
  });
});

describe('manual leader election', () => {
  it('refuses setLeader on oldest or missing services', () => {
    const h = new Harness();
    h.addService('web');
    const err = {
      ok: false,
      error: { code: 'validation_error', message: 'service leader election type is not manual' },
      events: [],
      kvEvents: [],
    };
    expect(h.setLeader('web', A.id)).toEqual(err);
    expect(h.setLeader('nope', A.id)).toEqual(err);
  });

  it('never recomputes; setLeader emits only when the instance exists', () => {
    const h = new Harness();
    h.addService('pg', 'manual');
    expect(brief(h.add('pg', A))).toEqual(['pg:up:10.0.0.1:80']);
    expect(h.state.leader('pg')).toBeUndefined();
    expect(expectOk(h.setLeader('pg', B.id)).events).toEqual([]); // not registered (yet)
    expect(h.state.leaderId('pg')).toBe(B.id);
    expect(h.state.leader('pg')).toBeUndefined();
    expect(brief(h.add('pg', B))).toEqual(['pg:up:10.0.0.2:80']); // no automatic leader event
    expect(h.state.leader('pg')!.id).toBe(B.id);
    expect(brief(h.setLeader('pg', A.id))).toEqual(['pg:leader:10.0.0.1:80']);
    expect(brief(h.setLeader('pg', A.id))).toEqual(['pg:leader:10.0.0.1:80']); // re-set re-announces
    expect(brief(h.remove('pg', A.id))).toEqual(['pg:down:10.0.0.1:80']); // leader gone, no event
    expect(h.state.leader('pg')).toBeUndefined();
    expect(h.state.leaderId('pg')).toBe(A.id);
  });

  it('meta leader_id sets a manual leader: service_meta first, then leader', () => {
    const h = new Harness();
    h.addService('pg', 'manual');
    h.add('pg', A);
    const r = expectOk(h.setMeta('pg', { data: { primary: 'a' }, leader_id: A.id, index: 0 }));
    expect(r.events).toEqual([
      { service: 'pg', kind: 'service_meta', service_meta: { data: { primary: 'a' }, index: 3 } },
      { service: 'pg', kind: 'leader', instance: { ...A, index: 2 } },
    ]);
    expect(h.state.leader('pg')!.id).toBe(A.id);
    // leader_id of an unknown instance: stored, no leader event
    const r2 = expectOk(h.setMeta('pg', { data: 1, leader_id: B.id, index: 3 }));
    expect(brief(r2)).toEqual(['pg:service_meta@4']);
    expect(h.state.leaderId('pg')).toBe(B.id);
  });
});

describe('service meta CAS (§1.4)', () => {
  function setup() {
    const h = new Harness();
    h.addService('pg'); // 1
    return h;
  }

  it('404 when the service does not exist', () => {
    const h = setup();
    expect(h.setMeta('nope', { data: 1, index: 0 })).toMatchObject({
      ok: false,
      error: { code: 'object_not_found', message: 'discoverd: service "nope" not found' },
    });
  });

  it('index 0 creates; the value echoes the meta with index = log index', () => {
    const h = setup();
    const r = expectOk(h.setMeta('pg', { data: { a: 1 }, index: 0 })); // 2
    expect(r.value).toEqual({ data: { a: 1 }, index: 2 });
    expect(JSON.stringify(r.value)).toBe('{"data":{"a":1},"index":2}');
    expect(r.events).toEqual([
      { service: 'pg', kind: 'service_meta', service_meta: { data: { a: 1 }, index: 2 } },
    ]);
    expect(h.state.meta('pg')).toEqual({ data: { a: 1 }, index: 2 });
  });

  it('index 0 when meta exists → 409 object_exists', () => {
    const h = setup();
    h.setMeta('pg', { data: 1, index: 0 });
    expect(h.setMeta('pg', { data: 2, index: 0 })).toEqual({
      ok: false,
      error: {
        code: 'object_exists',
        message: 'Service metadata for "pg" already exists, use index=n to set',
      },
      events: [],
      kvEvents: [],
    });
    expect(h.state.meta('pg')).toEqual({ data: 1, index: 2 });
  });

  it('index n without meta → 412 does not exist', () => {
    const h = setup();
    expect(h.setMeta('pg', { data: 2, index: 5 })).toMatchObject({
      ok: false,
      error: {
        code: 'precondition_failed',
        message: 'Service metadata for "pg" does not exist, use index=0 to set',
      },
    });
  });

  it('index n with a different stored index → 412 wrong index', () => {
    const h = setup();
    h.setMeta('pg', { data: 1, index: 0 }); // 2
    for (const idx of [1, 3, 100]) {
      expect(h.setMeta('pg', { data: 2, index: idx })).toMatchObject({
        ok: false,
        error: {
          code: 'precondition_failed',
          message: 'Service metadata for "pg" exists, but wrong index provided',
        },
      });
    }
    expect(h.state.meta('pg')).toEqual({ data: 1, index: 2 });
  });

  it('index n matching → stored with the new log index; leader_id echoed but not stored', () => {
    const h = setup();
    h.setMeta('pg', { data: 1, index: 0 }); // 2
    h.addService('x'); // 3
    const r = expectOk(h.setMeta('pg', { data: { b: [1, 2] }, leader_id: 'L', index: 2 })); // 4
    expect(r.value).toEqual({ data: { b: [1, 2] }, leader_id: 'L', index: 4 });
    expect(JSON.stringify(r.value)).toBe('{"data":{"b":[1,2]},"leader_id":"L","index":4}');
    expect(h.state.meta('pg')).toEqual({ data: { b: [1, 2] }, index: 4 });
    expect(r.events[0]!.service_meta).toEqual({ data: { b: [1, 2] }, index: 4 });
    expect(h.setMeta('pg', { data: 0, index: 2 })).toMatchObject({
      ok: false,
      error: { code: 'precondition_failed' },
    });
    expectOk(h.setMeta('pg', { data: 0, index: 4 }));
  });

  it('null data is stored as null', () => {
    const h = setup();
    const r = expectOk(h.setMeta('pg', { data: null, index: 0 }));
    expect(JSON.stringify(r.value)).toBe('{"data":null,"index":2}');
  });

  it('quotes service names in messages like Go %q', () => {
    const h = new Harness();
    expect(h.removeService('a"b')).toMatchObject({
      error: { message: 'discoverd: service "a\\"b" not found' },
    });
  });
});

describe('expireInstances', () => {
  it('deletes the listed instances, down for each, then leader recomputation per service', () => {
    const h = new Harness();
    h.addService('web'); // 1
    h.addService('db'); // 2
    h.add('web', A); // 3
    h.add('web', B); // 4
    h.add('db', C); // 5
    h.add('web', C); // 6
    const r = expectOk(
      h.expire(['web', A.id], ['db', C.id], ['web', 'missing'], ['nope', A.id], ['web', B.id]),
    );
    expect(brief(r)).toEqual([
      'web:down:10.0.0.1:80',
      'db:down:10.0.0.3:80',
      'web:down:10.0.0.2:80',
      'web:leader:10.0.0.3:80',
      'db:leader',
    ]);
    expect(h.state.instances('web')!.map((i) => i.addr)).toEqual([C.addr]);
    expect(h.state.instances('db')).toEqual([]);
  });

  it('expiring nothing is a no-op', () => {
    const h = new Harness();
    h.addService('web');
    h.add('web', A);
    expect(expectOk(h.expire()).events).toEqual([]);
    expect(expectOk(h.expire(['web', 'zzz'])).events).toEqual([]);
    expect(h.state.leader('web')!.id).toBe(A.id);
  });

  it('manual services lose the instance but keep the leader id', () => {
    const h = new Harness();
    h.addService('pg', 'manual');
    h.add('pg', A);
    h.setLeader('pg', A.id);
    expect(brief(h.expire(['pg', A.id]))).toEqual(['pg:down:10.0.0.1:80']);
    expect(h.state.leader('pg')).toBeUndefined();
    expect(h.state.leaderId('pg')).toBe(A.id);
  });
});

describe('initialEvents (§1.7)', () => {
  function setup() {
    const h = new Harness();
    h.addService('web');
    h.add('web', B);
    h.add('web', A);
    h.setMeta('web', { data: 'm', index: 0 });
    return h;
  }

  it('all kinds: up by index, leader, service_meta, current', () => {
    const h = setup();
    const ev = h.state.initialEvents('web', ['up', 'update', 'down', 'leader', 'current', 'service_meta']);
    expect(ev).toEqual([
      { service: 'web', kind: 'up', instance: { ...B, index: 2 } },
      { service: 'web', kind: 'up', instance: { ...A, index: 3 } },
      { service: 'web', kind: 'leader', instance: { ...B, index: 2 } },
      { service: 'web', kind: 'service_meta', service_meta: { data: 'm', index: 4 } },
      { service: 'web', kind: 'current' },
    ]);
  });

  it('filters by kind: instances stream, leader stream', () => {
    const h = setup();
    expect(
      h.state.initialEvents('web', new Set(['up', 'update', 'down'] as const)).map((e) => e.kind),
    ).toEqual(['up', 'up']);
    expect(h.state.initialEvents('web', ['leader'])).toEqual([
      { service: 'web', kind: 'leader', instance: { ...B, index: 2 } },
    ]);
  });

  it('unknown service: only current (when asked)', () => {
    const h = setup();
    expect(h.state.initialEvents('nope', ['up', 'leader', 'service_meta', 'current'])).toEqual([
      { service: 'nope', kind: 'current' },
    ]);
    expect(h.state.initialEvents('nope', ['up', 'leader'])).toEqual([]);
  });

  it('no leader event without a live leader', () => {
    const h = new Harness();
    h.addService('pg', 'manual');
    h.add('pg', A);
    expect(h.state.initialEvents('pg', ['up', 'leader', 'current']).map((e) => e.kind)).toEqual([
      'up',
      'current',
    ]);
  });
});

describe('stats', () => {
  it('counts services, instances and kv keys', () => {
    const h = new Harness();
    h.addService('a');
    h.addService('b');
    h.add('a', A);
    h.add('b', A);
    h.put('k', 'v');
    expect(h.state.stats()).toEqual({ services: 2, instances: 2, kvKeys: 1, kvRevision: 5 });
  });
});

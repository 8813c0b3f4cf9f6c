import { describe, expect, it } from 'vitest';
import {
  type Command,
  checkCommand,
  DiscoverdState,
  instanceId,
  jsonTooDeep,
  LIMITS,
  parseInstance,
  validateAddr,
  validateInstanceMeta,
  validateInstanceRef,
  validateKvTxnLimits,
  validateProto,
  validateServiceMetaData,
  validateServiceName,
} from '../src/index.js';

// Issue 11: what may enter the log. Every command is checked in full before it is proposed;
// what passes always applies, or is refused for the current state exactly as refusal() said.

const v = (message: string) => ({ code: 'validation_error', message });
const inst = (addr: string, proto = 'tcp') => ({ id: instanceId(proto, addr), addr, proto });

describe('limits of names and fields', () => {
  it('service names are DNS labels: at most 63 characters', () => {
    expect(validateServiceName('a'.repeat(63))).toBeUndefined();
    expect(validateServiceName('a'.repeat(64))).toEqual(
      v('discoverd: service name must be at most 63 characters (a DNS label)'),
    );
    expect(validateServiceName('a'.repeat(1000))?.code).toBe('validation_error');
    // Flynn's charset message still wins for other characters.
    expect(validateServiceName(`${'A'.repeat(100)}`)).toEqual(
      v('discoverd: service must be lowercase alphanumeric plus dash'),
    );
  });

  it('protos are at most 62 characters', () => {
    expect(validateProto('p'.repeat(62))).toBeUndefined();
    expect(validateProto('p'.repeat(63))).toEqual(v('discoverd: proto must be at most 62 characters'));
  });

  it('addrs need a host and a numeric port from 1 to 65535', () => {
    for (const good of ['10.0.0.1:80', '[::1]:53', '[fe80::1%eth0]:1', 'db-1.internal:65535', 'h_x:1']) {
      expect(validateAddr(good), good).toBeUndefined();
    }
    expect(validateAddr('1.2.3.4')).toEqual(v('address 1.2.3.4: missing port in address'));
    expect(validateAddr(':80')).toEqual(v('discoverd: instance addr ":80" has no host'));
    for (const bad of ['h:', 'h:0', 'h:65536', 'h:http', 'h:-1', 'h:080000']) {
      expect(validateAddr(bad)?.message, bad).toMatch(/needs a port from 1 to 65535/);
    }
    for (const bad of ['a b:1', 'a/b:1', `${'h'.repeat(254)}:1`, 'a\u0000:1', 'é:1']) {
      expect(validateAddr(bad)?.message, bad).toMatch(/has an invalid host/);
    }
  });

  it('instance refs are non-empty strings of at most 128 bytes', () => {
    expect(validateInstanceRef('f'.repeat(32))).toBeUndefined();
    expect(validateInstanceRef('')).toEqual(v('discoverd: instance id must be set'));
    expect(validateInstanceRef(5, 'leader id')).toEqual(v('discoverd: leader id must be a string'));
    expect(validateInstanceRef('f'.repeat(129))).toEqual(
      v('discoverd: instance id must be at most 128 bytes'),
    );
  });

  it('instance meta is an object of bounded strings', () => {
    expect(validateInstanceMeta(undefined)).toBeUndefined();
    expect(validateInstanceMeta(null)).toBeUndefined();
    expect(validateInstanceMeta({ a: 'b', '': '' })).toBeUndefined();
    expect(validateInstanceMeta({ a: 1 })).toEqual(v('discoverd: instance meta "a" must be a string'));
    expect(validateInstanceMeta({ a: null })?.message).toMatch(/must be a string/);
    expect(validateInstanceMeta({ a: { b: 'c' } })?.message).toMatch(/must be a string/);
    expect(validateInstanceMeta(['a'])).toEqual(v('discoverd: instance meta must be an object of strings'));
    expect(validateInstanceMeta('a')?.message).toMatch(/must be an object/);
    const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    expect(validateInstanceMeta(keys(LIMITS.metaKeys))).toBeUndefined();
    expect(validateInstanceMeta(keys(LIMITS.metaKeys + 1))?.message).toMatch(/at most 128 keys/);
    expect(validateInstanceMeta({ ['k'.repeat(256)]: 'v' })?.message).toMatch(
      /keys must be at most 255 bytes/,
    );
    expect(validateInstanceMeta({ k: 'é'.repeat(2049) })?.message).toMatch(/at most 4096 bytes/);
    const wide = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, 'v'.repeat(4000)]));
    expect(validateInstanceMeta(wide)?.message).toMatch(/at most 16384 bytes in all/);
    // JSON.parse makes "__proto__" an ordinary key; its value is checked like any other.
    expect(validateInstanceMeta(JSON.parse('{"__proto__": 1}'))?.message).toMatch(/must be a string/);
  });

  it('parseInstance checks types, keeps Flynn’s order and drops the client index', () => {
    const good = inst('10.0.0.1:80');
    expect(parseInstance({ ...good, index: 7, meta: { b: '2', a: '1' } })).toEqual({
      instance: { ...good, meta: { a: '1', b: '2' } },
    });
    expect(parseInstance({ ...good, meta: {} })).toEqual({ instance: good });
    expect(parseInstance({ ...good, addr: ['10.0.0.1:80'] })).toEqual({
      error: v('discoverd: instance addr must be a string'),
    });
    expect(parseInstance({ ...good, id: 5 })).toEqual({
      error: v('discoverd: instance id must be a string'),
    });
    expect(parseInstance({ ...good, index: -1 })).toEqual({
      error: v('discoverd: instance index must be a non-negative integer'),
    });
    expect(parseInstance({ ...good, index: '3' })?.error?.code).toBe('validation_error');
    expect(parseInstance({ ...good, proto: '', addr: 'x' })).toEqual({
      error: v('discoverd: proto must be set'),
    });
    expect(parseInstance([good])).toEqual({
      error: { code: 'syntax_error', message: 'The provided JSON input is invalid' },
    });
    expect(parseInstance({})).toEqual({ error: v('discoverd: proto must be set') });
  });

  it('service meta data is bounded in size and depth', () => {
    let deep: unknown = 1;
    for (let i = 0; i < LIMITS.jsonDepth; i++) deep = [deep];
    expect(validateServiceMetaData(deep)).toBeUndefined();
    expect(validateServiceMetaData([deep])?.message).toMatch(/nest at most 64 levels/);
    expect(validateServiceMetaData({ a: 'x'.repeat(LIMITS.serviceMetaBytes) })?.message).toMatch(
      /at most 65536 bytes/,
    );
    expect(validateServiceMetaData(undefined)).toBeUndefined();
    // Deep enough to overflow a recursive walk: still answered.
    let deeper: unknown = 1;
    for (let i = 0; i < 200_000; i++) deeper = [deeper];
    expect(jsonTooDeep(deeper, 64)).toBe(true);
  });

  it('transactions are bounded in ops and value sizes', () => {
    const txn = (n: number, value = 'v') => ({
      Compare: [],
      Success: Array.from({ length: n }, () => ({ Op: 'put' as const, Key: 'k', Value: value })),
      Failure: [],
    });
    expect(validateKvTxnLimits(txn(LIMITS.txnOps))).toBeUndefined();
    expect(validateKvTxnLimits(txn(LIMITS.txnOps + 1))?.message).toMatch(/at most 16384 success ops/);
    expect(validateKvTxnLimits(txn(1, 'v'.repeat(LIMITS.kvValueBytes)))).toBeUndefined();
    expect(validateKvTxnLimits(txn(1, 'v'.repeat(LIMITS.kvValueBytes + 1)))?.message).toMatch(
      /value must be at most 524288 bytes/,
    );
    expect(
      validateKvTxnLimits({
        Compare: [{ Key: 'k', Op: 'value', Value: 'v'.repeat(LIMITS.kvValueBytes + 1) }],
        Success: [],
        Failure: [],
      })?.message,
    ).toMatch(/compare value/);
  });
});

describe('checkCommand', () => {
  const bad: [string, unknown][] = [
    ['long service', { type: 'addService', Service: 'a'.repeat(64), Config: { leader_type: 'oldest' } }],
    ['bad leader type', { type: 'addService', Service: 'a', Config: { leader_type: 'newest' } }],
    ['meta index', { type: 'setServiceMeta', Service: 'a', Meta: { data: 1, index: -1 } }],
    ['meta leader', { type: 'setServiceMeta', Service: 'a', Meta: { data: 1, index: 0, leader_id: 4 } }],
    ['leader id', { type: 'setLeader', Service: 'a', ID: 'x'.repeat(129) }],
    [
      'instance meta',
      { type: 'addInstance', Service: 'a', Instance: { ...inst('1.2.3.4:5'), meta: { a: 1 } } },
    ],
    ['instance index', { type: 'addInstance', Service: 'a', Instance: { ...inst('1.2.3.4:5'), index: -2 } }],
    ['instance id', { type: 'addInstance', Service: 'a', Instance: { ...inst('1.2.3.4:5'), id: 'x' } }],
    ['instance shape', { type: 'addInstance', Service: 'a', Instance: { id: 1, addr: 2, proto: 3 } }],
    ['expiry time', { type: 'addInstance', Service: 'a', Instance: inst('1.2.3.4:5'), ExpiryTime: 5 }],
    ['remove id', { type: 'removeInstance', Service: 'a', ID: '' }],
    ['expire shape', { type: 'expireInstances', Instances: [{ Service: 1 }] }],
    ['kv key', { type: 'kvTxn', Compare: [], Success: [{ Op: 'put', Key: '', Value: 'v' }], Failure: [] }],
    [
      'kv value type',
      { type: 'kvTxn', Compare: [], Success: [{ Op: 'put', Key: 'k', Value: 1 }], Failure: [] },
    ],
    ['kv lists', { type: 'kvTxn', Compare: 'x', Success: [], Failure: [] }],
    ['unknown type', { type: 'dropTables' }],
  ];
  for (const [name, cmd] of bad) {
    it(`refuses ${name} with a validation_error`, () => {
      const r = checkCommand(cmd as Command);
      expect('error' in r && r.error.code).toBe('validation_error');
    });
  }

  it('lets commands from older versions expire, whatever their service names', () => {
    expect(
      'data' in
        checkCommand({ type: 'expireInstances', Instances: [{ Service: 'X'.repeat(99), InstanceID: '' }] }),
    ).toBe(true);
  });
});

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('whatever passes checkCommand applies, or is refused exactly as refusal() said', () => {
  it('holds for 20,000 random commands (seed 11)', () => {
    const random = rng(11);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const services = ['a', 'b', 'm', 'A', '', 'x'.repeat(64)];
    const addrs = ['10.0.0.1:80', '10.0.0.2:80', ':80', 'h:0', 'h:http', '[::1]:53'];
    const values: unknown[] = ['v', 1, null, { a: 'b' }, ['x'], 'é'.repeat(3), undefined];
    const metas: unknown[] = [undefined, null, {}, { k: 'v' }, { k: 1 }, ['x'], { ['k'.repeat(300)]: 'v' }];
    const ids = (a: string) => [instanceId('tcp', a), 'f'.repeat(32), '', 'x'.repeat(200), 7];
    const gen = (): unknown => {
      const addr = pick(addrs);
      switch (Math.floor(random() * 8)) {
        case 0:
          return {
            type: 'addService',
            Service: pick(services),
            Config: { leader_type: pick(['oldest', 'manual', 'x']) },
          };
        case 1:
          return { type: 'removeService', Service: pick(services) };
        case 2:
          return {
            type: 'setServiceMeta',
            Service: pick(services),
            Meta: {
              data: pick(values),
              index: pick([0, 0, 1, 5, -1, 2.5]),
              leader_id: pick([undefined, ...ids(addr)]),
            },
          };
        case 3:
          return { type: 'setLeader', Service: pick(services), ID: pick(ids(addr)) };
        case 4:
          return {
            type: 'addInstance',
            Service: pick(services),
            Instance: {
              id: pick(ids(addr)),
              addr,
              proto: pick(['tcp', 'TCP', '']),
              meta: pick(metas),
              index: pick([undefined, 3, -1]),
            },
          };
        case 5:
          return { type: 'removeInstance', Service: pick(services), ID: pick(ids(addr)) };
        case 6:
          return {
            type: 'expireInstances',
            Instances: [{ Service: pick(services), InstanceID: pick(ids(addr)) }],
          };
        default:
          return {
            type: 'kvTxn',
            Compare:
              random() < 0.5
                ? []
                : [{ Key: pick(['k', '']), Op: pick(['=', 'absent', 'value']), ModRevision: 0, Value: 'v' }],
            Success: [
              {
                Op: pick(['put', 'delete', 'deletePrefix']),
                Key: pick(['k', '', 'x'.repeat(5000)]),
                Value: pick(values),
                Prefix: 'k',
              },
            ],
            Failure: [],
          };
      }
    };
    const state = new DiscoverdState();
    let index = 0;
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const cmd = gen() as Command;
      const checked = checkCommand(cmd);
      if ('error' in checked) {
        expect(checked.error.code).toBe('validation_error');
        continue;
      }
      accepted++;
      const refusal = state.refusal(cmd);
      const before = state.snapshot();
      const r = state.apply(++index, checked.data);
      if (refusal) {
        refused++;
        expect(r).toMatchObject({ ok: false, error: refusal });
        expect(state.snapshot()).toEqual(before);
      } else {
        expect(r.ok, JSON.stringify(cmd).slice(0, 300)).toBe(true);
      }
    }
    expect(accepted).toBeGreaterThan(2000);
    expect(refused).toBeGreaterThan(200);
    expect(accepted - refused).toBeGreaterThan(200);
  });
});

import { describe, expect, it } from 'vitest';
import { type Command, CommandType, decodeCommand, encodeCommand } from '../src/index.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b.subarray(1));
const entry = (type: number, json: string) => {
  const body = new TextEncoder().encode(json);
  const out = new Uint8Array(body.length + 1);
  out[0] = type;
  out.set(body, 1);
  return out;
};

const instance = { id: 'c239fcb116f231d96786a8a6c1f11abb', addr: '127.0.0.1:1111', proto: 'tcp' };

describe('encodeCommand', () => {
  it('writes the type byte and Go field names in Go order', () => {
    const cases: [Command, number, string][] = [
      [
        { type: 'addService', Service: 'web', Config: { leader_type: 'oldest' } },
        0,
        '{"Service":"web","Config":{"leader_type":"oldest"}}',
      ],
      [{ type: 'removeService', Service: 'web' }, 1, '{"Service":"web"}'],
      [
        { type: 'setServiceMeta', Service: 'pg', Meta: { data: { a: 1 }, leader_id: 'L', index: 0 } },
        2,
        '{"Service":"pg","Meta":{"data":{"a":1},"leader_id":"L","index":0}}',
      ],
      [
        { type: 'setServiceMeta', Service: 'pg', Meta: { data: undefined, index: 4 } },
        2,
        '{"Service":"pg","Meta":{"data":null,"index":4}}',
      ],
      [{ type: 'setLeader', Service: 'pg', ID: 'abc' }, 3, '{"Service":"pg","ID":"abc"}'],
      [
        { type: 'addInstance', Service: 'web', Instance: { ...instance, meta: { b: '2', a: '1' } } },
        4,
        `{"Service":"web","Instance":{"id":"${instance.id}","addr":"127.0.0.1:1111","proto":"tcp","meta":{"a":"1","b":"2"}},"ExpiryTime":"0001-01-01T00:00:00Z"}`,
      ],
      [
        { type: 'addInstance', Service: 'web', Instance: instance, ExpiryTime: '2024-01-01T00:00:10Z' },
        4,
        `{"Service":"web","Instance":{"id":"${instance.id}","addr":"127.0.0.1:1111","proto":"tcp"},"ExpiryTime":"2024-01-01T00:00:10Z"}`,
      ],
      [{ type: 'removeInstance', Service: 'web', ID: 'abc' }, 5, '{"Service":"web","ID":"abc"}'],
      [
        { type: 'expireInstances', Instances: [{ Service: 'web', InstanceID: 'a' }] },
        6,
        '{"Instances":[{"Service":"web","InstanceID":"a"}]}',
      ],
      [
        {
          type: 'kvTxn',
          Compare: [
            { Key: 'a', Op: '=', ModRevision: 3 },
            { Key: 'b', Op: 'absent' },
          ],
          Success: [
            { Op: 'put', Key: 'a', Value: 'x' },
            { Op: 'delete', Key: 'c' },
          ],
          Failure: [{ Op: 'deletePrefix', Prefix: 'p/' }],
        },
        16,
        '{"Compare":[{"Key":"a","Op":"=","ModRevision":3},{"Key":"b","Op":"absent"}],"Success":[{"Op":"put","Key":"a","Value":"x"},{"Op":"delete","Key":"c"}],"Failure":[{"Op":"deletePrefix","Prefix":"p/"}]}',
      ],
    ];
    for (const [cmd, type, json] of cases) {
      const data = encodeCommand(cmd);
      expect(data[0]).toBe(type);
      expect(text(data)).toBe(json);
    }
  });

  it('has the documented type bytes', () => {
    expect(CommandType).toEqual({
      addService: 0,
      removeService: 1,
      setServiceMeta: 2,
      setLeader: 3,
      addInstance: 4,
      removeInstance: 5,
      expireInstances: 6,
      kvTxn: 16,
    });
  });
});

describe('decodeCommand', () => {
  it('round-trips every command', () => {
    const cmds: Command[] = [
      { type: 'addService', Service: 'web', Config: { leader_type: 'manual' } },
      { type: 'removeService', Service: 'web' },
      { type: 'setServiceMeta', Service: 'pg', Meta: { data: [1, 'x', null], leader_id: 'L', index: 9 } },
      { type: 'setLeader', Service: 'pg', ID: 'abc' },
      {
        type: 'addInstance',
        Service: 'web',
        Instance: { ...instance, meta: { a: '1' }, index: 3 },
        ExpiryTime: 't',
      },
      { type: 'removeInstance', Service: 'web', ID: 'abc' },
      { type: 'expireInstances', Instances: [{ Service: 'a', InstanceID: 'b' }] },
      {
        type: 'kvTxn',
        Compare: [
          { Key: 'a', Op: '<', ModRevision: 1 },
          { Key: 'a', Op: '>', ModRevision: 1 },
          { Key: 'a', Op: 'present' },
        ],
        Success: [{ Op: 'put', Key: 'k', Value: '' }],
        Failure: [],
      },
    ];
    for (const cmd of cmds) expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
  });

  it('accepts Go-style entries: missing config, nil slices, zero meta index, extra fields', () => {
    expect(decodeCommand(entry(0, '{"Service":"x","Config":null}'))).toEqual({
      type: 'addService',
      Service: 'x',
      Config: { leader_type: 'oldest' },
    });
    expect(decodeCommand(entry(0, '{"Service":"x","Config":{"leader_type":""}}'))).toMatchObject({
      Config: { leader_type: 'oldest' },
    });
    expect(decodeCommand(entry(6, '{"Instances":null}'))).toEqual({ type: 'expireInstances', Instances: [] });
    expect(decodeCommand(entry(2, '{"Service":"x","Meta":{}}'))).toEqual({
      type: 'setServiceMeta',
      Service: 'x',
      Meta: { data: null, index: 0 },
    });
    expect(
      decodeCommand(entry(4, `{"Service":"x","Instance":${JSON.stringify(instance)},"Now":"t","Extra":1}`)),
    ).toEqual({ type: 'addInstance', Service: 'x', Instance: instance });
    expect(decodeCommand(entry(16, '{}'))).toEqual({ type: 'kvTxn', Compare: [], Success: [], Failure: [] });
  });

  it('throws a clear error on garbage', () => {
    const bad: [Uint8Array, RegExp][] = [
      [new Uint8Array(), /empty entry/],
      [entry(7, '{}'), /unknown command type 7/],
      [entry(255, '{}'), /unknown command type 255/],
      [entry(0, '{nope'), /addService: invalid JSON/],
      [new Uint8Array([0, 0xff, 0xfe]), /invalid JSON/],
      [entry(0, '[]'), /addService must be an object/],
      [entry(0, '"x"'), /addService must be an object/],
      [entry(0, '{}'), /addService.Service is missing/],
      [entry(1, '{"Service":5}'), /removeService.Service must be a string/],
      [
        entry(0, '{"Service":"x","Config":{"leader_type":"newest"}}'),
        /leader_type must be "oldest" or "manual"/,
      ],
      [entry(2, '{"Service":"x"}'), /setServiceMeta.Meta is missing/],
      [entry(2, '{"Service":"x","Meta":{"index":-1}}'), /Meta.index must be a non-negative integer/],
      [entry(2, '{"Service":"x","Meta":{"index":1.5}}'), /Meta.index must be a non-negative integer/],
      [entry(2, '{"Service":"x","Meta":{"leader_id":3}}'), /Meta.leader_id must be a string/],
      [entry(3, '{"Service":"x"}'), /setLeader.ID is missing/],
      [entry(4, '{"Service":"x","Instance":{"id":"a","addr":"b"}}'), /Instance.proto is missing/],
      [
        entry(4, '{"Service":"x","Instance":{"id":"a","addr":"b","proto":"c","meta":{"k":1}}}'),
        /meta\["k"\]/,
      ],
      [entry(4, '{"Service":"x","Instance":[]}'), /Instance must be an object/],
      [entry(6, '{"Instances":{}}'), /Instances must be an array/],
      [entry(6, '{"Instances":[{"Service":"x"}]}'), /Instances\[0\].InstanceID is missing/],
      [entry(16, '{"Compare":[{"Key":"a","Op":"~"}]}'), /Compare\[0\].Op must be one of/],
      [entry(16, '{"Compare":[{"Key":"a","Op":"="}]}'), /ModRevision is missing/],
      [entry(16, '{"Success":[{"Op":"get","Key":"a"}]}'), /Success\[0\].Op must be one of/],
      [entry(16, '{"Failure":[{"Op":"put","Key":"a"}]}'), /Failure\[0\].Value is missing/],
    ];
    for (const [data, re] of bad) {
      expect(() => decodeCommand(data)).toThrow(re);
      expect(() => decodeCommand(data)).toThrow(/^discoverd: cannot decode command: /);
    }
  });
});

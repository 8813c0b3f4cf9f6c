import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { ipv6Bytes, parseInstanceAddr } from '../src/address.js';
import { shuffle } from '../src/answer.js';
import { normalizeRecursor, parseQuestionName, parseRecursors } from '../src/index.js';
import { encodeResponse, type ResourceRecord } from '../src/wire.js';
import { type decode, seeded } from './helpers.js';

describe('parseQuestionName', () => {
  it('recognises the four forms, case-insensitively', () => {
    expect(parseQuestionName('Web.Discoverd')).toEqual({ kind: 'service', service: 'web' });
    expect(parseQuestionName('web.discoverd.')).toEqual({ kind: 'service', service: 'web' });
    expect(parseQuestionName('_PG._TCP.discoverd')).toEqual({ kind: 'service', service: 'pg', proto: 'tcp' });
    expect(parseQuestionName('LEADER.pg.discoverd')).toEqual({ kind: 'leader', service: 'pg' });
    expect(parseQuestionName('ABC.pg._i.discoverd')).toEqual({ kind: 'instance', service: 'pg', id: 'abc' });
  });

  it('sorts out the apex, other zone names and outside names', () => {
    expect(parseQuestionName('discoverd')).toEqual({ kind: 'apex' });
    expect(parseQuestionName('a.b.c.d.discoverd')).toEqual({ kind: 'invalid' });
    expect(parseQuestionName('_a.b.discoverd')).toEqual({ kind: 'invalid' });
    expect(parseQuestionName('x.y._j.discoverd')).toEqual({ kind: 'invalid' });
    expect(parseQuestionName('example.com')).toEqual({ kind: 'outside' });
    expect(parseQuestionName('notdiscoverd')).toEqual({ kind: 'outside' });
    expect(parseQuestionName('.')).toEqual({ kind: 'outside' });
    expect(parseQuestionName('web.test', 'test')).toEqual({ kind: 'service', service: 'web' });
  });
});

describe('recursors', () => {
  it('normalises as Flynn does: bare host :53, bare IPv6 [..]:53', () => {
    expect(parseRecursors('8.8.8.8, 8.8.4.4:5353,,  ,::1,[fd00::1]:54,[fd00::2],dns.example')).toEqual([
      '8.8.8.8:53',
      '8.8.4.4:5353',
      '[::1]:53',
      '[fd00::1]:54',
      '[fd00::2]:53',
      'dns.example:53',
    ]);
    expect(parseRecursors('')).toEqual([]);
  });

  it('rejects unusable entries', () => {
    for (const bad of ['1.2.3.4:99999', '1.2.3.4:x', ':53', '[::1', 'a:b:c', '1.2.3.4:0']) {
      expect(() => normalizeRecursor(bad), bad).toThrow(/invalid recursor/);
    }
  });
});

describe('instance addresses', () => {
  it('parses IPv4, bracketed IPv6 and IPv4-mapped addresses', () => {
    expect(parseInstanceAddr('10.0.0.1:80')).toEqual({ ip: '10.0.0.1', family: 4, port: 80 });
    expect(parseInstanceAddr('[fd00::1]:8080')).toEqual({ ip: 'fd00::1', family: 6, port: 8080 });
    expect(parseInstanceAddr('[::ffff:10.0.0.2]:1')).toEqual({ ip: '10.0.0.2', family: 4, port: 1 });
    expect(parseInstanceAddr('host.example:80')).toBeUndefined();
    expect(parseInstanceAddr('10.0.0.1')).toBeUndefined();
    expect(parseInstanceAddr('::1:80')).toBeUndefined();
  });

  it('encodes IPv6 addresses to 16 bytes', () => {
    const cases: Array<[string, string]> = [
      ['::1', '00000000000000000000000000000001'],
      ['::', '00000000000000000000000000000000'],
      ['fd00::abcd', 'fd00000000000000000000000000abcd'],
      ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
      ['1::', '00010000000000000000000000000000'],
      ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
      ['64:ff9b::192.0.2.1', '0064ff9b0000000000000000c0000201'],
      ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ];
    for (const [ip, hex] of cases) expect(ipv6Bytes(ip).toString('hex'), ip).toBe(hex);
  });
});

describe('shuffle', () => {
  it('is a permutation and depends on the random source', () => {
    const a = shuffle([1, 2, 3, 4, 5, 6, 7, 8], seeded(1));
    const b = shuffle([1, 2, 3, 4, 5, 6, 7, 8], seeded(2));
    expect([...a].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(a).not.toEqual(b);
    expect(shuffle([1, 2, 3], () => 0.999999999)).toEqual([1, 2, 3]);
  });
});

describe('encodeResponse', () => {
  const question = { name: 'Web.discoverd', type: 'SRV' as const, class: 'IN' as const };
  const records: ResourceRecord[] = [
    { name: 'Web.discoverd.', type: 'A', ttl: 0, ip: '10.0.0.1' },
    { name: 'Web.discoverd.', type: 'AAAA', ttl: 0, ip: 'fd00::1' },
    {
      name: 'Web.discoverd.',
      type: 'SRV',
      ttl: 0,
      priority: 1,
      weight: 1,
      port: 80,
      target: 'a1.web._i.discoverd.',
    },
  ];
  const soa: ResourceRecord = {
    name: 'discoverd.',
    type: 'SOA',
    ttl: 0,
    mname: 'ns.discoverd.',
    rname: 'postmaster.discoverd.',
    serial: 1_700_000_000,
    refresh: 3600,
    retry: 600,
    expire: 86400,
    minimum: 0,
  };
  const msg = {
    id: 77,
    opcode: 0,
    aa: true,
    tc: false,
    rd: true,
    ra: false,
    cd: false,
    rcode: 0,
    question,
    answers: records,
    authorities: [soa],
    additionals: [{ name: 'a1.web._i.discoverd.', type: 'A', ttl: 0, ip: '10.0.0.1' } as ResourceRecord],
  };

  it('round-trips through dns-packet and is smaller than the uncompressed encoding', () => {
    const buf = encodeResponse(msg);
    const d = dnsPacket.decode(buf) as ReturnType<typeof decode> & dnsPacket.DecodedPacket;
    expect(d.id).toBe(77);
    expect(d.flag_aa).toBe(true);
    expect(d.flag_rd).toBe(true);
    expect(d.flag_ra).toBe(false);
    expect(d.questions).toEqual([question]);
    expect(d.answers!.map((a) => [a.name, a.type, (a as { ttl?: number }).ttl, a.data])).toEqual([
      ['Web.discoverd', 'A', 0, '10.0.0.1'],
      ['Web.discoverd', 'AAAA', 0, 'fd00::1'],
      ['Web.discoverd', 'SRV', 0, { priority: 1, weight: 1, port: 80, target: 'a1.web._i.discoverd' }],
    ]);
    expect(d.authorities![0]).toMatchObject({
      name: 'discoverd',
      type: 'SOA',
      ttl: 0,
      data: {
        mname: 'ns.discoverd',
        rname: 'postmaster.discoverd',
        serial: 1_700_000_000,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: 0,
      },
    });
    expect(d.additionals![0]).toMatchObject({ name: 'a1.web._i.discoverd', type: 'A', data: '10.0.0.1' });

    const plain = dnsPacket.encode({
      type: 'response',
      id: 77,
      questions: [question],
      answers: d.answers,
      authorities: d.authorities,
      additionals: d.additionals,
    });
    expect(buf.length).toBeLessThan(plain.length - 40);
  });

  it('points owner names at the question', () => {
    const buf = encodeResponse({ ...msg, authorities: [], additionals: [], answers: records.slice(0, 1) });
    const qEnd = 12 + 'Web.discoverd'.length + 2 + 4;
    expect(buf.readUInt16BE(qEnd)).toBe(0xc000 | 12);
  });

  it('refuses names that are not valid DNS names', () => {
    const bad: ResourceRecord = { name: `${'x'.repeat(64)}.discoverd.`, type: 'A', ttl: 0, ip: '1.2.3.4' };
    expect(() => encodeResponse({ ...msg, answers: [bad] })).toThrow(/invalid DNS label/);
    const long: ResourceRecord = {
      name: `${'abcdefgh.'.repeat(30)}discoverd.`,
      type: 'A',
      ttl: 0,
      ip: '1.2.3.4',
    };
    expect(() => encodeResponse({ ...msg, answers: [long] })).toThrow(/too long/);
  });
});

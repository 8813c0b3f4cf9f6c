import { requireCommand } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsInstance, DnsServer } from '../src/index.js';
import { type DigRecord, type DigResult, dig, FIXED_NOW, id, MemoryData, startServer } from './helpers.js';

// Every row of spec §1.10 for names in the zone, checked with the real dig over UDP and TCP.

const digTool = requireCommand('dig', 'dnsutils');

const web: DnsInstance[] = [1, 2, 3, 4, 5].map((n) => ({
  id: id(n),
  addr: `10.0.0.${n}:${8000 + n}`,
  proto: 'tcp',
  index: n,
}));
const dup: DnsInstance[] = [
  { id: id('d1'), addr: '10.1.0.1:80', proto: 'tcp' },
  { id: id('d2'), addr: '10.1.0.1:81', proto: 'tcp' },
  { id: id('d3'), addr: '10.1.0.2:80', proto: 'tcp' },
];
const mixed: DnsInstance[] = [
  { id: id('m1'), addr: '10.2.0.1:53', proto: 'tcp' },
  { id: id('m2'), addr: '10.2.0.2:53', proto: 'udp' },
  { id: id('m3'), addr: '[fd00::1]:53', proto: 'tcp' },
  { id: id('m4'), addr: '[fd00::2]:53', proto: 'udp' },
];
const v6: DnsInstance[] = [
  { id: id('v1'), addr: '[::1]:9000', proto: 'tcp' },
  { id: id('v2'), addr: '[fd00::abcd]:9001', proto: 'tcp' },
];
const LONG = 's'.repeat(63);
const long: DnsInstance[] = [1, 2, 3, 4, 5].map((n) => ({
  id: id(`l${n}`),
  addr: `10.3.0.${n}:80`,
  proto: 'tcp',
}));

const SOA_DATA = `ns.discoverd. postmaster.discoverd. ${Math.floor(FIXED_NOW / 1000)} 3600 600 86400 0`;

function types(records: DigRecord[]): string[] {
  return records.map((r) => r.type);
}

function data(records: DigRecord[], type?: string): string[] {
  return records.filter((r) => !type || r.type === type).map((r) => r.data);
}

function expectSoaAuthority(res: DigResult): void {
  expect(res.authority).toEqual([{ name: 'discoverd.', ttl: 0, class: 'IN', type: 'SOA', data: SOA_DATA }]);
}

function expectEmpty(res: DigResult, status = 'NOERROR'): void {
  expect(res.status).toBe(status);
  expect(res.answer).toEqual([]);
  expect(res.additional).toEqual([]);
  expectSoaAuthority(res);
}

describe.skipIf(!digTool.available)('zone answers over dig', () => {
  let srv: DnsServer;
  let port: number;
  const store = new MemoryData()
    .set('web', web, web[1])
    .set('dup', dup)
    .set('mixed', mixed, mixed[2])
    .set('v6only', v6, v6[0])
    .set('empty', [])
    .set('noleader', web.slice(0, 1))
    .set(LONG, long, long[0]);

  beforeAll(async () => {
    srv = await startServer({ data: store });
    port = srv.address().udp.port;
    expect(srv.address().tcp.port).toBe(port);
  });
  afterAll(() => srv?.close());

  describe('<service>.discoverd.', () => {
    it('A over UDP: at most 3 records, TTL 0, AA set, RA clear, TC clear, no authority', async () => {
      const res = await dig(port, 'web.discoverd.', 'A');
      expect(res.status).toBe('NOERROR');
      expect(res.flags).toContain('aa');
      expect(res.flags).not.toContain('ra');
      expect(res.flags).not.toContain('tc');
      expect(res.answer).toHaveLength(3);
      for (const r of res.answer) {
        expect(r).toMatchObject({ name: 'web.discoverd.', ttl: 0, class: 'IN', type: 'A' });
        expect(web.map((i) => i.addr.split(':')[0])).toContain(r.data);
      }
      expect(new Set(data(res.answer)).size).toBe(3);
      expect(res.authority).toEqual([]);
    });

    it('A over TCP: every instance', async () => {
      const res = await dig(port, 'web.discoverd.', 'A', { tcp: true });
      expect(data(res.answer).sort()).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
      expect(res.additional).toEqual([]);
    });

    it('shuffles: repeated UDP lookups return different subsets covering every instance', async () => {
      const seen = new Set<string>();
      const orders = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const res = await dig(port, 'web.discoverd.', 'A');
        for (const ip of data(res.answer)) seen.add(ip);
        orders.add(data(res.answer).join(','));
      }
      expect(seen.size).toBe(5);
      expect(orders.size).toBeGreaterThan(1);
    });

    it('SRV over UDP: 3 records, priority 1 weight 1, instance port, _i target, no additional', async () => {
      const res = await dig(port, 'web.discoverd.', 'SRV');
      expect(res.status).toBe('NOERROR');
      expect(res.flags).not.toContain('tc');
      expect(res.answer).toHaveLength(3);
      for (const r of res.answer) {
        expect(r).toMatchObject({ name: 'web.discoverd.', ttl: 0, type: 'SRV' });
        const [prio, weight, p, target] = r.data.split(' ');
        const inst = web.find((i) => target === `${i.id}.web._i.discoverd.`);
        expect(inst).toBeDefined();
        expect([prio, weight, p]).toEqual(['1', '1', inst!.addr.split(':')[1]]);
      }
      expect(res.additional).toEqual([]);
    });

    it('SRV over TCP: every instance, and an address record per target in the additional section', async () => {
      const res = await dig(port, 'web.discoverd.', 'SRV', { tcp: true });
      expect(res.answer).toHaveLength(5);
      expect(res.additional).toHaveLength(5);
      for (const r of res.answer) {
        const target = r.data.split(' ')[3];
        const extra = res.additional.find((a) => a.name === target);
        const inst = web.find((i) => target.startsWith(i.id));
        expect(extra).toEqual({
          name: target,
          ttl: 0,
          class: 'IN',
          type: 'A',
          data: inst!.addr.split(':')[0],
        });
      }
    });

    it('ANY over UDP: 3 address records first, then 3 SRV records for the same instances', async () => {
      const res = await dig(port, 'web.discoverd.', 'ANY');
      expect(types(res.answer)).toEqual(['A', 'A', 'A', 'SRV', 'SRV', 'SRV']);
      const ips = data(res.answer, 'A');
      const srvIps = data(res.answer, 'SRV').map((d) =>
        web.find((i) => d.endsWith(`${i.id}.web._i.discoverd.`)),
      );
      expect(srvIps.map((i) => i!.addr.split(':')[0])).toEqual(ips);
      expect(res.additional).toEqual([]);
    });

    it('ANY over TCP: all of them, no additional section', async () => {
      const res = await dig(port, 'web.discoverd.', 'ANY', { tcp: true });
      expect(types(res.answer)).toEqual(['A', 'A', 'A', 'A', 'A', 'SRV', 'SRV', 'SRV', 'SRV', 'SRV']);
      expect(res.additional).toEqual([]);
    });

    it('de-duplicates address records by IP, but not SRV records', async () => {
      const a = await dig(port, 'dup.discoverd.', 'A', { tcp: true });
      expect(data(a.answer).sort()).toEqual(['10.1.0.1', '10.1.0.2']);
      const srv = await dig(port, 'dup.discoverd.', 'SRV', { tcp: true });
      expect(srv.answer).toHaveLength(3);
      expect(srv.additional).toHaveLength(3);
      const any = await dig(port, 'dup.discoverd.', 'ANY', { tcp: true });
      expect(types(any.answer)).toEqual(['A', 'A', 'SRV', 'SRV']);
    });

    it('filters by address family: A gets IPv4, AAAA gets IPv6, ANY gets both', async () => {
      const a = await dig(port, 'mixed.discoverd.', 'A', { tcp: true });
      expect(data(a.answer).sort()).toEqual(['10.2.0.1', '10.2.0.2']);
      const aaaa = await dig(port, 'mixed.discoverd.', 'AAAA', { tcp: true });
      expect(aaaa.answer.every((r) => r.type === 'AAAA' && r.ttl === 0)).toBe(true);
      expect(data(aaaa.answer).sort()).toEqual(['fd00::1', 'fd00::2']);
      const any = await dig(port, 'mixed.discoverd.', 'ANY', { tcp: true });
      expect(types(any.answer).slice(0, 4).sort()).toEqual(['A', 'A', 'AAAA', 'AAAA']);
      expect(types(any.answer).slice(4)).toEqual(['SRV', 'SRV', 'SRV', 'SRV']);
    });

    it('IPv6 instances: AAAA records and AAAA additionals for SRV over TCP; A is NOERROR empty', async () => {
      const aaaa = await dig(port, 'v6only.discoverd.', 'AAAA');
      expect(data(aaaa.answer).sort()).toEqual(['::1', 'fd00::abcd']);
      const srv = await dig(port, 'v6only.discoverd.', 'SRV', { tcp: true });
      expect(types(srv.additional)).toEqual(['AAAA', 'AAAA']);
      expect(
        data(srv.answer)
          .map((d) => d.split(' ')[2])
          .sort(),
      ).toEqual(['9000', '9001']);
      expectEmpty(await dig(port, 'v6only.discoverd.', 'A'));
    });

    it('other qtypes (TXT, MX) are NOERROR with an empty answer and the SOA in authority', async () => {
      expectEmpty(await dig(port, 'web.discoverd.', 'TXT'));
      expectEmpty(await dig(port, 'web.discoverd.', 'MX', { tcp: true }));
    });

    it('SOA query for a service answers the zone SOA', async () => {
      const res = await dig(port, 'web.discoverd.', 'SOA');
      expect(res.status).toBe('NOERROR');
      expect(res.answer).toEqual([{ name: 'discoverd.', ttl: 0, class: 'IN', type: 'SOA', data: SOA_DATA }]);
      expect(res.authority).toEqual([]);
    });

    it('unknown service and service without instances: NXDOMAIN with the SOA in authority', async () => {
      for (const name of ['nope.discoverd.', 'empty.discoverd.', '_empty._tcp.discoverd.']) {
        for (const type of ['A', 'SRV', 'ANY', 'SOA']) {
          const res = await dig(port, name, type);
          expectEmpty(res, 'NXDOMAIN');
          expect(res.flags).toContain('aa');
        }
      }
    });

    it('matches names case-insensitively and keeps the asked case in owner names', async () => {
      const res = await dig(port, 'WeB.DISCOVERD.', 'SRV', { tcp: true });
      expect(res.answer).toHaveLength(5);
      expect(res.answer.every((r) => r.name === 'WeB.DISCOVERD.')).toBe(true);
      expect(res.answer[0].data).toMatch(/^1 1 \d+ 0+\d\.web\._i\.discoverd\.$/);
    });

    it('long service names still fit in one UDP datagram (compressed)', async () => {
      const res = await dig(port, `${LONG}.discoverd.`, 'ANY');
      expect(res.flags).not.toContain('tc');
      expect(types(res.answer)).toEqual(['A', 'A', 'A', 'SRV', 'SRV', 'SRV']);
    });
  });

  describe('_<service>._<proto>.discoverd. (RFC 2782)', () => {
    it('filters instances by proto', async () => {
      const tcp = await dig(port, '_mixed._tcp.discoverd.', 'SRV', { tcp: true });
      expect(tcp.answer.map((r) => r.data.split(' ')[3]).sort()).toEqual([
        `${id('m1')}.mixed._i.discoverd.`,
        `${id('m3')}.mixed._i.discoverd.`,
      ]);
      expect(tcp.answer.every((r) => r.name === '_mixed._tcp.discoverd.')).toBe(true);
      const udp = await dig(port, '_mixed._udp.discoverd.', 'A');
      expect(data(udp.answer)).toEqual(['10.2.0.2']);
      const web3 = await dig(port, '_web._tcp.discoverd.', 'SRV');
      expect(web3.answer).toHaveLength(3);
    });

    it('a proto with no instances is NOERROR empty (the service exists)', async () => {
      expectEmpty(await dig(port, '_web._udp.discoverd.', 'SRV'));
    });
  });

  describe('leader.<service>.discoverd.', () => {
    const leaderIp = web[1].addr.split(':')[0];

    it('A: one record named as the question', async () => {
      const res = await dig(port, 'leader.web.discoverd.', 'A');
      expect(res.status).toBe('NOERROR');
      expect(res.flags).toContain('aa');
      expect(res.answer).toEqual([
        { name: 'leader.web.discoverd.', ttl: 0, class: 'IN', type: 'A', data: leaderIp },
      ]);
    });

    it('SRV over UDP: target is the question name itself, no additional', async () => {
      const res = await dig(port, 'Leader.Web.discoverd.', 'SRV');
      expect(res.answer).toEqual([
        {
          name: 'Leader.Web.discoverd.',
          ttl: 0,
          class: 'IN',
          type: 'SRV',
          data: '1 1 8002 Leader.Web.discoverd.',
        },
      ]);
      expect(res.additional).toEqual([]);
    });

    it('SRV over TCP adds the address record as extra', async () => {
      const res = await dig(port, 'leader.web.discoverd.', 'SRV', { tcp: true });
      expect(types(res.answer)).toEqual(['SRV']);
      expect(res.additional).toEqual([
        { name: 'leader.web.discoverd.', ttl: 0, class: 'IN', type: 'A', data: leaderIp },
      ]);
    });

    it('ANY: the address record then the SRV record; no extra even over TCP', async () => {
      const res = await dig(port, 'leader.web.discoverd.', 'ANY', { tcp: true });
      expect(types(res.answer)).toEqual(['A', 'SRV']);
      expect(res.additional).toEqual([]);
    });

    it('IPv6 leader: AAAA; A is NOERROR empty', async () => {
      const res = await dig(port, 'leader.v6only.discoverd.', 'AAAA');
      expect(res.answer).toEqual([
        { name: 'leader.v6only.discoverd.', ttl: 0, class: 'IN', type: 'AAAA', data: '::1' },
      ]);
      expectEmpty(await dig(port, 'leader.v6only.discoverd.', 'A'));
    });

    it('wrong family or other qtype: NOERROR empty; SOA query: SOA', async () => {
      expectEmpty(await dig(port, 'leader.web.discoverd.', 'AAAA'));
      expectEmpty(await dig(port, 'leader.web.discoverd.', 'TXT'));
      const soa = await dig(port, 'leader.web.discoverd.', 'SOA');
      expect(soa.answer).toEqual([{ name: 'discoverd.', ttl: 0, class: 'IN', type: 'SOA', data: SOA_DATA }]);
    });

    it('no leader or no service: NXDOMAIN', async () => {
      expectEmpty(await dig(port, 'leader.noleader.discoverd.', 'A'), 'NXDOMAIN');
      expectEmpty(await dig(port, 'leader.nope.discoverd.', 'SRV'), 'NXDOMAIN');
    });
  });

  describe('<id>.<service>._i.discoverd.', () => {
    const inst = web[3];
    const name = `${inst.id}.web._i.discoverd.`;

    it('A, SRV (target = question), ANY, and the extra address record for SRV over TCP', async () => {
      const a = await dig(port, name, 'A');
      expect(a.answer).toEqual([{ name, ttl: 0, class: 'IN', type: 'A', data: '10.0.0.4' }]);
      const srv = await dig(port, name, 'SRV');
      expect(srv.answer).toEqual([{ name, ttl: 0, class: 'IN', type: 'SRV', data: `1 1 8004 ${name}` }]);
      expect(srv.additional).toEqual([]);
      const srvTcp = await dig(port, name, 'SRV', { tcp: true });
      expect(srvTcp.additional).toEqual([{ name, ttl: 0, class: 'IN', type: 'A', data: '10.0.0.4' }]);
      const any = await dig(port, name, 'ANY');
      expect(types(any.answer)).toEqual(['A', 'SRV']);
    });

    it('resolves every SRV target of a service lookup (upper-case too)', async () => {
      const res = await dig(port, 'web.discoverd.', 'SRV', { tcp: true });
      for (const r of res.answer) {
        const target = r.data.split(' ')[3];
        const a = await dig(port, target.toUpperCase(), 'A');
        expect(a.answer).toHaveLength(1);
        expect(a.answer[0].data).toBe(res.additional.find((x) => x.name === target)!.data);
      }
    });

    it('IPv6 instance: AAAA', async () => {
      const n = `${v6[1].id}.v6only._i.discoverd.`;
      const res = await dig(port, n, 'AAAA');
      expect(data(res.answer)).toEqual(['fd00::abcd']);
      expectEmpty(await dig(port, n, 'A'));
    });

    it('unknown instance or service: NXDOMAIN; wrong qtype: NOERROR empty', async () => {
      expectEmpty(await dig(port, `${id(99)}.web._i.discoverd.`, 'A'), 'NXDOMAIN');
      expectEmpty(await dig(port, `${inst.id}.nope._i.discoverd.`, 'A'), 'NXDOMAIN');
      expectEmpty(await dig(port, `${inst.id}.empty._i.discoverd.`, 'SRV'), 'NXDOMAIN');
      expectEmpty(await dig(port, name, 'TXT'));
    });
  });

  describe('other names in the zone', () => {
    it('any other form is NXDOMAIN', async () => {
      for (const name of [
        'a.b.discoverd.',
        'x.web._i.extra.discoverd.',
        '_web.tcp.discoverd.',
        'a.web._x.discoverd.',
      ]) {
        expectEmpty(await dig(port, name, 'A'), 'NXDOMAIN');
      }
    });

    it('the zone apex answers its SOA (Flynn says NXDOMAIN here)', async () => {
      const soa = await dig(port, 'DISCOVERD.', 'SOA');
      expect(soa.status).toBe('NOERROR');
      expect(soa.answer).toEqual([{ name: 'discoverd.', ttl: 0, class: 'IN', type: 'SOA', data: SOA_DATA }]);
      expectEmpty(await dig(port, 'discoverd.', 'A'));
    });

    it('non-zone names without recursors: SERVFAIL, RA clear', async () => {
      const before = srv.stats().servfail;
      const res = await dig(port, 'example.com.', 'A');
      expect(res.status).toBe('SERVFAIL');
      expect(res.flags).not.toContain('ra');
      expect(res.flags).not.toContain('aa');
      expect(srv.stats().servfail).toBe(before + 1);
    });
  });

  it('counts queries and NXDOMAIN answers', async () => {
    const before = srv.stats();
    await dig(port, 'nope.discoverd.', 'A');
    await dig(port, 'web.discoverd.', 'A', { tcp: true });
    const after = srv.stats();
    expect(after.queries - before.queries).toBe(2);
    expect(after.nxdomain - before.nxdomain).toBe(1);
  });
});

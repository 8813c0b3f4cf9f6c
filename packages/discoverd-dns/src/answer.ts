import { type ParsedAddr, parseInstanceAddr } from './address.js';
import { fqdn, instanceName, type NameQuery } from './names.js';
import type { DnsDataSource, DnsInstance } from './types.js';
import { RCODE, type ResourceRecord } from './wire.js';

// Builds the answer for a name in the zone (spec §1.10). Pure apart from the data source calls,
// which may throw: the caller turns that into SERVFAIL.

/** Over UDP at most this many instances are returned, without setting TC (as Flynn does). */
export const MAX_UDP_RECORDS = 3;

export interface LookupContext {
  data: DnsDataSource;
  /** Zone without trailing dot, lower-case. */
  zone: string;
  tcp: boolean;
  random: () => number;
  /** SOA serial: Unix seconds. */
  serial: number;
}

export interface LookupResult {
  rcode: number;
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

export function soaRecord(zone: string, serial: number): ResourceRecord {
  return {
    name: fqdn(zone),
    type: 'SOA',
    ttl: 0,
    mname: `ns.${zone}.`,
    rname: `postmaster.${zone}.`,
    serial: serial >>> 0,
    refresh: 3600,
    retry: 600,
    expire: 86400,
    minimum: 0,
  };
}

function addrRecord(name: string, addr: ParsedAddr): ResourceRecord {
  return { name, type: addr.family === 4 ? 'A' : 'AAAA', ttl: 0, ip: addr.ip };
}

function srvRecord(name: string, port: number, target: string): ResourceRecord {
  return { name, type: 'SRV', ttl: 0, priority: 1, weight: 1, port, target };
}

/** Fisher–Yates, in place. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function familyMismatch(qtype: string, addr: ParsedAddr): boolean {
  return (qtype === 'A' && addr.family !== 4) || (qtype === 'AAAA' && addr.family !== 6);
}

/**
 * @param qname the question name as asked (its case is kept in the owner names)
 * @param qtype the question type as dns-packet names it ("A", "SRV", "UNKNOWN_65", ...)
 */
export async function lookup(
  qname: string,
  qtype: string,
  query: Exclude<NameQuery, { kind: 'outside' }>,
  ctx: LookupContext,
): Promise<LookupResult> {
  const owner = fqdn(qname);
  const soa = soaRecord(ctx.zone, ctx.serial);
  const finish = (
    rcode: number,
    answers: ResourceRecord[] = [],
    additionals: ResourceRecord[] = [],
  ): LookupResult => {
    if (rcode === RCODE.NOERROR && qtype === 'SOA') answers = [soa];
    return { rcode, answers, authorities: answers.length === 0 ? [soa] : [], additionals };
  };
  const nxdomain = () => finish(RCODE.NXDOMAIN);

  switch (query.kind) {
    case 'invalid':
      return nxdomain();
    case 'apex':
      // Flynn answers NXDOMAIN here (no labels left of the zone); the apex exists, so we say NOERROR.
      return finish(RCODE.NOERROR);
    case 'leader':
    case 'instance': {
      let inst: DnsInstance | undefined;
      if (query.kind === 'leader') {
        inst = await ctx.data.leader(query.service);
      } else {
        const all = await ctx.data.instances(query.service);
        inst = all?.find((i) => i.id.toLowerCase() === query.id);
      }
      if (!inst) return nxdomain();
      const addr = parseInstanceAddr(inst.addr);
      if (!addr) return finish(RCODE.NOERROR);
      if (!['A', 'AAAA', 'ANY', 'SRV'].includes(qtype) || familyMismatch(qtype, addr)) {
        return finish(RCODE.NOERROR);
      }
      const answers: ResourceRecord[] = [];
      if (qtype !== 'SRV') answers.push(addrRecord(owner, addr));
      if (qtype === 'SRV' || qtype === 'ANY') answers.push(srvRecord(owner, addr.port, owner));
      const extra = ctx.tcp && qtype === 'SRV' ? [addrRecord(owner, addr)] : [];
      return finish(RCODE.NOERROR, answers, extra);
    }
    case 'service': {
      const instances = await ctx.data.instances(query.service);
      if (!instances || instances.length === 0) return nxdomain();
      if (qtype === 'SOA') return finish(RCODE.NOERROR);
      const picked: Array<{ inst: DnsInstance; addr: ParsedAddr }> = [];
      const seen = new Set<string>();
      for (const inst of instances) {
        if (query.proto !== undefined && inst.proto !== query.proto) continue;
        const addr = parseInstanceAddr(inst.addr);
        if (!addr || seen.has(addr.ip) || familyMismatch(qtype, addr)) continue;
        if (qtype !== 'SRV') seen.add(addr.ip);
        picked.push({ inst, addr });
      }
      if (picked.length === 0) return finish(RCODE.NOERROR);
      shuffle(picked, ctx.random);
      if (!ctx.tcp && picked.length > MAX_UDP_RECORDS) picked.length = MAX_UDP_RECORDS;

      const answers: ResourceRecord[] = [];
      const additionals: ResourceRecord[] = [];
      if (qtype === 'A' || qtype === 'AAAA' || qtype === 'ANY') {
        for (const p of picked) answers.push(addrRecord(owner, p.addr));
      }
      if (qtype === 'SRV' || qtype === 'ANY') {
        for (const p of picked) {
          const target = instanceName(p.inst.id, query.service, ctx.zone);
          answers.push(srvRecord(owner, p.addr.port, target));
          if (ctx.tcp && qtype === 'SRV') additionals.push(addrRecord(target, p.addr));
        }
      }
      return finish(RCODE.NOERROR, answers, additionals);
    }
  }
}

import { BlockList, isIP } from 'node:net';

// Who is asking (spec §3 "Authentication", hardened): the addresses that need no key, and the
// client address of a request. Flynn took the last X-Forwarded-For entry from anyone, so a client
// could forge a private address; here the header counts only when the TCP peer is itself private,
// i.e. a router inside the cluster, whose appended entry (the last one) is the real client.

/** The ranges Flynn let in without a key, as [network, prefix length]. */
export const TRUSTED_RANGES: readonly (readonly [string, number])[] = [
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['127.0.0.0', 8],
  ['fd00::', 8],
  ['::1', 128],
  // TEST-NET and CGNAT space: Flynn's container networks used them.
  ['192.0.2.0', 24],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['100.64.0.0', 10],
];

const trusted = new BlockList();
for (const [net, prefix] of TRUSTED_RANGES) {
  trusted.addSubnet(net, prefix, isIP(net) === 4 ? 'ipv4' : 'ipv6');
}

const MAPPED_DOTTED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * An address as a canonical-enough string and family, or undefined when it is not an IP literal
 * (a zone id, a port or brackets make it "not an address", which never counts as private).
 * `::ffff:a.b.c.d` becomes the IPv4 address.
 */
export function parseIp(raw: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const s = raw.trim();
  const mapped = MAPPED_DOTTED.exec(s);
  if (mapped) return isIP(mapped[1]!) === 4 ? { address: mapped[1]!, family: 'ipv4' } : undefined;
  switch (isIP(s)) {
    case 4:
      return { address: s, family: 'ipv4' };
    case 6:
      return s.includes('%') ? undefined : { address: s.toLowerCase(), family: 'ipv6' };
    default:
      return undefined;
  }
}

/** True for the private, loopback, TEST-NET and CGNAT ranges (IPv4-mapped IPv6 included). */
export function isTrustedAddress(raw: string | undefined): boolean {
  if (!raw) return false;
  const ip = parseIp(raw);
  if (!ip) return false;
  // BlockList matches IPv4 subnets against IPv4-mapped IPv6 (hex form too) by itself.
  return trusted.check(ip.address, ip.family);
}

/** The last entry of X-Forwarded-For (the one the nearest proxy appended), trimmed. */
export function lastForwardedFor(header: string | readonly string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const joined = typeof header === 'string' ? header : header.join(',');
  const parts = joined.split(',');
  const last = parts[parts.length - 1]!.trim();
  return last === '' ? undefined : last;
}

export interface ClientAddress {
  /** The address judged: the TCP peer, or the last X-Forwarded-For entry behind a private peer. */
  address: string;
  /** Where it came from. */
  source: 'peer' | 'forwarded';
  trusted: boolean;
}

/**
 * The client of a request: a private TCP peer (a router) vouches for the last X-Forwarded-For
 * entry; anyone else is judged by the TCP peer alone, whatever header it sent.
 */
export function clientAddress(
  peer: string | undefined,
  xff: string | readonly string[] | undefined,
): ClientAddress {
  const peerAddr = peer ?? '';
  if (isTrustedAddress(peerAddr)) {
    const forwarded = lastForwardedFor(xff);
    if (forwarded !== undefined) {
      return { address: forwarded, source: 'forwarded', trusted: isTrustedAddress(forwarded) };
    }
    return { address: peerAddr, source: 'peer', trusted: true };
  }
  return { address: peerAddr, source: 'peer', trusted: false };
}

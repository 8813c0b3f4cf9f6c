import { isIPv4, isIPv6 } from 'node:net';

// Instance addresses are "ip:port" or "[ipv6]:port" (spec §1.3). DNS needs the IP, its family and
// the port; anything that is not an IP literal cannot become an A/AAAA record.

export interface ParsedAddr {
  /** The IP exactly as registered (used for de-duplication, as Flynn does). */
  ip: string;
  family: 4 | 6;
  port: number;
}

/** Splits "host:port" / "[v6]:port"; returns undefined when the port is missing or not a number. */
export function splitHostPort(addr: string): { host: string; port: number } | undefined {
  let host: string;
  let portText: string;
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    if (end < 0 || addr[end + 1] !== ':') return undefined;
    host = addr.slice(1, end);
    portText = addr.slice(end + 2);
  } else {
    const colon = addr.lastIndexOf(':');
    if (colon < 0) return undefined;
    host = addr.slice(0, colon);
    portText = addr.slice(colon + 1);
    if (host.includes(':')) return undefined; // bare IPv6 needs brackets
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535 || host === '') return undefined;
  return { host, port };
}

const V4_MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** Parses an instance address. IPv4-mapped IPv6 addresses count as IPv4, as in Go's To4(). */
export function parseInstanceAddr(addr: string): ParsedAddr | undefined {
  const hp = splitHostPort(addr);
  if (!hp) return undefined;
  const mapped = V4_MAPPED.exec(hp.host);
  if (mapped && isIPv4(mapped[1])) return { ip: mapped[1], family: 4, port: hp.port };
  if (isIPv4(hp.host)) return { ip: hp.host, family: 4, port: hp.port };
  if (isIPv6(hp.host)) return { ip: hp.host, family: 6, port: hp.port };
  return undefined;
}

/** The 4 octets of a dotted-quad IPv4 address (validated by the caller). */
export function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map((p) => Number(p)));
}

/** The 16 octets of an IPv6 address (validated by the caller), including an embedded IPv4 tail. */
export function ipv6Bytes(ip: string): Buffer {
  const zone = ip.indexOf('%');
  let text = zone >= 0 ? ip.slice(0, zone) : ip;
  const words: number[] = [];
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = ipv4Bytes(text.slice(lastColon + 1));
    tail = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
    text = `${text.slice(0, lastColon + 1)}0`; // placeholder word, removed below
  }
  const parseGroup = (g: string) => (g === '' ? [] : g.split(':').map((w) => Number.parseInt(w, 16)));
  const gap = text.indexOf('::');
  let head: number[];
  let rest: number[];
  if (gap >= 0) {
    head = parseGroup(text.slice(0, gap));
    rest = parseGroup(text.slice(gap + 2));
  } else {
    head = parseGroup(text);
    rest = [];
  }
  if (tail.length) {
    if (rest.length) rest.pop();
    else head.pop();
    rest.push(...tail);
  }
  const zeros = 8 - head.length - rest.length;
  words.push(...head, ...new Array<number>(gap >= 0 ? zeros : 0).fill(0), ...rest);
  const buf = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) buf.writeUInt16BE(words[i] ?? 0, i * 2);
  return buf;
}

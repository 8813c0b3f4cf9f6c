import dnsPacket from 'dns-packet';
import { ipv4Bytes, ipv6Bytes } from './address.js';

// Encodes our own responses. Queries are decoded with dns-packet, and the header and question
// are written by it too, but dns-packet 5 does not compress names when it encodes
// (mafintosh/dns-packet#55). Flynn's responses are compressed (spec §1.10), and without compression
// three SRV records with a long service name can overflow 512 bytes, so the records, which only
// ever have four types, are appended here with RFC 1035 §4.1.4 compression.

export type ResourceRecord =
  | { name: string; type: 'A' | 'AAAA'; ttl: number; ip: string }
  | { name: string; type: 'SRV'; ttl: number; priority: number; weight: number; port: number; target: string }
  | {
      name: string;
      type: 'SOA';
      ttl: number;
      mname: string;
      rname: string;
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    };

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;

export interface ResponseMessage {
  id: number;
  /** Copied from the query. */
  opcode: number;
  aa: boolean;
  tc: boolean;
  /** Copied from the query. */
  rd: boolean;
  ra: boolean;
  /** Copied from the query. */
  cd: boolean;
  rcode: number;
  /** The question as dns-packet decoded it; echoed back. */
  question?: dnsPacket.Question;
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

const TYPE_CODE = { A: 1, SOA: 6, AAAA: 28, SRV: 33 } as const;
const CLASS_IN = 1;
const MAX_NAME = 255;
const MAX_POINTER = 0x3fff;

export function headerFlags(m: Pick<ResponseMessage, 'opcode' | 'aa' | 'tc' | 'rd' | 'ra' | 'cd' | 'rcode'>) {
  return (
    ((m.opcode & 0xf) << 11) |
    (m.aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
    (m.tc ? dnsPacket.TRUNCATED_RESPONSE : 0) |
    (m.rd ? dnsPacket.RECURSION_DESIRED : 0) |
    (m.ra ? dnsPacket.RECURSION_AVAILABLE : 0) |
    (m.cd ? dnsPacket.CHECKING_DISABLED : 0) |
    (m.rcode & 0xf)
  );
}

function labelsOf(name: string): string[] {
  const n = name.replace(/\.$/, '');
  return n === '' ? [] : n.split('.');
}

class Writer {
  private buf = Buffer.alloc(512);
  length = 0;
  /** Exact-case name suffix -> offset of its first label, for compression pointers. */
  private readonly names = new Map<string, number>();

  private ensure(n: number): void {
    if (this.length + n > 0xffff) throw new Error('DNS message longer than 65535 bytes');
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.min(0xffff, Math.max(this.buf.length * 2, this.length + n)));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.length);
    this.length += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.length);
    this.length += 4;
  }

  patchU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v, at);
  }

  /** Records where the labels of a name already in the buffer start, without writing anything. */
  remember(name: string, at: number): void {
    const labels = labelsOf(name);
    let offset = at;
    for (let i = 0; i < labels.length && offset <= MAX_POINTER; i++) {
      const key = labels.slice(i).join('.');
      if (!this.names.has(key)) this.names.set(key, offset);
      offset += 1 + Buffer.byteLength(labels[i]);
    }
  }

  name(name: string, compress: boolean): void {
    const labels = labelsOf(name);
    let wire = 1;
    for (const label of labels) {
      const len = Buffer.byteLength(label);
      if (len === 0 || len > 63) throw new Error(`invalid DNS label in ${JSON.stringify(name)}`);
      wire += len + 1;
    }
    if (wire > MAX_NAME) throw new Error(`DNS name too long: ${JSON.stringify(name)}`);
    for (let i = 0; i < labels.length; i++) {
      const key = labels.slice(i).join('.');
      const known = this.names.get(key);
      if (compress && known !== undefined) {
        this.u16(0xc000 | known);
        return;
      }
      if (!this.names.has(key) && this.length <= MAX_POINTER) this.names.set(key, this.length);
      const bytes = Buffer.from(labels[i], 'utf8');
      this.ensure(1 + bytes.length);
      this.buf[this.length++] = bytes.length;
      this.bytes(bytes);
    }
    this.ensure(1);
    this.buf[this.length++] = 0;
  }

  record(rr: ResourceRecord): void {
    this.name(rr.name, true);
    this.u16(TYPE_CODE[rr.type]);
    this.u16(CLASS_IN);
    this.u32(rr.ttl);
    const lengthAt = this.length;
    this.u16(0);
    switch (rr.type) {
      case 'A':
        this.bytes(ipv4Bytes(rr.ip));
        break;
      case 'AAAA':
        this.bytes(ipv6Bytes(rr.ip));
        break;
      case 'SRV':
        this.u16(rr.priority);
        this.u16(rr.weight);
        this.u16(rr.port);
        // RFC 2782 / RFC 3597: no compression inside SRV RDATA (later names may point into it).
        this.name(rr.target, false);
        break;
      case 'SOA':
        this.name(rr.mname, true);
        this.name(rr.rname, true);
        this.u32(rr.serial);
        this.u32(rr.refresh);
        this.u32(rr.retry);
        this.u32(rr.expire);
        this.u32(rr.minimum);
        break;
    }
    this.patchU16(lengthAt, this.length - lengthAt - 2);
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

/** Encodes a response with compressed names. Throws on names that cannot be encoded. */
export function encodeResponse(m: ResponseMessage): Buffer {
  const head = dnsPacket.encode({
    type: 'response',
    id: m.id,
    flags: headerFlags(m),
    questions: m.question ? [m.question] : [],
  });
  const w = new Writer();
  w.bytes(head);
  if (m.question) w.remember(m.question.name, 12);
  for (const rr of m.answers) w.record(rr);
  for (const rr of m.authorities) w.record(rr);
  for (const rr of m.additionals) w.record(rr);
  w.patchU16(6, m.answers.length);
  w.patchU16(8, m.authorities.length);
  w.patchU16(10, m.additionals.length);
  return w.result();
}

/** A header-only reply (FORMERR, NOTIMP, or a TC=1 stand-in for an oversized UDP answer). */
export function encodeBare(m: Omit<ResponseMessage, 'answers' | 'authorities' | 'additionals'>): Buffer {
  return encodeResponse({ ...m, answers: [], authorities: [], additionals: [] });
}

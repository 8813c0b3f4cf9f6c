/**
 * A minimal ASN.1 DER encoder: just enough to build an X.509 v3 certificate.
 * Every function returns the complete TLV encoding as a Buffer.
 */

function encodeLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  let n = len;
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Tag-length-value with a raw one-byte tag. */
export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export function sequence(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

export function set(...items: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

export function boolean(value: boolean): Buffer {
  return tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
}

export function nullValue(): Buffer {
  return tlv(0x05, Buffer.alloc(0));
}

/** INTEGER from a non-negative bigint/number, or from unsigned big-endian bytes. */
export function integer(value: bigint | number | Buffer): Buffer {
  let bytes: Buffer;
  if (Buffer.isBuffer(value)) {
    bytes = value;
  } else {
    let n = BigInt(value);
    if (n < 0n) throw new RangeError('negative INTEGER not supported');
    const out: number[] = [];
    do {
      out.unshift(Number(n & 0xffn));
      n >>= 8n;
    } while (n > 0n);
    bytes = Buffer.from(out);
  }
  // Minimal encoding: strip redundant leading zeros, then keep the value positive.
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && (bytes[start + 1] & 0x80) === 0) start++;
  bytes = bytes.subarray(start);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map((p) => {
    if (!/^\d+$/.test(p)) throw new Error(`bad OID ${dotted}`);
    return BigInt(p);
  });
  if (parts.length < 2) throw new Error(`bad OID ${dotted}`);
  const arcs = [parts[0] * 40n + parts[1], ...parts.slice(2)];
  const out: number[] = [];
  for (const arc of arcs) {
    const chunk: number[] = [];
    let n = arc;
    do {
      chunk.unshift(Number(n & 0x7fn));
      n >>= 7n;
    } while (n > 0n);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] |= 0x80;
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

export function utf8String(s: string): Buffer {
  return tlv(0x0c, Buffer.from(s, 'utf8'));
}

export function ia5String(s: string): Buffer {
  return tlv(0x16, Buffer.from(s, 'ascii'));
}

/** BIT STRING with zero unused bits. */
export function bitString(bytes: Buffer): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));
}

export function octetString(bytes: Buffer): Buffer {
  return tlv(0x04, bytes);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export function utcTime(d: Date): Buffer {
  const s = `${pad(d.getUTCFullYear() % 100)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(
    d.getUTCHours(),
  )}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, 'ascii'));
}

export function generalizedTime(d: Date): Buffer {
  const s = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(
    d.getUTCHours(),
  )}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(0x18, Buffer.from(s, 'ascii'));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export function x509Time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  return y >= 1950 && y < 2050 ? utcTime(d) : generalizedTime(d);
}

/** Context-specific [n] EXPLICIT (constructed, wraps a complete encoding). */
export function explicit(n: number, content: Buffer): Buffer {
  return tlv(0xa0 | n, content);
}

/** Context-specific [n] IMPLICIT primitive (replaces the tag of a primitive value's contents). */
export function implicitPrimitive(n: number, contents: Buffer): Buffer {
  return tlv(0x80 | n, contents);
}

// ustar header blocks (POSIX.1-1988 + PAX `x` extended headers), as written by the archive
// writer and read back by the reader. Only what the two archive formats need.

export const BLOCK = 512;
/** The largest size the ustar `size` field holds (11 octal digits): 8 GiB - 1. */
export const MAX_USTAR_SIZE = 8 ** 11 - 1;

const NAME_MAX = 100;
const PREFIX_MAX = 155;

export interface HeaderFields {
  /** Full name; split into prefix + name by encodeHeader. */
  name: string;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** '0' regular file, 'x' PAX extended header. */
  typeflag: '0' | 'x';
  mode?: number;
}

/** Zero-padded octal followed by a NUL, filling the field (Go's formatOctal). */
function writeOctal(block: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new Error(`tar header: ${value} does not fit in ${len} bytes`);
  block.write(s, off, 'ascii');
  block[off + len - 1] = 0;
}

/**
 * Splits a name longer than 100 bytes at a `/` into ustar's prefix (≤ 155) and name (≤ 100),
 * the longest prefix first (as Go's archive/tar). undefined when no split fits.
 */
export function splitName(full: string): { prefix: string; name: string } | undefined {
  const bytes = Buffer.from(full);
  if (bytes.length <= NAME_MAX) return { prefix: '', name: full };
  const limit = Math.min(bytes.length - 1, PREFIX_MAX);
  for (let i = limit; i > 0; i--) {
    if (bytes[i] !== 0x2f) continue;
    const nameLen = bytes.length - i - 1;
    if (nameLen > NAME_MAX) return undefined;
    if (nameLen === 0) continue;
    return { prefix: bytes.subarray(0, i).toString(), name: bytes.subarray(i + 1).toString() };
  }
  return undefined;
}

/** Sum of the block's bytes with the checksum field counted as spaces. */
export function headerChecksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum;
}

/**
 * One 512-byte ustar header: mode 0600, uid/gid 0, empty user/group names, magic `ustar\0` +
 * version `00`. A size over MAX_USTAR_SIZE is written as 0 (its real value goes in a PAX header,
 * as Go does).
 */
export function encodeHeader(h: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  // An unsplittable name is cut here; the PAX header before it carries the whole `path`.
  const split = splitName(h.name) ?? { prefix: '', name: h.name };
  Buffer.from(split.name).copy(block, 0, 0, NAME_MAX);
  writeOctal(block, 100, 8, h.mode ?? 0o600);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, h.size > MAX_USTAR_SIZE ? 0 : h.size);
  writeOctal(block, 136, 12, h.mtime);
  block.write(h.typeflag, 156, 'ascii');
  block.write('ustar\u000000', 257, 'ascii');
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  Buffer.from(split.prefix).copy(block, 345, 0, PREFIX_MAX);
  writeOctal(block, 148, 7, headerChecksum(block));
  block[155] = 0x20;
  return block;
}

/** One PAX record `"<len> <key>=<value>\n"`, where len counts the whole record. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  // Adding the length's digits can add a digit to the length itself (98 → 100 → 101).
  if (String(len).length > String(bodyLen).length) len++;
  return `${len}${body}`;
}

/** Whether an entry needs a PAX header: a size ustar cannot hold or a name it cannot split. */
export function needsPax(name: string, size: number): boolean {
  return size > MAX_USTAR_SIZE || splitName(name) === undefined;
}

/**
 * The PAX `x` header (header block + records + padding) for an entry: `size=` first, then
 * `path=` when the name cannot be split.
 */
export function encodePaxHeader(name: string, size: number, mtime: number): Buffer {
  let records = '';
  if (size > MAX_USTAR_SIZE) records += paxRecord('size', String(size));
  if (splitName(name) === undefined) records += paxRecord('path', name);
  return encodePaxBlock(name, records, mtime);
}

/** A PAX `x` header holding `records` for the entry `name`, named `<dir>/PaxHeaders.0/<base>` as Go does. */
export function encodePaxBlock(name: string, records: string, mtime: number): Buffer {
  const data = Buffer.from(records);
  const slash = name.lastIndexOf('/');
  const paxName =
    slash < 0 ? `PaxHeaders.0/${name}` : `${name.slice(0, slash)}/PaxHeaders.0/${name.slice(slash + 1)}`;
  const header = encodeHeader({ name: paxName, size: data.length, mtime, typeflag: 'x' });
  return Buffer.concat([header, data, Buffer.alloc(padding(data.length))]);
}

/** Bytes of zero padding after `size` bytes of data. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

export interface ParsedHeader {
  name: string;
  size: number;
  typeflag: string;
  mode: number;
  uid: number;
  mtime: number;
  magic: string;
}

function parseString(block: Buffer, off: number, len: number): string {
  const field = block.subarray(off, off + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

/** Octal (NUL/space terminated) or GNU base-256 (high bit set); NaN when malformed. */
function parseNumber(block: Buffer, off: number, len: number): number {
  const field = block.subarray(off, off + len);
  if (field[0] & 0x80) {
    let v = field[0] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + field[i];
    return v;
  }
  const s = field
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (s === '') return 0;
  return /^[0-7]+$/.test(s) ? Number.parseInt(s, 8) : Number.NaN;
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Parses a header block; undefined when its checksum is wrong (not a tar header). */
export function parseHeader(block: Buffer): ParsedHeader | undefined {
  const stored = parseNumber(block, 148, 8);
  if (Number.isNaN(stored) || stored !== headerChecksum(block)) return undefined;
  const magic = block.subarray(257, 263).toString('latin1');
  const name = parseString(block, 0, 100);
  const prefix = magic.startsWith('ustar\0') ? parseString(block, 345, 155) : '';
  const size = parseNumber(block, 124, 12);
  if (Number.isNaN(size)) return undefined;
  return {
    name: prefix ? `${prefix}/${name}` : name,
    size,
    typeflag: String.fromCharCode(block[156] || 0x30),
    mode: parseNumber(block, 100, 8),
    uid: parseNumber(block, 108, 8),
    mtime: parseNumber(block, 136, 12),
    magic,
  };
}

/** PAX records as key → value; undefined when malformed. */
export function parsePaxRecords(data: Buffer): Map<string, string> | undefined {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) return undefined;
    const len = Number(data.subarray(pos, space).toString('latin1'));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length) return undefined;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    if (data[pos + len - 1] !== 0x0a) return undefined;
    const eq = record.indexOf('=');
    if (eq < 0) return undefined;
    out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

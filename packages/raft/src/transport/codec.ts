// Binary encoding of Raft messages. Layout (version 1):
//
//   u8 version | u8 type | u8 flags | str from | str to
//   sv term | sv index | sv logTerm | sv commit | sv rejectHint | sv context | sv offset
//   uv entryCount | entryCount × (sv term | sv index | u8 type | uv dataLen)
//   [flags.snapshot] uv jsonLen | json(SnapshotMeta)
//   [flags.data]     uv dataLen
//   blob: every entry's data, then the Snap data, back to back
//
// str = uv byteLength + UTF-8; uv = unsigned LEB128; sv = signed varint (sign in bit 6 of the first byte).
// Entry data sits in one trailing blob so the decoder can detach everything from the input with a single
// copy and hand out views, instead of one small allocation per entry.

import { type Entry, EntryType, type Message, MessageType, type SnapshotMeta } from '../core/types.js';

const VERSION = 1;
const FLAG_REJECT = 1;
const FLAG_DONE = 2;
const FLAG_SNAPSHOT = 4;
const FLAG_DATA = 8;
const KNOWN_FLAGS = FLAG_REJECT | FLAG_DONE | FLAG_SNAPSHOT | FLAG_DATA;

// Lookup tables (byte value -> known?) derived from the enums, so a new member in core/types.ts is accepted
// without touching the codec. Indexing a table is cheaper than Set.has per entry, and a non-integer or
// out-of-range value simply reads undefined.
function byteTable(e: object): Uint8Array {
  const t = new Uint8Array(256);
  for (const v of Object.values(e)) if (typeof v === 'number' && v >= 0 && v < 256) t[v] = 1;
  return t;
}
const MESSAGE_TYPES = byteTable(MessageType);
const ENTRY_TYPES = byteTable(EntryType);

/** Smallest possible encoded entry header: four one-byte fields. Bounds the entry count a buffer can claim. */
const MIN_ENTRY_HEADER = 4;

const TWO_POW_32 = 2 ** 32;
const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------------------------------------
// varints

function uvarintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function svarintSize(n: number): number {
  let m = n < 0 ? -n : n;
  if (m < 64) return 1;
  m = Math.floor(m / 64);
  return 1 + uvarintSize(m);
}

function writeUvarint(buf: Buffer, pos: number, n: number): number {
  // Bit operations are only exact below 2^31; larger values take the arithmetic path.
  while (n >= 128) {
    buf[pos++] = (n < TWO_POW_32 ? n & 127 : n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

function writeSvarint(buf: Buffer, pos: number, n: number): number {
  const neg = n < 0;
  let m = neg ? -n : n;
  const low = m % 64;
  m = Math.floor(m / 64);
  buf[pos++] = low | (neg ? 64 : 0) | (m > 0 ? 128 : 0);
  return m > 0 ? writeUvarint(buf, pos, m) : pos;
}

// Node ids are short ASCII in practice; handling those in JS skips two native calls per string, which is a
// measurable share of a small message. Anything else goes through Buffer's UTF-8 routines.
const SHORT_STRING = 64;

/** UTF-8 byte length of `s`, negated when `s` is short ASCII (so the writer can take the fast path). */
function measureString(s: string): number {
  if (s.length <= SHORT_STRING) {
    let i = 0;
    while (i < s.length && s.charCodeAt(i) < 128) i++;
    if (i === s.length) return -s.length;
  }
  return Buffer.byteLength(s);
}

function writeString(buf: Buffer, pos: number, s: string, measured: number): number {
  if (measured > 0) {
    pos = writeUvarint(buf, pos, measured);
    return pos + buf.write(s, pos, 'utf8');
  }
  buf[pos++] = -measured; // short: the length fits one varint byte
  for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i);
  return pos;
}

function stringSize(measured: number): number {
  const n = measured < 0 ? -measured : measured;
  return uvarintSize(n) + n;
}

function checkInt(n: unknown, field: string): number {
  if (!Number.isSafeInteger(n))
    throw new Error(`encodeMessage: ${field} is not a safe integer: ${String(n)}`);
  return n as number;
}

// ---------------------------------------------------------------------------------------------------------
// decoding cursor

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    readonly end: number,
  ) {
    this.pos = 0;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw malformed('truncated');
    return this.buf[this.pos++];
  }

  uvarint(): number {
    const buf = this.buf;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw malformed('truncated varint');
      const b = buf[this.pos++];
      result += (b & 127) * scale;
      if (b < 128) {
        if (b === 0 && i > 0) throw malformed('non-canonical varint');
        if (result > Number.MAX_SAFE_INTEGER) throw malformed('varint exceeds 2^53');
        return result;
      }
      scale *= 128;
    }
    throw malformed('varint too long');
  }

  svarint(): number {
    const first = this.u8();
    let m = first & 63;
    if (first & 128) {
      const rest = this.uvarint();
      if (rest === 0) throw malformed('non-canonical varint');
      m += rest * 64;
      if (m > Number.MAX_SAFE_INTEGER) throw malformed('varint exceeds 2^53');
    }
    if (first & 64) {
      if (m === 0) throw malformed('negative zero');
      return -m;
    }
    return m;
  }

  str(): string {
    const len = this.uvarint();
    if (len > this.remaining) throw malformed('string length beyond end');
    const buf = this.buf;
    const start = this.pos;
    const end = start + len;
    this.pos = end;
    if (len <= 16) {
      // Short ASCII (the usual node id) without a native call; falls back on the first non-ASCII byte.
      let s = '';
      for (let i = start; i < end; i++) {
        const c = buf[i];
        if (c >= 128) return buf.toString('utf8', start, end);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return buf.toString('utf8', start, end);
  }
}

function malformed(why: string): Error {
  return new Error(`decodeMessage: malformed message (${why})`);
}

function asBuffer(b: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

// ---------------------------------------------------------------------------------------------------------
// encode

/**
 * Encodes `msg` into a fresh buffer with `prefix` spare bytes in front (the framing layer writes its length
 * header there, saving a copy). Returns null without allocating when the result would exceed `maxBytes`, so a
 * full send queue costs no allocation. Throws on a message that cannot be represented.
 */
export function encodeMessageWithPrefix(msg: Message, prefix: number, maxBytes = Infinity): Buffer | null {
  if (MESSAGE_TYPES[msg.type] !== 1) {
    throw new Error(`encodeMessage: unknown message type ${String(msg.type)}`);
  }
  const from = msg.from;
  const to = msg.to;
  if (typeof from !== 'string' || typeof to !== 'string')
    throw new Error('encodeMessage: from/to must be strings');
  const fromLen = measureString(from);
  const toLen = measureString(to);
  const term = checkInt(msg.term, 'term');
  const index = checkInt(msg.index, 'index');
  const logTerm = checkInt(msg.logTerm, 'logTerm');
  const commit = checkInt(msg.commit, 'commit');
  const rejectHint = checkInt(msg.rejectHint, 'rejectHint');
  const context = checkInt(msg.context, 'context');
  const offset = checkInt(msg.offset, 'offset');
  const entries = msg.entries ?? [];
  if (!Array.isArray(entries)) throw new Error('encodeMessage: entries is not an array');

  let size =
    3 +
    stringSize(fromLen) +
    stringSize(toLen) +
    svarintSize(term) +
    svarintSize(index) +
    svarintSize(logTerm) +
    svarintSize(commit) +
    svarintSize(rejectHint) +
    svarintSize(context) +
    svarintSize(offset) +
    uvarintSize(entries.length);

  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    checkInt(e.term, 'entry.term');
    checkInt(e.index, 'entry.index');
    if (ENTRY_TYPES[e.type] !== 1) {
      throw new Error(`encodeMessage: unknown entry type ${String(e.type)}`);
    }
    if (!(e.data instanceof Uint8Array)) throw new Error('encodeMessage: entry.data is not a Uint8Array');
    const n = e.data.byteLength;
    size += svarintSize(e.term) + svarintSize(e.index) + 1 + uvarintSize(n) + n;
  }

  let flags = (msg.reject ? FLAG_REJECT : 0) | (msg.done ? FLAG_DONE : 0);
  let metaJson = '';
  let metaLen = 0;
  if (msg.snapshot !== undefined) {
    // Checked here too: a meta the receiver would reject must fail this one send, not the whole connection.
    if (!isSnapshotMeta(msg.snapshot)) throw new Error('encodeMessage: snapshot meta has the wrong shape');
    flags |= FLAG_SNAPSHOT;
    metaJson = JSON.stringify(msg.snapshot);
    metaLen = Buffer.byteLength(metaJson);
    size += uvarintSize(metaLen) + metaLen;
  }
  const data = msg.data;
  if (data !== undefined) {
    if (!(data instanceof Uint8Array)) throw new Error('encodeMessage: data is not a Uint8Array');
    flags |= FLAG_DATA;
    size += uvarintSize(data.byteLength) + data.byteLength;
  }

  if (prefix + size > maxBytes) return null;
  const buf = Buffer.allocUnsafe(prefix + size);
  let p = prefix;
  buf[p++] = VERSION;
  buf[p++] = msg.type;
  buf[p++] = flags;
  p = writeString(buf, p, from, fromLen);
  p = writeString(buf, p, to, toLen);
  p = writeSvarint(buf, p, term);
  p = writeSvarint(buf, p, index);
  p = writeSvarint(buf, p, logTerm);
  p = writeSvarint(buf, p, commit);
  p = writeSvarint(buf, p, rejectHint);
  p = writeSvarint(buf, p, context);
  p = writeSvarint(buf, p, offset);
  p = writeUvarint(buf, p, entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    p = writeSvarint(buf, p, e.term);
    p = writeSvarint(buf, p, e.index);
    buf[p++] = e.type;
    p = writeUvarint(buf, p, e.data.byteLength);
  }
  if (flags & FLAG_SNAPSHOT) {
    p = writeUvarint(buf, p, metaLen);
    p += buf.write(metaJson, p, 'utf8');
  }
  if (data !== undefined) p = writeUvarint(buf, p, data.byteLength);
  for (let i = 0; i < entries.length; i++) {
    const d = entries[i].data;
    buf.set(d, p);
    p += d.byteLength;
  }
  if (data !== undefined) {
    buf.set(data, p);
    p += data.byteLength;
  }
  if (p !== buf.length) throw new Error(`encodeMessage: internal size mismatch (${p} != ${buf.length})`);
  return buf;
}

export function encodeMessage(msg: Message): Buffer {
  return encodeMessageWithPrefix(msg, 0) as Buffer;
}

// ---------------------------------------------------------------------------------------------------------
// decode

function isSafeInt(v: unknown): v is number {
  return Number.isSafeInteger(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function isSnapshotMeta(meta: unknown): meta is SnapshotMeta {
  const m = meta as Partial<SnapshotMeta> | null;
  return (
    typeof m === 'object' &&
    m !== null &&
    isSafeInt(m.index) &&
    isSafeInt(m.term) &&
    typeof m.config === 'object' &&
    m.config !== null &&
    isStringArray(m.config.voters) &&
    isStringArray(m.config.learners)
  );
}

function parseSnapshotMeta(json: string): SnapshotMeta {
  let meta: unknown;
  try {
    meta = JSON.parse(json);
  } catch {
    throw malformed('snapshot meta is not JSON');
  }
  if (!isSnapshotMeta(meta)) throw malformed('snapshot meta has the wrong shape');
  return meta;
}

/**
 * Decodes one message. Entry and Snap data are copied out of `input` (one copy per message), so the caller may
 * reuse or drop the input. The data are views into a shared ArrayBuffer (small messages share a slab of Node's
 * buffer pool): use byteOffset/byteLength, never `.buffer` alone. Throws on any malformed input; every length
 * is checked against the bytes actually present before anything is allocated.
 */
export function decodeMessage(input: Buffer | Uint8Array): Message {
  if (!(input instanceof Uint8Array)) throw new Error('decodeMessage: input is not a Uint8Array');
  const buf = asBuffer(input);
  const r = new Reader(buf, buf.length);
  const version = r.u8();
  if (version !== VERSION) throw malformed(`unsupported version ${version}`);
  const type = r.u8();
  if (MESSAGE_TYPES[type] !== 1) throw malformed(`unknown message type ${type}`);
  const flags = r.u8();
  if (flags & ~KNOWN_FLAGS) throw malformed(`unknown flags ${flags}`);
  const from = r.str();
  const to = r.str();
  const term = r.svarint();
  const index = r.svarint();
  const logTerm = r.svarint();
  const commit = r.svarint();
  const rejectHint = r.svarint();
  const context = r.svarint();
  const offset = r.svarint();

  const count = r.uvarint();
  if (count * MIN_ENTRY_HEADER > r.remaining) throw malformed('entry count beyond end');
  const entries: Entry[] = new Array(count);
  const lens: number[] = new Array(count);
  let blobLen = 0;
  for (let i = 0; i < count; i++) {
    const eTerm = r.svarint();
    const eIndex = r.svarint();
    const eType = r.u8();
    if (ENTRY_TYPES[eType] !== 1) throw malformed(`unknown entry type ${eType}`);
    const len = r.uvarint();
    blobLen += len;
    // Checked per entry so a bogus length is caught before the sum can grow past the input size.
    if (blobLen > r.remaining) throw malformed('entry data beyond end');
    lens[i] = len;
    entries[i] = { term: eTerm, index: eIndex, type: eType as EntryType, data: EMPTY };
  }

  let snapshot: SnapshotMeta | undefined;
  if (flags & FLAG_SNAPSHOT) {
    snapshot = parseSnapshotMeta(r.str());
  }
  let dataLen = -1;
  if (flags & FLAG_DATA) {
    dataLen = r.uvarint();
    blobLen += dataLen;
  }
  if (blobLen !== r.remaining) {
    throw malformed(blobLen > r.remaining ? 'data beyond end' : 'trailing bytes');
  }

  // One copy detaches all payloads from the input (which may be a large socket chunk we must not retain).
  // allocUnsafe draws small blobs from Node's pool and skips zero-filling; every byte is overwritten. The
  // views are plain Uint8Arrays built on the ArrayBuffer directly, which is cheaper than subarray().
  let ab = EMPTY.buffer;
  let p = 0;
  if (blobLen > 0) {
    const blob = Buffer.allocUnsafe(blobLen);
    buf.copy(blob, 0, r.pos, r.end);
    ab = blob.buffer;
    p = blob.byteOffset;
  }
  for (let i = 0; i < count; i++) {
    const len = lens[i];
    entries[i].data = new Uint8Array(ab, p, len);
    p += len;
  }

  const msg: Message = {
    type,
    from,
    to,
    term,
    index,
    logTerm,
    commit,
    entries,
    reject: (flags & FLAG_REJECT) !== 0,
    rejectHint,
    context,
    offset,
    done: (flags & FLAG_DONE) !== 0,
  };
  if (snapshot !== undefined) msg.snapshot = snapshot;
  if (dataLen >= 0) msg.data = new Uint8Array(ab, p, dataLen);
  return msg;
}

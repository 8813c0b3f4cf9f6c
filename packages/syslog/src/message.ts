// RFC 5424 messages as Flynn writes them (spec §4.1): one fixed PRI (190 = local7.info), version 1,
// microsecond UTC timestamps and a `[flynn seq="N"]` structured-data element carrying the host cursor.

export type StreamId = 'ID1' | 'ID2' | 'ID3'; // stdout, stderr, init

export interface LogMessage {
  /** 'YYYY-MM-DDThh:mm:ss.ffffffZ' (microseconds, UTC), as written */
  timestamp: string;
  /** host id */
  hostname: string;
  /** app id */
  appName: string;
  /** '<process type>.<job id>' or '<job id>'; '-' when empty */
  procId: string;
  msgId: StreamId | string;
  /** [flynn seq="N"], uint32 */
  seq: number;
  /** the message bytes (any bytes, including invalid UTF-8 and NUL) */
  msg: Buffer;
}

export interface ParseError {
  error: string;
}

/** Flynn's PRI for every stream: facility 23 (local7) × 8 + severity 6 (info). */
export const PRIORITY = 190;
/** Lines longer than this many bytes are emitted as several messages (spec §4.1). */
export const MAX_LINE = 10_000;
export const MAX_SEQ = 0xffff_ffff;

const SP = 0x20;
const NIL = '-';

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Formats a time given in microseconds since the Unix epoch as 'YYYY-MM-DDThh:mm:ss.ffffffZ'. */
export function formatTimestamp(epochMicros: bigint | number): string {
  let micros: bigint;
  if (typeof epochMicros === 'bigint') micros = epochMicros;
  else {
    if (!Number.isFinite(epochMicros))
      throw new RangeError(`formatTimestamp: not a finite number: ${epochMicros}`);
    micros = BigInt(Math.floor(epochMicros));
  }
  let ms = micros / 1000n;
  let frac = micros % 1000n;
  if (frac < 0n) {
    frac += 1000n;
    ms -= 1n;
  }
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) throw new RangeError(`formatTimestamp: out of range: ${epochMicros}`);
  const year = d.getUTCFullYear();
  if (year < 0 || year > 9999) throw new RangeError(`formatTimestamp: year ${year} out of range`);
  return (
    `${pad(year, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T` +
    `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.` +
    `${pad(d.getUTCMilliseconds(), 3)}${pad(Number(frac), 3)}Z`
  );
}

/** Current time in microseconds since the epoch (monotonic-free wall clock, µs resolution). */
export function nowMicros(): bigint {
  // Date.now() has ms resolution; add the sub-ms part of the high-resolution clock for spread.
  const ms = BigInt(Date.now());
  const sub = BigInt(Math.floor((performance.now() % 1) * 1000));
  return ms * 1000n + sub;
}

/** Escapes an SD-PARAM value: `"`, `\` and `]` get a backslash (RFC 5424 §6.3.3). */
export function escapeSdValue(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

function field(v: string, name: string): string {
  if (v === '') return NIL;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f)
      throw new TypeError(`${name} must be printable US-ASCII without spaces: ${JSON.stringify(v)}`);
  }
  return v;
}

/** The RFC 5424 bytes: `<190>1 ts host app procid msgid [flynn seq="n"] msg` (no trailing space when msg is empty). */
export function encodeMessage(m: LogMessage): Buffer {
  if (!Number.isInteger(m.seq) || m.seq < 0 || m.seq > MAX_SEQ)
    throw new RangeError(`seq must be a uint32, got ${m.seq}`);
  const head =
    `<${PRIORITY}>1 ${field(m.timestamp, 'timestamp')} ${field(m.hostname, 'hostname')} ` +
    `${field(m.appName, 'appName')} ${field(m.procId, 'procId')} ${field(m.msgId, 'msgId')} ` +
    `[flynn seq="${escapeSdValue(String(m.seq))}"]`;
  if (m.msg.length === 0) return Buffer.from(head, 'latin1');
  const h = Buffer.from(`${head} `, 'latin1');
  return Buffer.concat([h, m.msg], h.length + m.msg.length);
}

/** RFC 6587 octet counting: `<len> ` + encoded, plus `\n` for the on-disk form. */
export function frameMessage(m: LogMessage, newline: boolean): Buffer {
  if (!Number.isInteger(m.seq) || m.seq < 0 || m.seq > MAX_SEQ)
    throw new RangeError(`seq must be a uint32, got ${m.seq}`);
  // Messages come in runs with the same header: its bytes are built once per run.
  const c = lastHead;
  if (
    c.head === undefined ||
    c.timestamp !== m.timestamp ||
    c.hostname !== m.hostname ||
    c.appName !== m.appName ||
    c.procId !== m.procId ||
    c.msgId !== m.msgId
  ) {
    const head = frameHead(m.timestamp, m.hostname, m.appName, m.procId, m.msgId);
    c.timestamp = m.timestamp;
    c.hostname = m.hostname;
    c.appName = m.appName;
    c.procId = m.procId;
    c.msgId = m.msgId;
    c.head = head;
  }
  return formatFrames(c.head, m.seq, m.msg, [0], [m.msg.length], newline);
}

const lastHead: {
  head: Buffer | undefined;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
} = { head: undefined, timestamp: '', hostname: '', appName: '', procId: '', msgId: '' };

// ---- batches: many messages sharing a header, framed into one buffer (the host's hot path) ----

/** Decimal digits of a non-negative integer below 10^10 (a uint32, a frame length). */
export function digitCount(n: number): number {
  if (n < 10) return 1;
  if (n < 100) return 2;
  if (n < 1000) return 3;
  if (n < 10000) return 4;
  if (n < 100000) return 5;
  if (n < 1000000) return 6;
  if (n < 10000000) return 7;
  if (n < 100000000) return 8;
  if (n < 1000000000) return 9;
  return 10;
}

/** Writes `n` (a uint32) as ASCII digits at `pos`; returns the position after them. */
function putUint(buf: Buffer, pos: number, n: number): number {
  const end = pos + digitCount(n);
  let p = end;
  let v = n;
  do {
    const q = (v / 10) >>> 0;
    buf[--p] = 0x30 + v - q * 10;
    v = q;
  } while (v > 0);
  return end;
}

/**
 * The part of a batch's frames before the seq digits: `<190>1 ts host app procid msgid [flynn seq="`
 * (fields validated as encodeMessage does, '' written as '-').
 */
export function frameHead(
  timestamp: string,
  hostname: string,
  appName: string,
  procId: string,
  msgId: string,
): Buffer {
  return Buffer.from(
    `<${PRIORITY}>1 ${field(timestamp, 'timestamp')} ${field(hostname, 'hostname')} ` +
      `${field(appName, 'appName')} ${field(procId, 'procId')} ${field(msgId, 'msgId')} [flynn seq="`,
    'latin1',
  );
}

/** Bytes of one frame made by formatFrames (head length, seq, message length). */
export function frameSize(headLen: number, seq: number, msgLen: number, newline: boolean): number {
  const body = headLen + digitCount(seq) + 2 + (msgLen > 0 ? msgLen + 1 : 0);
  return digitCount(body) + 1 + body + (newline ? 1 : 0);
}

/**
 * Frames `starts.length` messages that share `head` (from frameHead) into one buffer, byte for byte
 * what frameMessage makes for each: message i is `data[starts[i], ends[i])` with seq
 * `(seq0 + i) >>> 0`. With `newline` every frame ends in '\n' (the on-disk form).
 */
export function formatFrames(
  head: Buffer,
  seq0: number,
  data: Buffer,
  starts: ArrayLike<number>,
  ends: ArrayLike<number>,
  newline: boolean,
): Buffer {
  const n = starts.length;
  const hl = head.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += frameSize(hl, (seq0 + i) >>> 0, ends[i]! - starts[i]!, newline);
  const out = Buffer.allocUnsafe(total);
  let p = 0;
  for (let i = 0; i < n; i++) {
    const seq = (seq0 + i) >>> 0;
    const s = starts[i]!;
    const len = ends[i]! - s;
    const body = hl + digitCount(seq) + 2 + (len > 0 ? len + 1 : 0);
    p = putUint(out, p, body);
    out[p++] = SP;
    out.set(head, p);
    p += hl;
    p = putUint(out, p, seq);
    out[p++] = 0x22; // "
    out[p++] = 0x5d; // ]
    if (len > 0) {
      out[p++] = SP;
      p += data.copy(out, p, s, s + len);
    }
    if (newline) out[p++] = 0x0a;
  }
  return out;
}

/**
 * The wire form of on-disk frames: the same frames without the '\n' after each (`count` frames).
 * The input must be well-formed (as formatFrames or frameMessage made it).
 */
export function stripFrameNewlines(buf: Buffer, count: number): Buffer {
  const out = Buffer.allocUnsafe(buf.length - count);
  let p = 0;
  let q = 0;
  while (p < buf.length) {
    let n = 0;
    let i = p;
    for (let c = buf[i]!; c !== SP; c = buf[++i]!) n = n * 10 + (c - 0x30);
    const end = i + 1 + n;
    q += buf.copy(out, q, p, end);
    p = end + 1;
  }
  return q === out.length ? out : out.subarray(0, q);
}

export interface SdElement {
  id: string;
  params: Array<[string, string]>;
}

const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses structured data starting at `buf[start]` (either `-` or one or more `[id k="v"…]`).
 * Returns the elements and the offset just after them, or an error.
 */
export function parseStructuredData(
  buf: Buffer,
  start = 0,
): { elements: SdElement[]; end: number } | ParseError {
  if (start >= buf.length) return { error: 'missing structured data' };
  if (buf[start] === 0x2d /* - */) return { elements: [], end: start + 1 };
  const elements: SdElement[] = [];
  let i = start;
  while (i < buf.length && buf[i] === 0x5b /* [ */) {
    i++;
    let j = i;
    while (j < buf.length && buf[j] !== SP && buf[j] !== 0x5d && buf[j] !== 0x3d && buf[j] !== 0x22) j++;
    if (j === i) return { error: `empty SD-ID at byte ${i}` };
    const el: SdElement = { id: buf.toString('latin1', i, j), params: [] };
    i = j;
    for (;;) {
      if (i >= buf.length) return { error: 'unterminated structured data element' };
      if (buf[i] === 0x5d /* ] */) {
        i++;
        break;
      }
      if (buf[i] !== SP) return { error: `expected space or ']' in SD element at byte ${i}` };
      i++;
      j = i;
      while (j < buf.length && buf[j] !== 0x3d && buf[j] !== SP && buf[j] !== 0x5d && buf[j] !== 0x22) j++;
      if (j === i || buf[j] !== 0x3d) return { error: `bad SD-PARAM name at byte ${i}` };
      const name = buf.toString('latin1', i, j);
      i = j + 1;
      if (buf[i] !== 0x22) return { error: `expected '"' after ${name}= at byte ${i}` };
      i++;
      const bytes: number[] = [];
      let closed = false;
      while (i < buf.length) {
        const c = buf[i]!;
        if (c === 0x5c /* \ */ && i + 1 < buf.length) {
          const n = buf[i + 1]!;
          if (n === 0x22 || n === 0x5c || n === 0x5d) {
            bytes.push(n);
            i += 2;
            continue;
          }
          bytes.push(c);
          i++;
          continue;
        }
        if (c === 0x22) {
          closed = true;
          i++;
          break;
        }
        bytes.push(c);
        i++;
      }
      if (!closed) return { error: `unterminated SD-PARAM value for ${name}` };
      el.params.push([name, Buffer.from(bytes).toString('utf8')]);
    }
    elements.push(el);
  }
  if (elements.length === 0) return { error: `expected '-' or '[' for structured data at byte ${start}` };
  return { elements, end: i };
}

/** Fast path for the exact form Flynn writes; falls back to the general SD parser. */
function parseFlynnSd(buf: Buffer, start: number): { seq: number; end: number } | ParseError {
  // [flynn seq="123"]
  if (
    buf[start] === 0x5b &&
    buf[start + 1] === 0x66 &&
    buf[start + 6] === SP &&
    buf.toString('latin1', start, start + 12) === '[flynn seq="'
  ) {
    let i = start + 12;
    let n = 0;
    const d0 = i;
    while (i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39 && i - d0 < 11) {
      n = n * 10 + (buf[i]! - 0x30);
      i++;
    }
    if (i > d0 && buf[i] === 0x22 && buf[i + 1] === 0x5d) {
      if (n > MAX_SEQ) return { error: `seq ${n} is not a uint32` };
      return { seq: n, end: i + 2 };
    }
  }
  const sd = parseStructuredData(buf, start);
  if ('error' in sd) return sd;
  const flynn = sd.elements.find((e) => e.id === 'flynn');
  const seqParam = flynn?.params.find(([k]) => k === 'seq');
  if (!seqParam) return { error: 'missing [flynn seq="N"] structured data' };
  if (!/^\d{1,10}$/.test(seqParam[1]) || Number(seqParam[1]) > MAX_SEQ)
    return { error: `seq ${JSON.stringify(seqParam[1])} is not a uint32` };
  return { seq: Number(seqParam[1]), end: sd.end };
}

/**
 * Remembers the header fields of the last message parsed with it, so that a run of messages from
 * one process (the usual case) reuses their strings instead of decoding them again. It refers to
 * the last parsed buffer: buffers parsed with a cache must not be modified afterwards.
 */
export class HeaderCache {
  /** where the last header's five fields (timestamp … msgid, with the spaces between) are */
  src: Buffer | undefined;
  start = 0;
  end = 0;
  fields: string[] = [];
}

/**
 * Parses one RFC 5424 message (without the RFC 6587 length prefix). Header fields are returned as
 * written ('-' stays '-'); `msg` is a view into `buf`. Never throws.
 */
export function parseMessage(buf: Buffer, cache?: HeaderCache): LogMessage | ParseError {
  const len = buf.length;
  if (len === 0) return { error: 'empty message' };
  if (buf[0] !== 0x3c /* < */) return { error: "message must start with '<PRI>'" };
  let i = 1;
  let pri = 0;
  while (i < len && i <= 4 && buf[i]! >= 0x30 && buf[i]! <= 0x39) pri = pri * 10 + (buf[i++]! - 0x30);
  if (i === 1 || i > 4 || buf[i] !== 0x3e /* > */ || pri > 191) return { error: 'bad PRI' };
  i++;
  if (buf[i] !== 0x31 || buf[i + 1] !== SP) return { error: 'unsupported syslog version (want 1)' };
  i += 2;
  let tokens: string[] | undefined;
  let tsValid = true;
  const n = cache?.src ? cache.end - cache.start : -1;
  if (
    n > 0 &&
    len > i + n &&
    buf[i + n] === SP &&
    // the timestamp's last digit and the field ends first: most misses differ there
    (n < 26 || buf[i + 25] === cache!.src![cache!.start + 25]) &&
    buf[i + n - 1] === cache!.src![cache!.end - 1] &&
    buf.compare(cache!.src!, cache!.start, cache!.end, i, i + n) === 0
  ) {
    // the same five fields as the last message (already checked)
    tokens = cache!.fields;
    i += n + 1;
  } else {
    const from = i;
    tokens = ['', '', '', '', ''];
    for (let t = 0; t < 5; t++) {
      const sp = buf.indexOf(SP, i);
      if (sp < 0 || sp === i) return { error: `truncated header (field ${t + 1} of 5)` };
      if (sp - i > 255) return { error: `header field ${t + 1} too long` };
      tokens[t] = buf.toString('latin1', i, sp);
      i = sp + 1;
    }
    tsValid = tokens[0] === NIL || TS_RE.test(tokens[0]!);
    if (cache && tsValid) {
      // a reference, not a copy (a miss must stay cheap): keeps one buffer alive until the next miss
      cache.src = buf;
      cache.start = from;
      cache.end = i - 1;
      cache.fields = tokens;
    }
  }
  const [timestamp, hostname, appName, procId, msgId] = tokens as [string, string, string, string, string];
  if (!tsValid) return { error: `bad timestamp ${JSON.stringify(timestamp)}` };
  const sd = parseFlynnSd(buf, i);
  if ('error' in sd) return sd;
  i = sd.end;
  let msg: Buffer;
  if (i === len) msg = buf.subarray(len, len);
  else if (buf[i] === SP) msg = buf.subarray(i + 1);
  else return { error: `expected space after structured data at byte ${i}` };
  return { timestamp, hostname, appName, procId, msgId, seq: sd.seq, msg };
}

/** Job id from a PROCID (`type.jobid` or `jobid`); '' for the nil value. */
export function jobIdOf(procId: string): string {
  if (procId === NIL || procId === '') return '';
  const dot = procId.indexOf('.');
  return dot < 0 ? procId : procId.slice(dot + 1);
}

/** Process type from a PROCID, undefined when there is none. */
export function processTypeOf(procId: string): string | undefined {
  if (procId === NIL) return undefined;
  const dot = procId.indexOf('.');
  return dot < 0 ? undefined : procId.slice(0, dot);
}

/** Splits a line (without its '\n') into chunks of at most MAX_LINE bytes; an empty line stays one message. */
export function splitLine(line: Buffer): Buffer[] {
  if (line.length <= MAX_LINE) return [line];
  const out: Buffer[] = [];
  for (let i = 0; i < line.length; i += MAX_LINE)
    out.push(line.subarray(i, Math.min(i + MAX_LINE, line.length)));
  return out;
}

// Frame scanning over on-disk bytes (`<len> <rfc5424>\n`). Readers must cope with a torn tail (a crash
// mid-write) and with garbage in the middle (a torn tail that was later appended to), so scanning
// resynchronises on the next '\n' that is followed by a well-formed frame.

import { type Cursor, compareCursor, HeaderCache, type LogMessage, parseMessage } from '@flynn-edge/syslog';

export const MAX_FRAME = 11_000;
export const INCOMPLETE = -1;
export const INVALID = -2;

/**
 * Checks the frame starting at `pos`: returns the offset just past its trailing '\n', INCOMPLETE when
 * `limit` cuts it short, or INVALID.
 */
export function frameEndAt(buf: Buffer, pos: number, limit: number): number {
  let i = pos;
  let n = 0;
  while (i < limit && i - pos < 6) {
    const c = buf[i]!;
    if (c === 0x20) break;
    if (c < 0x30 || c > 0x39) return INVALID;
    n = n * 10 + (c - 0x30);
    i++;
  }
  if (i - pos > 5) return INVALID;
  if (i >= limit) return INCOMPLETE;
  if (i === pos || buf[pos] === 0x30 || n > MAX_FRAME) return INVALID;
  const body = i + 1;
  if (body < limit && buf[body] !== 0x3c /* < */) return INVALID;
  const nl = body + n;
  if (nl >= limit) return INCOMPLETE;
  if (buf[nl] !== 0x0a) return INVALID;
  return nl + 1;
}

/**
 * First plausible frame start at or after `from`. Trusted candidates follow a '\n'; with `embedded`,
 * a complete, well-terminated frame that starts right after garbage on the same line is accepted too
 * (a torn frame that a writer appended to without a newline). A '\n' candidate cut short by `limit`
 * is accepted unless `requireComplete`. Returns -1 when there is none in [from, limit).
 */
export function resync(
  buf: Buffer,
  from: number,
  limit: number,
  requireComplete = false,
  embedded = false,
): number {
  let p = from;
  while (p < limit) {
    let nl = buf.indexOf(0x0a, p);
    if (nl < 0 || nl >= limit) nl = limit;
    if (embedded) {
      for (let q = p; q < nl; q++) {
        const c = buf[q]!;
        if (c < 0x30 || c > 0x39) continue;
        if (frameEndAt(buf, q, limit) >= 0) return q;
      }
    }
    if (nl >= limit) return -1;
    const c = nl + 1;
    if (c >= limit) return -1;
    const e = frameEndAt(buf, c, limit);
    if (e >= 0 || (e === INCOMPLETE && !requireComplete)) return c;
    p = c + 1;
  }
  return -1;
}

export interface ScanResult {
  /** offset of the first byte not consumed (start of an incomplete frame, or limit) */
  next: number;
  /** bytes skipped as garbage */
  corrupt: number;
}

/**
 * Calls `onFrame(bodyStart, bodyEnd, frameStart)` for every complete frame in [pos, limit) (the
 * frame's '\n' is at bodyEnd). With `atEof` an
 * incomplete frame is a torn tail: complete frames after it are still salvaged.
 */
export function scanFrames(
  buf: Buffer,
  pos: number,
  limit: number,
  onFrame: (bodyStart: number, bodyEnd: number, frameStart: number) => void,
  atEof = false,
): ScanResult {
  let corrupt = 0;
  while (pos < limit) {
    const e = frameEndAt(buf, pos, limit);
    if (e === INCOMPLETE && !atEof) break;
    if (e < 0) {
      const s = resync(buf, pos + 1, limit, atEof, true);
      if (s < 0) {
        if (atEof) {
          corrupt += limit - pos;
          pos = limit;
          break;
        }
        // keep what could still be the start of a frame completed by the next read
        const lastNl = buf.lastIndexOf(0x0a, limit - 1);
        const keep = Math.max(pos, lastNl >= pos ? lastNl + 1 : 0, limit - (MAX_FRAME + 8));
        corrupt += keep - pos;
        pos = keep;
        break;
      }
      corrupt += s - pos;
      pos = s;
      continue;
    }
    const bodyStart = buf.indexOf(0x20, pos) + 1;
    onFrame(bodyStart, e - 1, pos);
    pos = e;
  }
  return { next: pos, corrupt };
}

export interface LogFilter {
  /** keep messages whose PROCID's job id (after the first '.') equals this */
  jobId?: string;
  /** keep messages whose MSGID is one of these (ID1 stdout, ID2 stderr, ID3 init) */
  streams?: string[];
  /** keep messages of this process type ('' = jobs without a type) */
  processType?: string;
}

/** Compiled filter that looks at raw frame bytes before anything is parsed. */
export class RawFilter {
  private readonly job?: Buffer;
  private readonly streams?: Buffer[];
  private readonly type?: Buffer;
  readonly matchesAll: boolean;

  constructor(f: LogFilter = {}) {
    if (f.jobId !== undefined) this.job = Buffer.from(f.jobId, 'latin1');
    if (f.streams) this.streams = f.streams.map((s) => Buffer.from(s, 'latin1'));
    if (f.processType !== undefined) this.type = Buffer.from(f.processType, 'latin1');
    this.matchesAll = !this.job && !this.streams && !this.type;
  }

  /** `body` spans [s, e): an RFC 5424 message. */
  matchRaw(buf: Buffer, s: number, e: number): boolean {
    if (this.matchesAll) return true;
    // <190>1 ts host app procid msgid ...
    let p = s;
    for (let k = 0; k < 4; k++) {
      p = buf.indexOf(0x20, p);
      if (p < 0 || p >= e) return false;
      p++;
    }
    const procEnd = buf.indexOf(0x20, p);
    if (procEnd < 0 || procEnd >= e) return false;
    const msgStart = procEnd + 1;
    const msgEnd = buf.indexOf(0x20, msgStart);
    if (msgEnd < 0 || msgEnd >= e) return false;
    if (this.streams) {
      let ok = false;
      for (const st of this.streams) {
        if (st.length === msgEnd - msgStart && buf.compare(st, 0, st.length, msgStart, msgEnd) === 0) {
          ok = true;
          break;
        }
      }
      if (!ok) return false;
    }
    if (this.job || this.type) {
      let dot = buf.indexOf(0x2e, p);
      if (dot >= procEnd) dot = -1;
      const nil = procEnd - p === 1 && buf[p] === 0x2d;
      if (this.job) {
        const js = dot < 0 ? p : dot + 1;
        const jobLen = nil ? 0 : procEnd - js;
        if (jobLen !== this.job.length) return false;
        if (jobLen > 0 && buf.compare(this.job, 0, jobLen, js, procEnd) !== 0) return false;
      }
      if (this.type) {
        const typeLen = dot < 0 ? 0 : dot - p;
        if (typeLen !== this.type.length) return false;
        if (typeLen > 0 && buf.compare(this.type, 0, typeLen, p, dot) !== 0) return false;
      }
    }
    return true;
  }
}

// Reads parse long runs of frames with the same header fields: decode each field once per run.
const headers = new HeaderCache();

/** Parses a frame body, copying the message bytes so the read buffer can be released. */
export function parseBody(buf: Buffer, s: number, e: number): LogMessage | undefined {
  const m = parseMessage(buf.subarray(s, e), headers);
  if ('error' in m) return undefined;
  m.msg = Buffer.from(m.msg);
  return m;
}

export function cursorOf(m: LogMessage): Cursor {
  return { time: m.timestamp, seq: m.seq };
}

export function keyOf(m: LogMessage): string {
  return `${m.timestamp}|${m.seq}`;
}

export function after(m: LogMessage, c: Cursor | undefined): boolean {
  return c === undefined || compareCursor({ time: m.timestamp, seq: m.seq }, c) > 0;
}

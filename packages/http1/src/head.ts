import { COLON, CR, eqLower, FIELD_VALUE, HOST, HTAB, LF, SP, TARGET, TOKEN } from './chars.js';
import { intern, latin1 } from './intern.js';

export interface HeadLimits {
  /** Longest request line (or status line), excluding its CRLF. Default 8192. */
  maxStartLine: number;
  /**
   * Largest header block: every field line with its CRLF plus the final empty line's CRLF,
   * i.e. everything after the start line's CRLF. Default 65536.
   */
  maxHeaderBytes: number;
  /** Most header fields. Default 100. */
  maxHeaders: number;
}

export const DEFAULT_LIMITS: Readonly<HeadLimits> = Object.freeze({
  maxStartLine: 8192,
  maxHeaderBytes: 65536,
  maxHeaders: 100,
});

export type Header = [name: string, value: string];

export interface RequestHead {
  method: string;
  target: string;
  versionMinor: 0 | 1;
  /** Every field line in order, names with their original case, values with OWS trimmed. */
  headers: Header[];
  contentLength: number | null;
  chunked: boolean;
  keepAlive: boolean;
  /** The Upgrade header's value when Connection lists `upgrade`, else null. */
  upgrade: string | null;
  host: string | null;
  expectContinue: boolean;
}

export interface ResponseHead {
  versionMinor: 0 | 1;
  status: number;
  reason: string;
  headers: Header[];
  contentLength: number | null;
  chunked: boolean;
  keepAlive: boolean;
  upgrade: string | null;
}

export type RequestErrorStatus = 400 | 414 | 431 | 501 | 505;

export type RequestParseResult =
  | { done: false }
  | { done: true; head: RequestHead; consumed: number }
  | { error: { status: RequestErrorStatus; reason: string } };

export type ResponseParseResult =
  | { done: false }
  | { done: true; head: ResponseHead; consumed: number }
  | { error: { status: 502; reason: string } };

/**
 * Remembers how far the search for the end of the head has got, so that calling the parser again
 * after appending bytes costs only the new bytes. Positions are relative to the `offset` passed
 * to the parser; keep using the same offset until the head is done or failed. The parser resets
 * the state when it returns done or an error, so one state serves a whole connection.
 */
export interface HeadScanState {
  searched: number;
  lineEnd: number;
  skipped: number;
}

export function createScanState(): HeadScanState {
  return { searched: 0, lineEnd: -1, skipped: -1 };
}

function reset(s: HeadScanState): void {
  s.searched = 0;
  s.lineEnd = -1;
  s.skipped = -1;
}

const NEED_MORE = Object.freeze({ done: false as const });

const NEED = -1;
const BARE_LF = -2;
const LINE_TOO_LONG = -3;
const HEAD_TOO_LARGE = -4;

/** Index just past the head's final CRLF, or one of the negative codes above. */
function findHeadEnd(buf: Buffer, start: number, st: HeadScanState, limits: HeadLimits): number {
  const end = buf.length;
  let i = start + st.searched;
  for (;;) {
    const lf = i < end ? buf.indexOf(LF, i) : -1;
    if (lf === -1) {
      st.searched = end - start;
      if (st.lineEnd < 0) {
        if (end - start > limits.maxStartLine + 1) return LINE_TOO_LONG;
      } else if (end - (start + st.lineEnd + 1) > limits.maxHeaderBytes) {
        return HEAD_TOO_LARGE;
      }
      return NEED;
    }
    if (lf === start || buf[lf - 1] !== CR) return BARE_LF;
    if (st.lineEnd < 0) {
      if (lf - 1 - start > limits.maxStartLine) return LINE_TOO_LONG;
      st.lineEnd = lf - start;
    } else if (buf[lf - 2] === LF) {
      if (lf + 1 - (start + st.lineEnd + 1) > limits.maxHeaderBytes) return HEAD_TOO_LARGE;
      return lf + 1;
    }
    i = lf + 1;
  }
}

/** Collected facts about the header fields; filled by parseFields. */
interface Fields {
  headers: Header[];
  contentLength: number | null;
  te: number; // 0 none, 1 chunked (valid), 2 unknown coding (501), 3 malformed
  connClose: boolean;
  connKeepAlive: boolean;
  connUpgrade: boolean;
  upgrade: string | null;
  host: string | null;
  hostCount: number;
  expectContinue: boolean;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function isOws(c: number): boolean {
  return c === SP || c === HTAB;
}

/** Parses a Content-Length value (a comma list of equal decimal numbers). -1 when invalid. */
function parseContentLength(buf: Buffer, s: number, e: number): number {
  let result = -1;
  let i = s;
  while (i <= e) {
    while (i < e && isOws(buf[i])) i++;
    let n = 0;
    let digits = 0;
    while (i < e) {
      const d = buf[i] - 48;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
      if (n > MAX_SAFE) return -1;
      digits++;
      i++;
    }
    if (digits === 0) return -1;
    while (i < e && isOws(buf[i])) i++;
    if (result !== -1 && result !== n) return -1;
    result = n;
    if (i === e) return result;
    if (buf[i] !== 0x2c) return -1;
    i++;
  }
  return -1;
}

/** Splits a comma list in buf[s, e) into trimmed elements, calling fn(start, end) for each. */
function eachElement(buf: Buffer, s: number, e: number, fn: (a: number, b: number) => boolean): boolean {
  let i = s;
  while (i <= e) {
    let j = i;
    while (j < e && buf[j] !== 0x2c) j++;
    let a = i;
    let b = j;
    while (a < b && isOws(buf[a])) a++;
    while (b > a && isOws(buf[b - 1])) b--;
    if (!fn(a, b)) return false;
    i = j + 1;
  }
  return true;
}

function isToken(buf: Buffer, a: number, b: number): boolean {
  if (a === b) return false;
  for (let k = a; k < b; k++) if (TOKEN[buf[k]] === 0) return false;
  return true;
}

/**
 * Parses field lines in buf[p, headEnd - 2) (every LF there is known to follow a CR).
 * Returns null on success or [status, reason].
 */
function parseFields(
  buf: Buffer,
  p: number,
  headEnd: number,
  limits: HeadLimits,
  f: Fields,
): [number, string] | null {
  const stop = headEnd - 2;
  let count = 0;
  while (p < stop) {
    const c0 = buf[p];
    if (c0 === SP || c0 === HTAB) return [400, 'obsolete line folding'];
    let q = p;
    while (TOKEN[buf[q]] === 1) q++;
    if (buf[q] !== COLON) {
      if (q === p && c0 === CR) return [400, 'bare CR'];
      if (isOws(buf[q])) return [400, 'whitespace before colon'];
      return [400, 'invalid header name'];
    }
    if (q === p) return [400, 'empty header name'];
    let v = q + 1;
    while (isOws(buf[v])) v++;
    let r = v;
    while (FIELD_VALUE[buf[r]] === 1) r++;
    if (buf[r] !== CR || buf[r + 1] !== LF) {
      return buf[r] === CR ? [400, 'bare CR'] : [400, 'invalid character in header value'];
    }
    let ve = r;
    while (ve > v && isOws(buf[ve - 1])) ve--;
    if (++count > limits.maxHeaders) return [431, 'too many header fields'];
    const name = intern(buf, p, q);
    const value = intern(buf, v, ve);
    f.headers.push([name, value]);
    switch (q - p) {
      case 4:
        if (eqLower(buf, p, q, 'host')) {
          if (++f.hostCount > 1) return [400, 'multiple Host headers'];
          for (let k = v; k < ve; k++) if (HOST[buf[k]] === 0) return [400, 'invalid Host'];
          f.host = value;
        }
        break;
      case 6:
        if (eqLower(buf, p, q, 'expect') && eqLower(buf, v, ve, '100-continue')) f.expectContinue = true;
        break;
      case 7:
        if (eqLower(buf, p, q, 'upgrade')) f.upgrade = f.upgrade === null ? value : `${f.upgrade}, ${value}`;
        break;
      case 10:
        if (eqLower(buf, p, q, 'connection')) {
          const ok = eachElement(buf, v, ve, (a, b) => {
            if (a === b) return true;
            if (!isToken(buf, a, b)) return false;
            if (eqLower(buf, a, b, 'close')) f.connClose = true;
            else if (eqLower(buf, a, b, 'keep-alive')) f.connKeepAlive = true;
            else if (eqLower(buf, a, b, 'upgrade')) f.connUpgrade = true;
            return true;
          });
          if (!ok) return [400, 'invalid Connection'];
        }
        break;
      case 14:
        if (eqLower(buf, p, q, 'content-length')) {
          const n = parseContentLength(buf, v, ve);
          if (n < 0) return [400, 'invalid Content-Length'];
          if (f.contentLength !== null && f.contentLength !== n) return [400, 'conflicting Content-Length'];
          f.contentLength = n;
        }
        break;
      case 17:
        if (eqLower(buf, p, q, 'transfer-encoding')) {
          eachElement(buf, v, ve, (a, b) => {
            if (f.te === 1 || f.te === 3) {
              f.te = 3; // anything after chunked, including a second chunked
            } else if (eqLower(buf, a, b, 'chunked')) {
              f.te = f.te === 2 ? 2 : 1;
            } else if (isToken(buf, a, b)) {
              f.te = 2;
            } else {
              f.te = 3;
            }
            return true;
          });
          if (f.te === 0) f.te = 3;
        }
        break;
    }
    p = r + 2;
  }
  return null;
}

function newFields(): Fields {
  return {
    headers: [],
    contentLength: null,
    te: 0,
    connClose: false,
    connKeepAlive: false,
    connUpgrade: false,
    upgrade: null,
    host: null,
    hostCount: 0,
    expectContinue: false,
  };
}

function methodString(buf: Buffer, s: number, e: number): string {
  const n = e - s;
  if (n === 3 && buf[s] === 0x47 && buf[s + 1] === 0x45 && buf[s + 2] === 0x54) return 'GET';
  if (n === 4 && buf[s] === 0x50 && buf[s + 1] === 0x4f && buf[s + 2] === 0x53 && buf[s + 3] === 0x54)
    return 'POST';
  if (n === 4 && buf[s] === 0x48 && buf[s + 1] === 0x45 && buf[s + 2] === 0x41 && buf[s + 3] === 0x44)
    return 'HEAD';
  return latin1(buf, s, e);
}

/** Checks "HTTP/d.d" at buf[s, s+8). Returns major*10+minor, or -1. */
function parseVersion(buf: Buffer, s: number): number {
  if (
    buf[s] !== 0x48 ||
    buf[s + 1] !== 0x54 ||
    buf[s + 2] !== 0x54 ||
    buf[s + 3] !== 0x50 ||
    buf[s + 4] !== 0x2f ||
    buf[s + 6] !== 0x2e
  )
    return -1;
  const major = buf[s + 5] - 48;
  const minor = buf[s + 7] - 48;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return -1;
  return major * 10 + minor;
}

function reqError(st: HeadScanState, status: RequestErrorStatus, reason: string): RequestParseResult {
  reset(st);
  return { error: { status, reason } };
}

/**
 * Parses one request head starting at `offset`. Returns `{ done: false }` when more bytes are
 * needed (append them and call again with the same offset and state), the head and the number of
 * bytes it took (including up to two ignored leading empty lines), or an error whose status the
 * caller answers with before closing the connection.
 */
export function parseRequestHead(
  buf: Buffer,
  offset: number,
  limits: HeadLimits = DEFAULT_LIMITS,
  state: HeadScanState = createScanState(),
): RequestParseResult {
  // RFC 9112 §2.2: ignore at least one empty line before the request line; we allow two.
  let start = offset;
  if (state.skipped < 0) {
    const len = buf.length;
    let skipped = 0;
    while (start < len && buf[start] === CR) {
      if (start + 1 >= len) return NEED_MORE;
      if (buf[start + 1] !== LF) return reqError(state, 400, 'bare CR');
      if (++skipped > 2) return reqError(state, 400, 'too many empty lines before request line');
      start += 2;
    }
    if (start >= len) return NEED_MORE;
    state.skipped = start - offset;
  } else {
    start += state.skipped;
  }

  const headEnd = findHeadEnd(buf, start, state, limits);
  if (headEnd < 0) {
    switch (headEnd) {
      case NEED:
        return NEED_MORE;
      case BARE_LF:
        return reqError(state, 400, 'bare LF');
      case LINE_TOO_LONG:
        return reqError(state, 414, 'request line too long');
      default:
        return reqError(state, 431, 'header block too large');
    }
  }
  const lineCr = start + state.lineEnd - 1;

  // Request line: method SP target SP HTTP/d.d
  let i = start;
  while (TOKEN[buf[i]] === 1) i++;
  if (i === start || buf[i] !== SP) return reqError(state, 400, 'invalid method');
  const methodEnd = i;
  const ts = ++i;
  while (TARGET[buf[i]] === 1) i++;
  if (i === ts || buf[i] !== SP) return reqError(state, 400, 'invalid request target');
  const te = i++;
  if (lineCr - i !== 8) return reqError(state, 400, 'invalid HTTP version');
  const version = parseVersion(buf, i);
  if (version < 0) return reqError(state, 400, 'invalid HTTP version');
  if (version !== 10 && version !== 11) return reqError(state, 505, 'HTTP version not supported');

  const f = newFields();
  const err = parseFields(buf, lineCr + 2, headEnd, limits, f);
  if (err !== null) return reqError(state, err[0] as RequestErrorStatus, err[1]);

  const minor = version === 11 ? 1 : 0;
  let chunked = false;
  if (f.te !== 0) {
    if (f.contentLength !== null) return reqError(state, 400, 'both Content-Length and Transfer-Encoding');
    if (minor === 0) return reqError(state, 400, 'Transfer-Encoding in HTTP/1.0');
    if (f.te === 3) return reqError(state, 400, 'malformed Transfer-Encoding');
    if (f.te === 2) return reqError(state, 501, 'unsupported transfer coding');
    chunked = true;
  }
  if (minor === 1 && f.hostCount === 0) return reqError(state, 400, 'missing Host');

  const head: RequestHead = {
    method: methodString(buf, start, methodEnd),
    target: latin1(buf, ts, te),
    versionMinor: minor,
    headers: f.headers,
    contentLength: f.contentLength,
    chunked,
    keepAlive: !f.connClose && (minor === 1 || f.connKeepAlive),
    upgrade: f.connUpgrade ? f.upgrade : null,
    host: f.host,
    expectContinue: f.expectContinue,
  };
  reset(state);
  return { done: true, head, consumed: headEnd - offset };
}

function resError(st: HeadScanState, reason: string): ResponseParseResult {
  reset(st);
  return { error: { status: 502, reason } };
}

/**
 * Parses one response head (status line and fields) at `offset`, with the same incremental
 * contract as parseRequestHead. Errors carry 502: the backend misbehaved.
 */
export function parseResponseHead(
  buf: Buffer,
  offset: number,
  limits: HeadLimits = DEFAULT_LIMITS,
  state: HeadScanState = createScanState(),
): ResponseParseResult {
  state.skipped = 0;
  const headEnd = findHeadEnd(buf, offset, state, limits);
  if (headEnd < 0) {
    switch (headEnd) {
      case NEED:
        return NEED_MORE;
      case BARE_LF:
        return resError(state, 'bare LF');
      case LINE_TOO_LONG:
        return resError(state, 'status line too long');
      default:
        return resError(state, 'header block too large');
    }
  }
  const lineCr = offset + state.lineEnd - 1;
  // HTTP/d.d SP 3DIGIT [SP reason]
  if (lineCr - offset < 12) return resError(state, 'invalid status line');
  const version = parseVersion(buf, offset);
  if (version !== 10 && version !== 11) return resError(state, 'invalid HTTP version');
  if (buf[offset + 8] !== SP) return resError(state, 'invalid status line');
  let status = 0;
  for (let k = offset + 9; k < offset + 12; k++) {
    const d = buf[k] - 48;
    if (d < 0 || d > 9) return resError(state, 'invalid status code');
    status = status * 10 + d;
  }
  if (status < 100) return resError(state, 'invalid status code');
  let reason = '';
  if (lineCr > offset + 12) {
    if (buf[offset + 12] !== SP) return resError(state, 'invalid status line');
    for (let k = offset + 13; k < lineCr; k++) {
      if (FIELD_VALUE[buf[k]] === 0) return resError(state, 'invalid reason phrase');
    }
    reason = latin1(buf, offset + 13, lineCr);
  }
  const f = newFields();
  const err = parseFields(buf, lineCr + 2, headEnd, limits, f);
  if (err !== null) return resError(state, err[1]);
  const minor = version === 11 ? 1 : 0;
  let chunked = false;
  if (f.te !== 0) {
    if (f.contentLength !== null) return resError(state, 'both Content-Length and Transfer-Encoding');
    if (f.te !== 1) return resError(state, 'unsupported Transfer-Encoding');
    chunked = true;
  }
  const head: ResponseHead = {
    versionMinor: minor,
    status,
    reason,
    headers: f.headers,
    contentLength: f.contentLength,
    chunked,
    keepAlive: !f.connClose && (minor === 1 || f.connKeepAlive),
    upgrade: f.connUpgrade ? f.upgrade : null,
  };
  reset(state);
  return { done: true, head, consumed: headEnd - offset };
}

import { FIELD_VALUE, HOST, strEqLower, TOKEN } from './chars.js';
import type { Header, RequestHead, ResponseHead } from './head.js';

export interface HeadEdits {
  /** Fields to set: every existing field of that name is replaced by this one (placed where the first was). */
  set?: Header[];
  /** Fields to append to: existing lines of that name are folded into one and `, value` appended. */
  append?: Header[];
  /** Field names to drop (case-insensitive). */
  remove?: string[];
  /** Replaces the request target. */
  target?: string;
  /**
   * Forward an upgrade: keep the Upgrade header and send `Connection: Upgrade`. Only honoured when
   * the head itself asks for an upgrade (`head.upgrade !== null`, or a 101 response).
   */
  upgrade?: boolean;
}

/** Names never forwarded as they are (lowercase). Framing is re-emitted from the parsed head. */
const EMPTY: Header[] = [];
const EMPTY_NAMES: string[] = [];

function isHopByHop(name: string): boolean {
  switch (name.length) {
    case 2:
      return strEqLower(name, 'te');
    case 7:
      return strEqLower(name, 'trailer') || strEqLower(name, 'upgrade');
    case 10:
      return strEqLower(name, 'connection') || strEqLower(name, 'keep-alive');
    case 14:
      return strEqLower(name, 'content-length');
    case 16:
      return strEqLower(name, 'proxy-connection');
    case 17:
      return strEqLower(name, 'transfer-encoding');
    default:
      return false;
  }
}

/** Names that Connection may not remove: dropping them would change framing or routing. */
function isProtected(lower: string): boolean {
  return lower === 'host' || lower === 'content-length' || lower === 'transfer-encoding';
}

function indexOfName(list: readonly string[], name: string): number {
  for (let i = 0; i < list.length; i++) if (strEqLower(name, list[i])) return i;
  return -1;
}

function checkName(name: string): void {
  if (name.length === 0) throw new TypeError('empty header name');
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0xff || TOKEN[c] === 0) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
  }
}

function checkValue(value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] === 0)
      throw new TypeError(`invalid header value ${JSON.stringify(value)}`);
  }
}

function checkedLowerName([name, value]: Header): string {
  checkName(name);
  checkValue(value);
  return name.toLowerCase();
}

/** Lowercased tokens listed by the Connection headers (the extra hop-by-hop names). */
function connectionTokens(headers: Header[]): string[] {
  let out = EMPTY_NAMES;
  for (const [name, value] of headers) {
    if (name.length !== 10 || !strEqLower(name, 'connection')) continue;
    if (strEqLower(value, 'keep-alive') || strEqLower(value, 'close')) continue;
    for (const part of value.split(',')) {
      const t = part.trim().toLowerCase();
      if (t.length > 0 && !isProtected(t)) {
        if (out === EMPTY_NAMES) out = [];
        out.push(t);
      }
    }
  }
  return out;
}

/**
 * Writes the field lines of `headers` after `startLine`, dropping hop-by-hop fields (Connection,
 * the fields it names, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade unless upgrading) and
 * re-emitting the framing header (`framing`, e.g. `Content-Length: 5`) where the first original
 * framing header was. The rest keep their order and case. Returns the whole head as one Buffer.
 */
function rewrite(
  startLine: string,
  headers: Header[],
  framing: string | null,
  upgrading: boolean,
  edits: HeadEdits,
): Buffer {
  const drop = connectionTokens(headers);
  const set = edits.set ?? EMPTY;
  const append = edits.append ?? EMPTY;
  const remove = edits.remove ?? EMPTY_NAMES;
  if (set.length > 30 || append.length > 30) throw new RangeError('at most 30 set and 30 append edits');
  const setNames = set.length === 0 ? EMPTY_NAMES : set.map(checkedLowerName);
  const appendNames = append.length === 0 ? EMPTY_NAMES : append.map(checkedLowerName);
  // First pass: fold existing lines of each append name with the appended value.
  let appendVal: string[] = EMPTY_NAMES;
  if (append.length > 0) {
    appendVal = new Array<string>(append.length);
    for (let k = 0; k < append.length; k++) {
      let v = '';
      for (const [name, value] of headers) {
        if (value !== '' && strEqLower(name, appendNames[k])) v = v === '' ? value : `${v}, ${value}`;
      }
      appendVal[k] = v === '' ? append[k][1] : `${v}, ${append[k][1]}`;
    }
  }
  let setDone = 0; // bitmask of emitted set/append entries (edits lists are short)
  let appendDone = 0;
  let out = `${startLine}\r\n`;
  let framingDone = framing === null;
  let upgradeDone = !upgrading;
  for (const [name, value] of headers) {
    if (isHopByHop(name)) {
      if (!framingDone && (strEqLower(name, 'content-length') || strEqLower(name, 'transfer-encoding'))) {
        out += `${framing}\r\n`;
        framingDone = true;
      } else if (upgrading && strEqLower(name, 'upgrade')) {
        out += `${name}: ${value}\r\n`;
      } else if (!upgradeDone && strEqLower(name, 'connection')) {
        out += 'Connection: Upgrade\r\n';
        upgradeDone = true;
      }
      continue;
    }
    if (drop.length > 0 && indexOfName(drop, name) >= 0) continue;
    if (remove.length > 0 && indexOfName(remove, name) >= 0) continue;
    if (set.length > 0) {
      const k = indexOfName(setNames, name);
      if (k >= 0) {
        if ((setDone & (1 << k)) === 0) {
          out += `${set[k][0]}: ${set[k][1]}\r\n`;
          setDone |= 1 << k;
        }
        continue;
      }
    }
    if (append.length > 0) {
      const k = indexOfName(appendNames, name);
      if (k >= 0) {
        if ((appendDone & (1 << k)) === 0) {
          out += `${name}: ${appendVal[k]}\r\n`;
          appendDone |= 1 << k;
        }
        continue;
      }
    }
    out += `${name}: ${value}\r\n`;
  }
  if (!framingDone) out += `${framing}\r\n`;
  if (!upgradeDone) out += 'Connection: Upgrade\r\n';
  for (let k = 0; k < set.length; k++)
    if ((setDone & (1 << k)) === 0) out += `${set[k][0]}: ${set[k][1]}\r\n`;
  for (let k = 0; k < append.length; k++) {
    if ((appendDone & (1 << k)) === 0) out += `${append[k][0]}: ${appendVal[k]}\r\n`;
  }
  return Buffer.from(`${out}\r\n`, 'latin1');
}

/** The authority of an absolute-form target if it is a valid Host value, else ''. */
function authorityOf(target: string): string {
  const m = /^https?:\/\/([^/?#]*)/i.exec(target);
  if (m === null) return '';
  const a = m[1];
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (c > 0xff || HOST[c] === 0) return '';
  }
  return a;
}

/**
 * The outgoing request head: `METHOD target HTTP/1.1` (always 1.1 towards the backend, so the
 * backend connection stays keep-alive), hop-by-hop fields dropped, framing kept as a single
 * `Transfer-Encoding: chunked` or `Content-Length: n`, then `edits` applied.
 */
export function rewriteRequestHead(head: RequestHead, edits: HeadEdits = {}): Buffer {
  const target = edits.target ?? head.target;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c > 0xff) throw new TypeError('invalid request target');
  }
  const framing = head.chunked
    ? 'Transfer-Encoding: chunked'
    : head.contentLength !== null
      ? `Content-Length: ${head.contentLength}`
      : null;
  const upgrading = edits.upgrade === true && head.upgrade !== null;
  let e = edits;
  if (head.host === null && !(edits.set ?? []).some(([n]) => strEqLower(n, 'host'))) {
    // HTTP/1.0 without Host goes out as HTTP/1.1, which requires one (RFC 9112 §3.2).
    e = { ...edits, set: [...(edits.set ?? []), ['Host', authorityOf(target)]] };
  }
  return rewrite(`${head.method} ${target} HTTP/1.1`, head.headers, framing, upgrading, e);
}

/**
 * The response head to send to the client: `HTTP/1.1 status reason`, the same hop-by-hop
 * stripping (Upgrade kept for a 101 when `edits.upgrade`), framing kept. Connection management
 * towards the client is the caller's: add `Connection: close` via `edits.set` when closing.
 */
export function rewriteResponseHead(head: ResponseHead, edits: HeadEdits = {}): Buffer {
  const framing = head.chunked
    ? 'Transfer-Encoding: chunked'
    : head.contentLength !== null
      ? `Content-Length: ${head.contentLength}`
      : null;
  const upgrading = edits.upgrade === true && head.status === 101 && head.upgrade !== null;
  const reason = head.reason === '' ? '' : ` ${head.reason}`;
  return rewrite(`HTTP/1.1 ${head.status}${reason}`, head.headers, framing, upgrading, edits);
}

/** Serialises a start line and fields as given (names and values validated) into one Buffer. */
export function serializeHead(startLine: string, headers: Header[]): Buffer {
  if (/[\r\n]/.test(startLine)) throw new TypeError('invalid start line');
  let s = `${startLine}\r\n`;
  for (const [name, value] of headers) {
    checkName(name);
    checkValue(value);
    s += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${s}\r\n`, 'latin1');
}

/**
 * Flynn's X-Request-Id rule (spec §2.6): keep the client's value only if it is 20–200 characters
 * of `[a-zA-Z0-9+/=-]`; otherwise the caller replaces it with a random UUID v4.
 */
export function isValidRequestId(value: string): boolean {
  const n = value.length;
  if (n < 20 || n > 200) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x39) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      c === 0x2b ||
      c === 0x2f ||
      c === 0x3d ||
      c === 0x2d;
    if (!ok) return false;
  }
  return true;
}

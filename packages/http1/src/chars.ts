/** Byte classification tables shared by the parsers. */

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;
export const COLON = 58;

/** RFC 9110 tchar: "!#$%&'*+-.^_`|~" / DIGIT / ALPHA. */
export const TOKEN = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TOKEN[ch.charCodeAt(0)] = 1;

/** Field-value bytes: HTAB, SP, VCHAR, obs-text. Excludes every other CTL and DEL. */
export const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[HTAB] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE[c] = 1;

/** request-target bytes: visible ASCII and obs-text; no CTL, SP or DEL. */
export const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;
for (let c = 0x80; c <= 0xff; c++) TARGET[c] = 1;

/** Host header bytes: reg-name / IP-literal / port characters (RFC 3986), incl. pct-encoding. */
export const HOST = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) HOST[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) HOST[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) HOST[c] = 1;
for (const ch of "-._~!$&'()*+;=:[]%") HOST[ch.charCodeAt(0)] = 1;

/** Hex digit value, or 255 when not a hex digit. */
export const HEX = new Uint8Array(256).fill(255);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

/**
 * Case-insensitive comparison of buf[start, start + lower.length) with an all-lowercase ASCII
 * name made of letters and '-'. Callers guarantee the bytes are token characters, so `| 0x20`
 * can only map uppercase letters onto lowercase ones.
 */
export function eqLower(buf: Buffer, start: number, end: number, lower: string): boolean {
  const n = lower.length;
  if (end - start !== n) return false;
  for (let i = 0; i < n; i++) {
    if ((buf[start + i] | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Case-insensitive ASCII comparison of a string with an all-lowercase ASCII constant. */
export function strEqLower(s: string, lower: string): boolean {
  if (s.length !== lower.length) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const l = lower.charCodeAt(i);
    if (c !== l && (c < 0x41 || c > 0x5a || (c | 0x20) !== l)) return false;
  }
  return true;
}

/** A non-empty run of ASCII digits (a Content-Length value, say). */
export function isDigits(v: string): boolean {
  if (v.length === 0) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

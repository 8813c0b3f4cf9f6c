/**
 * A small fixed-size cache of latin1 strings keyed by their bytes, so that header names and short
 * values that repeat from request to request ("Host", "Accept", "keep-alive") do not allocate a
 * new string each time. Direct-mapped: a colliding entry simply replaces the old one, so memory
 * stays bounded (SLOTS * MAX_LEN bytes) whatever the input.
 */
const SLOTS = 1024;
const MAX_LEN = 48;

const keys: Uint8Array[] = new Array(SLOTS);
const strings: string[] = new Array(SLOTS);

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/** Latin-1 decoding of buf[s, e); Buffer#latin1Slice skips toString's argument handling. */
export function latin1(buf: Buffer, s: number, e: number): string {
  return (buf as Latin1Buffer).latin1Slice(s, e);
}

/** latin1(buf, s, e), returning a cached string when the same bytes were seen recently. */
export function intern(buf: Buffer, s: number, e: number): string {
  const n = e - s;
  if (n === 0) return '';
  if (n > MAX_LEN) return latin1(buf, s, e);
  const slot = (n * 977 + buf[s] * 31 + buf[s + (n >> 1)] * 7 + buf[e - 1] * 131) & (SLOTS - 1);
  const key = keys[slot];
  if (key !== undefined && key.length === n) {
    let i = 0;
    while (i < n && key[i] === buf[s + i]) i++;
    if (i === n) return strings[slot];
  }
  const str = latin1(buf, s, e);
  keys[slot] = Uint8Array.prototype.slice.call(buf, s, e);
  strings[slot] = str;
  return str;
}

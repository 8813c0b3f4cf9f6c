// Host cursor (spec §4.3): the (timestamp, seq) of a host's newest message, used for de-dup and resume.

export interface Cursor {
  time: string;
  seq: number;
}

const FIXED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const GENERAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))$/;

/** Nanoseconds since the epoch of an RFC 3339 timestamp (any fraction length, any offset). */
export function timestampNanos(ts: string): bigint {
  const m = GENERAL.exec(ts);
  if (!m) throw new RangeError(`not an RFC 3339 timestamp: ${JSON.stringify(ts)}`);
  const secs = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
  let offset = 0;
  if (m[8] !== 'Z') offset = (m[9] === '-' ? -1 : 1) * (+m[10]! * 3600 + +m[11]! * 60);
  const frac = BigInt((m[7] ?? '').padEnd(9, '0'));
  return BigInt(secs - offset) * 1_000_000_000n + frac;
}

/** Orders cursors by time then seq; negative when a < b. */
export function compareCursor(a: Cursor, b: Cursor): number {
  if (a.time !== b.time) {
    if (a.time.length === 27 && b.time.length === 27 && FIXED.test(a.time) && FIXED.test(b.time))
      return a.time < b.time ? -1 : 1;
    const na = timestampNanos(a.time);
    const nb = timestampNanos(b.time);
    if (na !== nb) return na < nb ? -1 : 1;
  }
  return a.seq - b.seq;
}

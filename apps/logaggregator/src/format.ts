// The API's NDJSON message, byte-compatible with Flynn's Go encoder (logaggregator/client.Message
// through encoding/json): fields in struct order, empty ones omitted, HTML-safe escaping
// (<, >, & as \u003c…), \u2028/\u2029 escaped, control characters as \u00XX except \n \r \t,
// invalid UTF-8 replaced by U+FFFD, timestamps in RFC3339Nano (trailing zeros trimmed).

import { jobIdOf, type LogMessage, processTypeOf } from '@flynn-edge/syslog';

export type StreamName = 'stdout' | 'stderr' | 'init' | 'unknown';

export const STREAM_TYPES: readonly StreamName[] = ['stdout', 'stderr', 'init'];

export function streamName(msgId: string): StreamName {
  switch (msgId) {
    case 'ID1':
      return 'stdout';
    case 'ID2':
      return 'stderr';
    case 'ID3':
      return 'init';
    default:
      return 'unknown';
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON escaping is about control characters
const NEEDS_ESCAPE = /[\u0000-\u001f"\\<>&\u2028\u2029]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: as above
const ESCAPE_ALL = /[\u0000-\u001f"\\<>&\u2028\u2029]/g;

function escapeChar(c: string): string {
  switch (c) {
    case '"':
      return '\\"';
    case '\\':
      return '\\\\';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
}

/** A JSON string literal as Go's encoding/json writes it (with HTML escaping). */
export function goJsonString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  return `"${s.replace(ESCAPE_ALL, escapeChar)}"`;
}

/**
 * Go's time.Time in RFC3339Nano: the fraction loses trailing zeros (and the dot when nothing is
 * left), a zero offset is written as Z.
 */
export function rfc3339Nano(ts: string): string {
  let t = ts;
  if (t.endsWith('+00:00') || t.endsWith('-00:00')) t = `${t.slice(0, -6)}Z`;
  const dot = t.indexOf('.');
  if (dot < 0) return t;
  let end = dot + 1;
  while (end < t.length && t.charCodeAt(end) >= 0x30 && t.charCodeAt(end) <= 0x39) end++;
  let frac = t.slice(dot + 1, end);
  while (frac.endsWith('0')) frac = frac.slice(0, -1);
  return `${t.slice(0, dot)}${frac ? `.${frac}` : ''}${t.slice(end)}`;
}

function nil(v: string): string {
  return v === '-' ? '' : v;
}

/** One NDJSON line (with its trailing '\n'). */
export function messageLine(m: LogMessage): string {
  const parts: string[] = [];
  const host = nil(m.hostname);
  if (host) parts.push(`"host_id":${goJsonString(host)}`);
  const job = jobIdOf(m.procId);
  if (job) parts.push(`"job_id":${goJsonString(job)}`);
  if (m.msg.length > 0) parts.push(`"msg":${goJsonString(m.msg.toString('utf8'))}`);
  const type = processTypeOf(m.procId);
  if (type) parts.push(`"process_type":${goJsonString(type)}`);
  parts.push('"source":"app"');
  parts.push(`"stream":"${streamName(m.msgId)}"`);
  if (m.timestamp !== '-') parts.push(`"timestamp":${goJsonString(rfc3339Nano(m.timestamp))}`);
  return `{${parts.join(',')}}\n`;
}

import { AppModelError } from './errors.js';

// What operators type: app names, `TYPE=N` and `K=V` arguments, Go durations.

/** Flynn's app name rule (controller/data/app.go). */
export const APP_NAME = /^[a-z\d]+(-[a-z\d]+)*$/;
export const APP_NAME_MAX = 100;

/** Flynn's answer to a bad name, as its CLI printed it (`<code>: <field> <message>`). */
export function checkAppName(name: string): void {
  if (!APP_NAME.test(name) || name.length > APP_NAME_MAX) {
    throw new AppModelError('validation_error: name is invalid');
  }
}

/** `web=2 worker=0` → counts; Flynn's messages for each malformed argument (exit 2). */
export function parseScaleArgs(args: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const arg of args) {
    const i = arg.indexOf('=');
    if (i <= 0) throw new AppModelError('ERROR: scale args must be of the form <typ>=<spec>', 2);
    const qty = arg.slice(i + 1);
    if (!/^-?\d+$/.test(qty))
      throw new AppModelError(`ERROR: could not parse quantity in ${JSON.stringify(arg)}`, 2);
    const n = Number(qty);
    if (n < 0)
      throw new AppModelError(`ERROR: process quantities cannot be negative in ${JSON.stringify(arg)}`, 2);
    if (n > 1000) throw new AppModelError(`ERROR: at most 1000 jobs of a type, not ${n}`, 2);
    out[arg.slice(0, i)] = n;
  }
  return out;
}

/** `K=V` pairs split at the first `=` (Flynn: `invalid var format: "<s>"`). */
export function parseEnvPairs(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of pairs) {
    const i = s.indexOf('=');
    if (i <= 0) throw new AppModelError(`invalid var format: ${JSON.stringify(s)}`, 2);
    out[s.slice(0, i)] = s.slice(i + 1);
  }
  return out;
}

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds from a number (already ms) or a Go duration ("1.5s", "300ms", "1m30s"). */
export function durationMs(value: number | string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return value;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * (UNITS[m[2]] ?? 0);
    matched = re.lastIndex;
  }
  if (matched !== value.length || value === '')
    throw new AppModelError(`invalid duration ${JSON.stringify(value)}`, 2);
  return total;
}

// Go-style command-line flags, as Flynn's daemons take them (Go's `flag` package):
//   -name value, -name=value, --name value, --name=value; booleans as -v, -v=true|false.
// A bare boolean never takes the next argument. Parsing stops at `--` (consumed) or at the
// first argument that is not a flag ("-" alone counts as a positional), as in Go; everything
// after that is returned as positional args. Precedence: flag > environment variable > default.

import { basename } from 'node:path';

export type FlagType = 'string' | 'int' | 'float' | 'boolean' | 'duration';

interface FlagValueTypes {
  string: string;
  int: number;
  float: number;
  boolean: boolean;
  /** milliseconds */
  duration: number;
}

interface FlagBase {
  usage?: string;
  /** Environment variable read when the flag is not given on the command line (empty = unset). */
  env?: string;
  /** Missing flag and env var (and no default) is an error. */
  required?: boolean;
}

export type FlagDef =
  | (FlagBase & { type: 'string'; default?: string })
  | (FlagBase & { type: 'int'; default?: number })
  | (FlagBase & { type: 'float'; default?: number })
  | (FlagBase & { type: 'boolean'; default?: boolean })
  /** Go duration syntax ("1m30s", "500ms") or a number of milliseconds. */
  | (FlagBase & { type: 'duration'; default?: number | string });

export type FlagSpec = Readonly<Record<string, FlagDef>>;

/** 'tcp-range-start' → 'tcpRangeStart' */
export type CamelCase<S extends string> = S extends `${infer H}-${infer T}`
  ? `${H}${Capitalize<CamelCase<T>>}`
  : S;

type ValueOf<D> = D extends { type: infer T extends FlagType } ? FlagValueTypes[T] : never;
type AlwaysSet<D> = D extends { type: 'boolean' }
  ? true
  : D extends { default: string | number }
    ? true
    : D extends { required: true }
      ? true
      : false;

/** Parsed values keyed by the camelCased flag name; unset flags without a default are undefined. */
export type FlagValues<S extends FlagSpec> = {
  -readonly [K in keyof S & string as CamelCase<K>]: AlwaysSet<S[K]> extends true
    ? ValueOf<S[K]>
    : ValueOf<S[K]> | undefined;
};

export interface ParsedFlags<S extends FlagSpec> {
  flags: FlagValues<S>;
  /** Positional arguments (everything from the first non-flag argument or after `--`). */
  args: string[];
}

export interface ParseOptions {
  /** Program name for the usage text; defaults to basename(process.argv[1]). */
  prog?: string;
}

export class FlagError extends Error {
  override readonly name = 'FlagError';
  /** Go exits 0 after -h and 2 after a usage error. */
  readonly exitCode: 0 | 2;
  constructor(
    message: string,
    readonly usage: string,
    readonly help = false,
  ) {
    super(message);
    this.exitCode = help ? 0 : 2;
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function camelCase(name: string): string {
  return name.replace(/-+([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Validates a spec and returns it unchanged, keeping its literal types for parseFlags. */
export function defineFlags<const S extends FlagSpec>(spec: S): S {
  const keys = new Map<string, string>();
  for (const [name, def] of Object.entries(spec)) {
    if (!NAME_RE.test(name)) throw new Error(`invalid flag name ${JSON.stringify(name)}`);
    const key = camelCase(name);
    const other = keys.get(key);
    if (other !== undefined) throw new Error(`flags -${other} and -${name} both map to ${key}`);
    keys.set(key, name);
    // A bad Go-syntax duration default fails here, at definition time.
    if (def.type === 'duration' && typeof def.default === 'string') parseDuration(def.default);
  }
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Value parsers (Go's strconv / time rules)

const PARSE_ERROR = 'parse error';
const RANGE_ERROR = 'value out of range';

/** strconv.ParseBool */
export function parseBool(s: string): boolean {
  switch (s) {
    case '1':
    case 't':
    case 'T':
    case 'true':
    case 'TRUE':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'false':
    case 'FALSE':
    case 'False':
      return false;
  }
  throw new RangeError(PARSE_ERROR);
}

/** strconv.ParseInt(s, 0, 64): 0x/0o/0b/0 prefixes, `_` between digits; limited to safe integers. */
export function parseInt64(s: string): number {
  const m =
    /^([+-]?)(0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)$/.exec(
      s,
    );
  if (!m) throw new RangeError(PARSE_ERROR);
  const digits = m[2]!.replaceAll('_', '');
  // A bare leading 0 means octal; BigInt understands the other prefixes itself.
  let value = BigInt(/^0[0-7]/.test(digits) ? `0o${digits.slice(1)}` : digits);
  if (m[1] === '-') value = -value;
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(RANGE_ERROR);
  }
  return Number(value);
}

/** strconv.ParseFloat(s, 64), decimal forms plus inf/nan. */
export function parseFloat64(s: string): number {
  if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(s)) return Number.NaN;
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw new RangeError(PARSE_ERROR);
  const v = Number(s);
  if (!Number.isFinite(v)) throw new RangeError(RANGE_ERROR);
  return v;
}

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5
  μs: 1e3, // U+03BC
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** time.ParseDuration, returning milliseconds (fractional below 1 ms). */
export function parseDuration(s: string): number {
  const orig = s;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new RangeError(`time: invalid duration ${JSON.stringify(orig)}`);
  let ns = 0;
  const re = /(\d*)(?:\.(\d*))?([^\d.]*)/y;
  while (s.length > 0) {
    re.lastIndex = 0;
    const m = re.exec(s);
    const [all = '', int = '', frac, unit = ''] = m ?? [];
    if (!m || all === '' || (int === '' && (frac === undefined || frac === ''))) {
      throw new RangeError(`time: invalid duration ${JSON.stringify(orig)}`);
    }
    if (unit === '') throw new RangeError(`time: missing unit in duration ${JSON.stringify(orig)}`);
    const mult = UNIT_NS[unit];
    if (mult === undefined) {
      throw new RangeError(`time: unknown unit ${JSON.stringify(unit)} in duration ${JSON.stringify(orig)}`);
    }
    ns += Number(int || '0') * mult;
    if (frac) ns += Number(`0.${frac}`) * mult;
    s = s.slice(all.length);
  }
  if (ns > 2 ** 63) throw new RangeError(`time: invalid duration ${JSON.stringify(orig)}`);
  return (neg ? -ns : ns) / 1e6;
}

function fraction(v: number, digits: number): string {
  const int = Math.floor(v / 10 ** digits);
  const frac = String(v % 10 ** digits)
    .padStart(digits, '0')
    .replace(/0+$/, '');
  return frac ? `${int}.${frac}` : String(int);
}

/** time.Duration.String for a number of milliseconds: "1m30s", "500ms", "1h0m0s", "0s". */
export function formatDuration(ms: number): string {
  let ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  ns = Math.abs(ns);
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${fraction(ns, 3)}µs`;
  if (ns < 1e9) return `${sign}${fraction(ns, 6)}ms`;
  const h = Math.floor(ns / 3600e9);
  const m = Math.floor((ns % 3600e9) / 60e9);
  const s = fraction(ns % 60e9, 9);
  return `${sign}${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}

type Value = string | number | boolean;

function parseValue(def: FlagDef, raw: string): Value {
  switch (def.type) {
    case 'string':
      return raw;
    case 'int':
      return parseInt64(raw);
    case 'float':
      return parseFloat64(raw);
    case 'boolean':
      return parseBool(raw);
    case 'duration':
      try {
        return parseDuration(raw);
      } catch {
        throw new RangeError(PARSE_ERROR);
      }
  }
}

function defaultValue(def: FlagDef): Value | undefined {
  if (def.type === 'boolean') return def.default ?? false;
  if (def.type === 'duration' && typeof def.default === 'string') return parseDuration(def.default);
  return def.default;
}

// ---------------------------------------------------------------------------------------------
// Usage text (Go's flag.PrintDefaults layout)

function defaultText(def: FlagDef): string | undefined {
  const v = defaultValue(def);
  if (v === undefined) return undefined;
  switch (def.type) {
    case 'string':
      return v === '' ? undefined : JSON.stringify(v);
    case 'boolean':
      return v === false ? undefined : 'true';
    case 'duration':
      return v === 0 ? undefined : formatDuration(v as number);
    default:
      return v === 0 ? undefined : String(v);
  }
}

function typeName(def: FlagDef): { name: string; usage: string } {
  const usage = def.usage ?? '';
  // As in Go, a `back-quoted` word in the usage names the value and is unquoted.
  const m = /`([^`]*)`/.exec(usage);
  if (m) return { name: m[1]!, usage: usage.replace(/`([^`]*)`/, '$1') };
  const names: Record<FlagType, string> = {
    string: 'string',
    int: 'int',
    float: 'float',
    boolean: '',
    duration: 'duration',
  };
  return { name: names[def.type], usage };
}

export function flagUsage(spec: FlagSpec, prog = defaultProg()): string {
  let out = `Usage of ${prog}:\n`;
  for (const name of Object.keys(spec).sort()) {
    const def = spec[name]!;
    const { name: valueName, usage } = typeName(def);
    let line = `  -${name}`;
    if (valueName) line += ` ${valueName}`;
    // One-letter boolean flags keep their usage on the same line, as in Go.
    line += line.length <= 4 ? '\t' : '\n    \t';
    line += usage.replaceAll('\n', '\n    \t');
    const dflt = defaultText(def);
    if (dflt !== undefined) line += ` (default ${dflt})`;
    if (def.env) line += ` (env $${def.env})`;
    out += `${line}\n`;
  }
  return out;
}

function defaultProg(): string {
  return process.argv[1] ? basename(process.argv[1]) : 'program';
}

// ---------------------------------------------------------------------------------------------
// Parsing

export function parseFlags<const S extends FlagSpec>(
  spec: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: ParseOptions = {},
): ParsedFlags<S> {
  const prog = options.prog ?? defaultProg();
  function fail(msg: string): never {
    throw new FlagError(msg, flagUsage(spec, prog));
  }
  const fromArgs = new Map<string, Value>();

  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.length < 2 || arg[0] !== '-') break; // positional (including "-")
    let body = arg.slice(1);
    if (body[0] === '-') {
      if (body.length === 1) {
        i++; // "--" terminates the flags and is consumed
        break;
      }
      body = body.slice(1);
    }
    if (body.length === 0 || body[0] === '-' || body[0] === '=') fail(`bad flag syntax: ${arg}`);

    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    let raw = eq === -1 ? undefined : body.slice(eq + 1);
    const def = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (def === undefined) {
      if (name === 'h' || name === 'help')
        throw new FlagError('flag: help requested', flagUsage(spec, prog), true);
      fail(`flag provided but not defined: -${name}`);
    }
    if (def.type === 'boolean') {
      if (raw === undefined) {
        fromArgs.set(name, true);
        continue;
      }
      try {
        fromArgs.set(name, parseBool(raw));
      } catch (e) {
        fail(`invalid boolean value ${JSON.stringify(raw)} for -${name}: ${(e as Error).message}`);
      }
      continue;
    }
    if (raw === undefined) {
      if (i + 1 >= argv.length) fail(`flag needs an argument: -${name}`);
      raw = argv[++i]!;
    }
    try {
      fromArgs.set(name, parseValue(def, raw));
    } catch (e) {
      fail(`invalid value ${JSON.stringify(raw)} for flag -${name}: ${(e as Error).message}`);
    }
  }

  const flags: Record<string, Value | undefined> = {};
  for (const [name, def] of Object.entries(spec)) {
    let value = fromArgs.get(name);
    if (value === undefined && def.env) {
      const raw = env[def.env];
      if (raw !== undefined && raw !== '') {
        try {
          value = parseValue(def, raw);
        } catch (e) {
          fail(
            `invalid value ${JSON.stringify(raw)} for $${def.env} (flag -${name}): ${(e as Error).message}`,
          );
        }
      }
    }
    value ??= defaultValue(def);
    if (value === undefined && def.required) {
      fail(`flag -${name} is required${def.env ? ` (or set $${def.env})` : ''}`);
    }
    flags[camelCase(name)] = value;
  }
  return { flags: flags as FlagValues<S>, args: argv.slice(i) };
}

/**
 * parseFlags for a daemon's main: on -h prints the usage to stderr and exits 0; on a flag error
 * prints the message and the usage to stderr and exits 2, as Go's flag.ExitOnError does.
 */
export function parseFlagsOrExit<const S extends FlagSpec>(
  spec: S,
  argv: readonly string[] = process.argv.slice(2),
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: ParseOptions = {},
): ParsedFlags<S> {
  try {
    return parseFlags(spec, argv, env, options);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(err.help ? err.usage : `${err.message}\n${err.usage}`);
    process.exit(err.exitCode);
  }
}

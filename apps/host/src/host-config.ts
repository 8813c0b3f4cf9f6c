import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

// /etc/flynn/host.json: what `flynn-host init` writes and `flynn-host daemon` merges into its
// flags and environment (Flynn's host/config). The bytes are Go's: json.MarshalIndent(c, "", "\t")
// plus a newline, fields omitted when empty, map keys sorted, <, > and & escaped.

export const DEFAULT_HOST_CONFIG = '/etc/flynn/host.json';

export interface HostConfig {
  args?: string[];
  env?: Record<string, string>;
}

export class HostConfigError extends Error {
  override readonly name = 'HostConfigError';
}

/** Go's encoding/json escapes these even inside strings (HTML safety, JS line separators). */
const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** The file's bytes, exactly as Flynn's config.WriteTo produces them. */
export function encodeHostConfig(c: HostConfig): string {
  const out: HostConfig = {};
  if (c.args && c.args.length > 0) out.args = c.args;
  const envKeys = Object.keys(c.env ?? {}).sort();
  if (envKeys.length > 0) out.env = Object.fromEntries(envKeys.map((k) => [k, c.env![k]!]));
  return `${JSON.stringify(out, null, '\t').replace(/[<>&\u2028\u2029]/g, (ch) => GO_ESCAPES[ch]!)}\n`;
}

/**
 * Writes the file: 0644 as Flynn, 0600 when it holds an env (the cluster key is a secret; an
 * existing file is narrowed too). Throws HostConfigError with Go's text (`open <file>: …`).
 */
export function writeHostConfig(file: string, c: HostConfig): void {
  const secret = c.env !== undefined && Object.keys(c.env).length > 0;
  try {
    // An existing file is narrowed before the key is in it.
    if (secret && existsSync(file)) chmodSync(file, 0o600);
    writeFileSync(file, encodeHostConfig(c), { mode: secret ? 0o600 : 0o644 });
  } catch (err) {
    throw new HostConfigError(openError(file, err as NodeJS.ErrnoException));
  }
}

/** Go's os.Open error texts, which the daemon's one-line error repeats. */
function openError(file: string, err: NodeJS.ErrnoException): string {
  const why: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    ENOTDIR: 'not a directory',
    EISDIR: 'is a directory',
  };
  return `open ${file}: ${(err.code && why[err.code]) ?? err.message}`;
}

/** Case-insensitive field lookup, as Go's decoder matches `json:"args"`. */
function field(obj: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : obj[key];
}

/** Checks the decoded value against Config{Args []string; Env map[string]string}. */
export function parseHostConfig(text: string): HostConfig {
  let raw: unknown;
  // Go's decoder says EOF for an empty file.
  if (text.trim() === '') throw new HostConfigError('EOF');
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new HostConfigError((err as Error).message);
  }
  if (raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new HostConfigError('json: cannot unmarshal into Go value of type config.Config');
  }
  const obj = raw as Record<string, unknown>;
  const args = field(obj, 'args');
  const env = field(obj, 'env');
  const c: HostConfig = {};
  if (args !== undefined && args !== null) {
    if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) {
      throw new HostConfigError('json: cannot unmarshal into Go struct field Config.args of type []string');
    }
    c.args = args as string[];
  }
  if (env !== undefined && env !== null) {
    if (
      typeof env !== 'object' ||
      Array.isArray(env) ||
      Object.values(env).some((v) => typeof v !== 'string')
    ) {
      throw new HostConfigError(
        'json: cannot unmarshal into Go struct field Config.env of type map[string]string',
      );
    }
    c.env = env as Record<string, string>;
  }
  return c;
}

/**
 * The daemon's config file: $FLYNN_HOST_CONFIG (any error is fatal) or /etc/flynn/host.json
 * (missing is fine: no args, no env). Throws HostConfigError naming the file.
 */
export function loadHostConfig(env: NodeJS.ProcessEnv, defaultFile = DEFAULT_HOST_CONFIG): HostConfig {
  const named = env.FLYNN_HOST_CONFIG;
  const file = named || defaultFile;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (!named && e.code === 'ENOENT') return {};
    throw new HostConfigError(`error opening config file ${file}: ${openError(file, e)}`);
  }
  try {
    return parseHostConfig(text);
  } catch (err) {
    throw new HostConfigError(`error opening config file ${file}: ${(err as Error).message}`);
  }
}

/** Flynn's merge: the file's args after the command line's (the last flag wins), its env set. */
export function mergeHostConfig(
  argv: string[],
  env: NodeJS.ProcessEnv,
  c: HostConfig,
): { argv: string[]; env: NodeJS.ProcessEnv } {
  return { argv: [...argv, ...(c.args ?? [])], env: { ...env, ...(c.env ?? {}) } };
}

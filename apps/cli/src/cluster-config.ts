import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { configureOrigin, discoverdUrls, hostPort, pathSegment } from './discoverd-http.js';
import { type ClusterTarget, directTarget } from './flynn/target.js';
import { CliError } from './output.js';

// Flynn's ~/.flynnrc (cli/config/config.go): a TOML file with `default = "<name>"` and one
// `[[cluster]]` table per cluster (Name, Key, TLSPin, ControllerURL, GitURL, ImageURL,
// DockerPushURL), written the way Go's BurntSushi/toml encoder writes it, so Flynn's own CLI can
// read ours and the other way round. FLYNNRC names another file (as in Flynn; the tests use it).
// Our one addition is `ControllerAddr` (see `flynn cluster add --controller-addr`): an `ip:port`
// to connect to instead of resolving the controller's name, for a local cluster whose routers
// listen on 8443. Flynn's decoder ignores keys it does not know.

export interface ClusterEntry {
  Name: string;
  Key: string;
  TLSPin: string;
  ControllerURL: string;
  GitURL: string;
  ImageURL: string;
  DockerPushURL: string;
  ControllerAddr: string;
  /** Keys of the table this CLI does not know, kept as they were read. */
  extra: Record<string, string>;
}

export interface FlynnConfig {
  default: string;
  clusters: ClusterEntry[];
}

const FIELDS = [
  'Name',
  'Key',
  'TLSPin',
  'ControllerURL',
  'GitURL',
  'ImageURL',
  'DockerPushURL',
  'ControllerAddr',
] as const;
type Field = (typeof FIELDS)[number];
/** Written only when set: Flynn's `omitempty` (TLSPin) and our own addition. */
const OMIT_EMPTY: ReadonlySet<Field> = new Set(['TLSPin', 'ControllerAddr']);

export function configPath(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env.FLYNNRC || join(homedir(), '.flynnrc');
}

export function emptyCluster(name: string): ClusterEntry {
  return {
    Name: name,
    Key: '',
    TLSPin: '',
    ControllerURL: '',
    GitURL: '',
    ImageURL: '',
    DockerPushURL: '',
    ControllerAddr: '',
    extra: {},
  };
}

// ---- TOML: the subset .flynnrc uses (string keys and values, [[cluster]] tables, comments) ----

/** A TOML basic ("…") or literal ('…') string at the start of `s`: its value and the rest. */
function readString(s: string, where: string): { value: string; rest: string } {
  if (s.startsWith("'")) {
    const end = s.indexOf("'", 1);
    if (end < 0) throw new Error(`${where}: unterminated string`);
    return { value: s.slice(1, end), rest: s.slice(end + 1) };
  }
  if (!s.startsWith('"')) throw new Error(`${where}: only string values are supported`);
  let value = '';
  for (let i = 1; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"') return { value, rest: s.slice(i + 1) };
    if (c !== '\\') {
      value += c;
      continue;
    }
    const e = s[++i];
    const simple: Record<string, string> = {
      b: '\b',
      t: '\t',
      n: '\n',
      f: '\f',
      r: '\r',
      '"': '"',
      '\\': '\\',
    };
    if (e !== undefined && simple[e] !== undefined) value += simple[e];
    else if (e === 'u' || e === 'U') {
      const len = e === 'u' ? 4 : 8;
      const hex = s.slice(i + 1, i + 1 + len);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) throw new Error(`${where}: bad \\${e} escape`);
      value += String.fromCodePoint(Number.parseInt(hex, 16));
      i += len;
    } else throw new Error(`${where}: bad escape \\${e ?? ''}`);
  }
  throw new Error(`${where}: unterminated string`);
}

/** Parses a .flynnrc; throws an Error naming the line on anything it cannot read. */
export function parseConfig(text: string, file = '.flynnrc'): FlynnConfig {
  const config: FlynnConfig = { default: '', clusters: [] };
  let current: ClusterEntry | undefined;
  let otherTable = false;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const where = `${file}:${n + 1}`;
    const line = lines[n]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      const table = /^(\[\[?)\s*([A-Za-z0-9_.-]+)\s*(\]\]?)\s*(#.*)?$/.exec(line);
      if (!table || table[1]!.length !== table[3]!.length) throw new Error(`${where}: bad table header`);
      otherTable = !(table[1] === '[[' && table[2] === 'cluster');
      if (!otherTable) {
        current = emptyCluster('');
        config.clusters.push(current);
      }
      continue;
    }
    const kv = /^("[^"]*"|[A-Za-z0-9_-]+)\s*=\s*(.*)$/.exec(line);
    if (!kv) throw new Error(`${where}: want key = "value"`);
    const key = kv[1]!.replace(/^"|"$/g, '');
    const { value, rest } = readString(kv[2]!, where);
    if (!/^\s*(#.*)?$/.test(rest)) throw new Error(`${where}: unexpected text after the value`);
    if (otherTable) continue;
    if (!current) {
      if (key === 'default') config.default = value;
      continue;
    }
    if ((FIELDS as readonly string[]).includes(key)) current[key as Field] = value;
    else current.extra[key] = value;
  }
  return config;
}

/** A TOML basic string, escaped as Go's encoder does. */
function quote(s: string): string {
  const named: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\r': '\\r' };
  let out = '"';
  for (const c of s) {
    const code = c.codePointAt(0)!;
    if (named[c] !== undefined) out += named[c];
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return `${out}"`;
}

function bareKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : quote(k);
}

/** The file as Flynn writes it (BurntSushi/toml: two-space indented tables); empty without clusters. */
export function formatConfig(config: FlynnConfig): string {
  if (config.clusters.length === 0) return '';
  const out = [`default = ${quote(config.default)}`];
  for (const c of config.clusters) {
    out.push('', '[[cluster]]');
    for (const f of FIELDS) {
      if (OMIT_EMPTY.has(f) && c[f] === '') continue;
      out.push(`  ${f} = ${quote(c[f])}`);
    }
    for (const [k, v] of Object.entries(c.extra)) out.push(`  ${bareKey(k)} = ${quote(v)}`);
  }
  return `${out.join('\n')}\n\n`;
}

/** The config file, or an empty config when there is none. */
export function readConfig(path = configPath()): FlynnConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { default: '', clusters: [] };
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return parseConfig(text, path);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** Writes the file atomically, mode 0600: it holds cluster keys. */
export function saveConfig(config: FlynnConfig, path = configPath()): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, formatConfig(config), { mode: 0o600 });
    renameSync(tmp, path);
  } catch (err) {
    throw new CliError(`cannot write ${path}: ${(err as Error).message}`);
  }
}

// ---- Flynn's Config methods (Add with -f, Remove, SetDefault), same messages ----

/** Adds a cluster; a clash of name or controller URL is an error unless `force` replaces it. */
export function addCluster(config: FlynnConfig, c: ClusterEntry, force: boolean): void {
  let conflict = -1;
  let message = '';
  config.clusters.forEach((existing, i) => {
    let m = '';
    if (existing.Name === c.Name) m = `Cluster ${goQuote(c.Name)} already exists in ~/.flynnrc`;
    else if (existing.GitURL !== '' && existing.GitURL === c.GitURL)
      m = `A cluster with the URL ${goQuote(c.GitURL)} already exists in ~/.flynnrc`;
    else if (existing.ControllerURL === c.ControllerURL)
      m = `A cluster with the URL ${goQuote(c.ControllerURL)} already exists in ~/.flynnrc`;
    if (m === '') return;
    if (conflict !== -1 && conflict !== i) {
      message = 'The cluster name and/or URLs conflict with multiple existing clusters.';
      conflict = -2;
      return;
    }
    if (conflict !== -2) {
      conflict = i;
      message = m;
    }
  });
  if (conflict === -2) throw new CliError(message);
  if (conflict >= 0) {
    if (!force) throw new CliError(message);
    config.clusters.splice(conflict, 1);
  }
  config.clusters.push(c);
}

export function removeCluster(config: FlynnConfig, name: string): ClusterEntry | undefined {
  const i = config.clusters.findIndex((c) => c.Name === name);
  return i < 0 ? undefined : config.clusters.splice(i, 1)[0];
}

export function setDefault(config: FlynnConfig, name: string): boolean {
  if (!config.clusters.some((c) => c.Name === name)) return false;
  config.default = name;
  return true;
}

/** Go's %q for the names and URLs these messages quote. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** A TLS pin as `-p` takes it: base64 of a SHA-256 digest. */
export function checkTlsPin(pin: string): string {
  const p = pin.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(p) || Buffer.from(p, 'base64').length !== 32) {
    throw new CliError(`error decoding tls pin: want the base64 of a SHA-256 digest, got ${goQuote(pin)}`);
  }
  return p;
}

/** The cluster domain of a controller URL (`https://controller.example.com` → `example.com`). */
export function domainOf(controllerUrl: string): string | undefined {
  try {
    const host = new URL(controllerUrl).hostname;
    return host.startsWith('controller.') ? host.slice('controller.'.length) : undefined;
  } catch {
    return undefined;
  }
}

// ---- Which cluster a command talks to ----

export interface TargetOptions {
  /** -c NAME (or FLYNN_CLUSTER). */
  cluster?: string;
  /** --discoverd / DISCOVERD, already parsed into URLs. */
  discoverd?: string[];
  clusterKey?: string;
}

/** The named cluster of the flynnrc, or a CliError as Flynn words it. */
export function findCluster(config: FlynnConfig, name: string): ClusterEntry {
  if (config.clusters.length === 0) throw new CliError('no clusters configured');
  const c = config.clusters.find((x) => x.Name === name);
  if (!c) throw new CliError(`unknown cluster ${goQuote(name)}`);
  return c;
}

/** A target through the controller gateway of a flynnrc cluster. */
export function remoteTarget(c: ClusterEntry, fallbackKey?: string): ClusterTarget {
  let url: URL;
  try {
    url = new URL(c.ControllerURL);
  } catch {
    throw new CliError(`cluster ${goQuote(c.Name)}: invalid ControllerURL ${goQuote(c.ControllerURL)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CliError(`cluster ${goQuote(c.Name)}: ControllerURL must be https://`);
  }
  const base = url.origin;
  if (c.TLSPin || c.ControllerAddr) {
    configureOrigin(base, {
      tlsPin: c.TLSPin ? checkTlsPin(c.TLSPin) : undefined,
      connectAddr: c.ControllerAddr ? hostPort(c.ControllerAddr, 443) : undefined,
    });
  }
  return {
    discoverd: [`${base}/discoverd`],
    clusterKey: c.Key || fallbackKey,
    domain: domainOf(base),
    remote: true,
    hostUrl: (h) => `${base}/hosts/${encodeURIComponent(h.id)}`,
    serviceUrl: (service, addr) => `${base}/services/${encodeURIComponent(service)}/${pathSegment(addr)}`,
  };
}

/**
 * Where the `flynn` commands send their requests. A flynnrc cluster when one is named (-c or
 * FLYNN_CLUSTER), or when neither --discoverd nor DISCOVERD is set and the flynnrc has a default;
 * otherwise the cluster as seen from inside (DISCOVERD and CLUSTER_KEY, as before).
 */
export async function resolveTarget(opts: TargetOptions): Promise<ClusterTarget> {
  const name = opts.cluster || process.env.FLYNN_CLUSTER || undefined;
  if (name) return remoteTarget(findCluster(readConfig(), name), opts.clusterKey);
  const insideEnv = process.env.DISCOVERD !== undefined && process.env.DISCOVERD.trim() !== '';
  if (opts.discoverd === undefined && !insideEnv) {
    const config = readConfig();
    if (config.default) return remoteTarget(findCluster(config, config.default), opts.clusterKey);
  }
  return directTarget(opts.discoverd ?? discoverdUrls(process.env.DISCOVERD), opts.clusterKey);
}

import type { HhError, Instance, KvCompare, KvOp, ServiceConfig } from './types.js';
import { instanceId, normalizeInstance } from './types.js';
import { goQuote, isIndex, isPlainObject, utf8Length } from './util.js';

// Request validation with Flynn's exact messages. Every helper returns undefined when the input
// is valid, or the hh error (code validation_error) to answer with. The HTTP layer calls these
// before proposing; apply() repeats the cheap structural checks so that a bad entry can never
// corrupt the state.

function invalid(message: string): HhError {
  return { code: 'validation_error', message };
}

/**
 * Size limits of what may enter the log (issue 11). Flynn had none; each is far above what Flynn's
 * own components send. Checked before proposing only: apply() keeps accepting what older
 * versions committed, so a log replays the same everywhere.
 */
export const LIMITS = {
  /** A service name is a DNS label (`<service>.discoverd`). */
  serviceName: 63,
  /** A proto is a DNS label with a leading underscore (`_<service>._<proto>.discoverd`). */
  proto: 62,
  /** The host of an instance addr (a DNS name is at most 253 characters). */
  host: 253,
  metaKeys: 128,
  metaKeyBytes: 255,
  metaValueBytes: 4096,
  /** All keys and values of one instance's meta. */
  metaBytes: 16 * 1024,
  /** An instance id as a leader id or in a path (ids are 32 hex digits; others never match). */
  instanceRefBytes: 128,
  /** Service meta `data`, as JSON. */
  serviceMetaBytes: 64 * 1024,
  /** Nesting of service meta `data` (apply and snapshots walk it recursively). */
  jsonDepth: 64,
  kvValueBytes: 512 * 1024,
  /** Compares, and ops of each branch, of one transaction (bulk loads of routes use thousands). */
  txnOps: 16_384,
} as const;

/** Service names: non-empty, only `[a-z0-9-]`, a DNS label (at most 63 characters). */
export function validateServiceName(name: string): HhError | undefined {
  if (name === '') return invalid('discoverd: service name must not be empty');
  if (!/^[a-z0-9-]+$/.test(name))
    return invalid('discoverd: service must be lowercase alphanumeric plus dash');
  if (name.length > LIMITS.serviceName)
    return invalid(`discoverd: service name must be at most ${LIMITS.serviceName} characters (a DNS label)`);
  return undefined;
}

/** Instance protocols: non-empty, only `[a-z0-9]`, at most 62 characters. */
export function validateProto(proto: string): HhError | undefined {
  if (proto === '') return invalid('discoverd: proto must be set');
  if (!/^[a-z0-9]+$/.test(proto)) return invalid('discoverd: proto must be lowercase alphanumeric');
  if (proto.length > LIMITS.proto)
    return invalid(`discoverd: proto must be at most ${LIMITS.proto} characters`);
  return undefined;
}

/**
 * An instance addr: Go's SplitHostPort (Flynn's only check, with its error texts), then a
 * non-empty host of name or IP characters and a numeric port from 1 to 65535.
 */
export function validateAddr(addr: string): HhError | undefined {
  const hp = splitHostPort(addr);
  if ('error' in hp) return invalid(hp.error);
  if (hp.host === '') return invalid(`discoverd: instance addr ${goQuote(addr)} has no host`);
  if (hp.host.length > LIMITS.host || !/^[A-Za-z0-9._:%-]+$/.test(hp.host)) {
    return invalid(`discoverd: instance addr ${goQuote(addr.slice(0, 300))} has an invalid host`);
  }
  const port = /^\d{1,5}$/.test(hp.port) ? Number(hp.port) : 0;
  if (port < 1 || port > 65535) {
    return invalid(`discoverd: instance addr ${goQuote(addr)} needs a port from 1 to 65535`);
  }
  return undefined;
}

/** An instance id named by a request (to remove, or as a leader): non-empty and bounded. */
export function validateInstanceRef(id: unknown, what = 'instance id'): HhError | undefined {
  if (typeof id !== 'string') return invalid(`discoverd: ${what} must be a string`);
  if (id === '') return invalid(`discoverd: ${what} must be set`);
  if (utf8Length(id) > LIMITS.instanceRefBytes)
    return invalid(`discoverd: ${what} must be at most ${LIMITS.instanceRefBytes} bytes`);
  return undefined;
}

/** Instance meta: absent, or an object of string values, bounded in keys and bytes. */
export function validateInstanceMeta(meta: unknown): HhError | undefined {
  if (meta === undefined || meta === null) return undefined;
  if (!isPlainObject(meta)) return invalid('discoverd: instance meta must be an object of strings');
  const entries = Object.entries(meta);
  if (entries.length > LIMITS.metaKeys)
    return invalid(`discoverd: instance meta must have at most ${LIMITS.metaKeys} keys`);
  let total = 0;
  for (const [k, v] of entries) {
    const key = goQuote(k.slice(0, 64));
    if (typeof v !== 'string') return invalid(`discoverd: instance meta ${key} must be a string`);
    const kb = utf8Length(k);
    const vb = utf8Length(v);
    if (kb > LIMITS.metaKeyBytes)
      return invalid(`discoverd: instance meta keys must be at most ${LIMITS.metaKeyBytes} bytes`);
    if (vb > LIMITS.metaValueBytes)
      return invalid(`discoverd: instance meta ${key} must be at most ${LIMITS.metaValueBytes} bytes`);
    total += kb + vb;
  }
  if (total > LIMITS.metaBytes)
    return invalid(`discoverd: instance meta must be at most ${LIMITS.metaBytes} bytes in all`);
  return undefined;
}

/**
 * The body of `PUT /services/:s/instances/:id`, fully checked: Flynn's order (proto, addr, id),
 * then the field types, meta and index. The answer is the canonical instance without `index`
 * (the state machine assigns it).
 */
export function parseInstance(body: unknown): { instance: Instance } | { error: HhError } {
  if (!isPlainObject(body))
    return { error: { code: 'syntax_error', message: 'The provided JSON input is invalid' } };
  const field = (name: 'id' | 'addr' | 'proto'): string | HhError => {
    const v = body[name];
    if (v === undefined || v === null) return '';
    return typeof v === 'string' ? v : invalid(`discoverd: instance ${name} must be a string`);
  };
  const id = field('id');
  const addr = field('addr');
  const proto = field('proto');
  for (const f of [proto, addr, id]) if (typeof f !== 'string') return { error: f };
  const inst = { id: id as string, addr: addr as string, proto: proto as string };
  const bad =
    validateInstance(inst) ??
    validateInstanceMeta(body.meta) ??
    (body.index === undefined || body.index === null || isIndex(body.index)
      ? undefined
      : invalid('discoverd: instance index must be a non-negative integer'));
  if (bad) return { error: bad };
  const meta = body.meta as Record<string, string> | null | undefined;
  return { instance: normalizeInstance(meta ? { ...inst, meta } : inst, 0) };
}

/** True when `value` nests arrays and objects deeper than `max` (checked without recursion). */
export function jsonTooDeep(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(v as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Service meta `data`: any JSON, at most 64 KiB and 64 levels deep. */
export function validateServiceMetaData(data: unknown): HhError | undefined {
  if (jsonTooDeep(data, LIMITS.jsonDepth))
    return invalid(`discoverd: service meta data must nest at most ${LIMITS.jsonDepth} levels`);
  if (utf8Length(JSON.stringify(data ?? null)) > LIMITS.serviceMetaBytes)
    return invalid(`discoverd: service meta data must be at most ${LIMITS.serviceMetaBytes} bytes`);
  return undefined;
}

export type SplitHostPortResult = { host: string; port: string } | { error: string };

/**
 * Go's `net.SplitHostPort`, with its error texts. Like Go it does not check that the port is
 * numeric or the host non-empty: `":80"` and `"host:"` both split.
 */
export function splitHostPort(hostport: string): SplitHostPortResult {
  const fail = (why: string): SplitHostPortResult => ({ error: `address ${hostport}: ${why}` });
  const missingPort = 'missing port in address';
  const tooManyColons = 'too many colons in address';
  const i = hostport.lastIndexOf(':');
  if (i < 0) return fail(missingPort);
  let host: string;
  let j = 0;
  let k = 0;
  if (hostport[0] === '[') {
    const end = hostport.indexOf(']');
    if (end < 0) return fail("missing ']' in address");
    if (end + 1 === hostport.length) return fail(missingPort);
    if (end + 1 !== i) return fail(hostport[end + 1] === ':' ? tooManyColons : missingPort);
    host = hostport.slice(1, end);
    j = 1;
    k = end + 1;
  } else {
    host = hostport.slice(0, i);
    if (host.includes(':')) return fail(tooManyColons);
  }
  if (hostport.slice(j).includes('[')) return fail("unexpected '[' in address");
  if (hostport.slice(k).includes(']')) return fail("unexpected ']' in address");
  return { host, port: hostport.slice(i + 1) };
}

/**
 * Flynn's `Instance.Valid()`: proto, then addr (Go's SplitHostPort error text, unprefixed, then
 * our host and port checks), then "discoverd: instance id is incorrect, expected <md5>".
 */
export function validateInstance(inst: Pick<Instance, 'id' | 'addr' | 'proto'>): HhError | undefined {
  const p = validateProto(inst.proto) ?? validateAddr(inst.addr);
  if (p) return p;
  const expected = instanceId(inst.proto, inst.addr);
  if (inst.id !== expected) return invalid(`discoverd: instance id is incorrect, expected ${expected}`);
  return undefined;
}

/**
 * Parses the body of `PUT /services/:service`. An absent or empty `leader_type` means `oldest`
 * (Flynn's default). Flynn stored any other string and treated it like `oldest`; we refuse it.
 */
export function parseServiceConfig(body: unknown): { config: ServiceConfig } | { error: HhError } {
  if (body === null || body === undefined) return { config: { leader_type: 'oldest' } };
  if (!isPlainObject(body)) return { error: invalid('discoverd: service config must be a JSON object') };
  const lt = body.leader_type;
  if (lt === undefined || lt === null || lt === '' || lt === 'oldest')
    return { config: { leader_type: 'oldest' } };
  if (lt === 'manual') return { config: { leader_type: 'manual' } };
  return { error: invalid('discoverd: leader_type must be "oldest" or "manual"') };
}

// ---- cluster store ----

/** Longest key (and prefix) the cluster store accepts, in UTF-8 bytes. */
export const MAX_KV_KEY_BYTES = 4096;

/** Keys are non-empty strings of at most 4 KiB (UTF-8). */
export function validateKvKey(key: unknown): HhError | undefined {
  if (typeof key !== 'string') return invalid('kv: key must be a string');
  if (key === '') return invalid('kv: key must not be empty');
  if (utf8Length(key) > MAX_KV_KEY_BYTES) return invalid(`kv: key must be at most ${MAX_KV_KEY_BYTES} bytes`);
  return undefined;
}

/** Prefixes may be empty (everything) but not longer than a key. */
export function validateKvPrefix(prefix: unknown): HhError | undefined {
  if (typeof prefix !== 'string') return invalid('kv: prefix must be a string');
  if (utf8Length(prefix) > MAX_KV_KEY_BYTES) {
    return invalid(`kv: prefix must be at most ${MAX_KV_KEY_BYTES} bytes`);
  }
  return undefined;
}

export function validateKvCompare(c: KvCompare): HhError | undefined {
  const bad = validateKvKey(c.Key);
  if (bad) return bad;
  switch (c.Op) {
    case '=':
    case '<':
    case '>':
      if (!isIndex(c.ModRevision)) return invalid('kv: compare ModRevision must be a non-negative integer');
      return undefined;
    case 'absent':
    case 'present':
      return undefined;
    case 'value':
      return typeof c.Value === 'string' ? undefined : invalid('kv: compare Value must be a string');
    default:
      return invalid('kv: compare Op must be one of =, <, >, absent, present, value');
  }
}

export function validateKvOp(op: KvOp): HhError | undefined {
  switch (op.Op) {
    case 'put':
      return (
        validateKvKey(op.Key) ??
        (typeof op.Value === 'string' ? undefined : invalid('kv: value must be a string'))
      );
    case 'delete':
      return validateKvKey(op.Key);
    case 'deletePrefix':
      return validateKvPrefix(op.Prefix);
    default:
      return invalid('kv: op must be one of put, delete, deletePrefix');
  }
}

/** Longest value (and compare value) the cluster store accepts, in UTF-8 bytes. */
export const MAX_KV_VALUE_BYTES = LIMITS.kvValueBytes;

/**
 * The size limits of a transaction, checked before proposing (not in apply: see LIMITS): at most
 * 16,384 compares and ops per branch, values of at most 512 KiB.
 */
export function validateKvTxnLimits(txn: {
  Compare: readonly KvCompare[];
  Success: readonly KvOp[];
  Failure: readonly KvOp[];
}): HhError | undefined {
  for (const [name, list] of [
    ['compares', txn.Compare],
    ['success ops', txn.Success],
    ['failure ops', txn.Failure],
  ] as const) {
    if (list.length > LIMITS.txnOps)
      return invalid(`kv: a transaction may have at most ${LIMITS.txnOps} ${name}`);
  }
  const tooBig = (v: string) => utf8Length(v) > MAX_KV_VALUE_BYTES;
  for (const c of txn.Compare) {
    if (c.Op === 'value' && tooBig(c.Value))
      return invalid(`kv: compare value must be at most ${MAX_KV_VALUE_BYTES} bytes`);
  }
  for (const op of [...txn.Success, ...txn.Failure]) {
    if (op.Op === 'put' && tooBig(op.Value))
      return invalid(`kv: value must be at most ${MAX_KV_VALUE_BYTES} bytes`);
  }
  return undefined;
}

/** Validates every compare and op of a transaction; the first problem wins. */
export function validateKvTxn(txn: {
  Compare: readonly KvCompare[];
  Success: readonly KvOp[];
  Failure: readonly KvOp[];
}): HhError | undefined {
  for (const c of txn.Compare) {
    const bad = validateKvCompare(c);
    if (bad) return bad;
  }
  for (const op of [...txn.Success, ...txn.Failure]) {
    const bad = validateKvOp(op);
    if (bad) return bad;
  }
  return undefined;
}

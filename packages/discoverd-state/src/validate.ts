import type { HhError, Instance, KvCompare, KvOp, ServiceConfig } from './types.js';
import { instanceId } from './types.js';
import { isIndex, isPlainObject, utf8Length } from './util.js';

// Request validation with Flynn's exact messages. Every helper returns undefined when the input
// is valid, or the hh error (code validation_error) to answer with. The HTTP layer calls these
// before proposing; apply() repeats the cheap structural checks so that a bad entry can never
// corrupt the state.

function invalid(message: string): HhError {
  return { code: 'validation_error', message };
}

/** Service names: non-empty, only `[a-z0-9-]`. */
export function validateServiceName(name: string): HhError | undefined {
  if (name === '') return invalid('discoverd: service name must not be empty');
  if (!/^[a-z0-9-]+$/.test(name))
    return invalid('discoverd: service must be lowercase alphanumeric plus dash');
  return undefined;
}

/** Instance protocols: non-empty, only `[a-z0-9]`. */
export function validateProto(proto: string): HhError | undefined {
  if (proto === '') return invalid('discoverd: proto must be set');
  if (!/^[a-z0-9]+$/.test(proto)) return invalid('discoverd: proto must be lowercase alphanumeric');
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
 * Flynn's `Instance.Valid()`: proto, then addr (Go's SplitHostPort error text, unprefixed), then
 * "discoverd: instance id is incorrect, expected <md5>".
 */
export function validateInstance(inst: Pick<Instance, 'id' | 'addr' | 'proto'>): HhError | undefined {
  const p = validateProto(inst.proto);
  if (p) return p;
  const hp = splitHostPort(inst.addr);
  if ('error' in hp) return invalid(hp.error);
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

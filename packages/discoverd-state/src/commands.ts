import {
  array,
  field,
  index,
  object,
  optStr,
  ShapeError,
  shapeConfig,
  shapeInstance,
  shapeMeta,
  str,
} from './shape.js';
import type { Instance, KvCompare, KvOp, ServiceConfig, ServiceMeta } from './types.js';
import { normalizeInstance } from './types.js';

// Raft log entries: one type byte followed by the command as JSON with Go's field names (Flynn's
// discoverd commands 0..6, spec §1.9), plus the cluster store's commands from 16 up.

export const CommandType = {
  addService: 0,
  removeService: 1,
  setServiceMeta: 2,
  setLeader: 3,
  addInstance: 4,
  removeInstance: 5,
  expireInstances: 6,
  kvTxn: 16,
} as const;

export type CommandName = keyof typeof CommandType;

/** Go's zero time.Time, as encoding/json writes it. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface ExpireKey {
  Service: string;
  InstanceID: string;
}

export type Command =
  | { type: 'addService'; Service: string; Config: ServiceConfig }
  | { type: 'removeService'; Service: string }
  | { type: 'setServiceMeta'; Service: string; Meta: ServiceMeta }
  | { type: 'setLeader'; Service: string; ID: string }
  /** ExpiryTime is informational (RFC 3339); expiry is decided by the leader, never by apply. */
  | { type: 'addInstance'; Service: string; Instance: Instance; ExpiryTime?: string }
  | { type: 'removeInstance'; Service: string; ID: string }
  | { type: 'expireInstances'; Instances: ExpireKey[] }
  | { type: 'kvTxn'; Compare: KvCompare[]; Success: KvOp[]; Failure: KvOp[] };

const NAMES: ReadonlyMap<number, CommandName> = new Map(
  Object.entries(CommandType).map(([name, byte]) => [byte, name as CommandName]),
);

function encodeMeta(m: ServiceMeta): Record<string, unknown> {
  const out: Record<string, unknown> = { data: m.data === undefined ? null : m.data };
  if (m.leader_id) out.leader_id = m.leader_id;
  out.index = m.index;
  return out;
}

function encodeCompare(c: KvCompare): Record<string, unknown> {
  switch (c.Op) {
    case 'absent':
    case 'present':
      return { Key: c.Key, Op: c.Op };
    case 'value':
      return { Key: c.Key, Op: c.Op, Value: c.Value };
    default:
      return { Key: c.Key, Op: c.Op, ModRevision: c.ModRevision };
  }
}

function encodeOp(op: KvOp): Record<string, unknown> {
  switch (op.Op) {
    case 'put':
      return { Op: 'put', Key: op.Key, Value: op.Value };
    case 'delete':
      return { Op: 'delete', Key: op.Key };
    case 'deletePrefix':
      return { Op: 'deletePrefix', Prefix: op.Prefix };
  }
}

function body(cmd: Command): unknown {
  switch (cmd.type) {
    case 'addService':
      return { Service: cmd.Service, Config: { leader_type: cmd.Config.leader_type } };
    case 'removeService':
      return { Service: cmd.Service };
    case 'setServiceMeta':
      return { Service: cmd.Service, Meta: encodeMeta(cmd.Meta) };
    case 'setLeader':
      return { Service: cmd.Service, ID: cmd.ID };
    case 'addInstance':
      return {
        Service: cmd.Service,
        Instance: normalizeInstance(cmd.Instance),
        ExpiryTime: cmd.ExpiryTime ?? ZERO_TIME,
      };
    case 'removeInstance':
      return { Service: cmd.Service, ID: cmd.ID };
    case 'expireInstances':
      return { Instances: cmd.Instances.map((k) => ({ Service: k.Service, InstanceID: k.InstanceID })) };
    case 'kvTxn':
      return {
        Compare: cmd.Compare.map(encodeCompare),
        Success: cmd.Success.map(encodeOp),
        Failure: cmd.Failure.map(encodeOp),
      };
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes a command as a log entry: type byte + JSON. */
export function encodeCommand(cmd: Command): Uint8Array {
  const type = CommandType[cmd.type];
  if (type === undefined) throw new Error(`discoverd: unknown command type ${String((cmd as Command).type)}`);
  const json = encoder.encode(JSON.stringify(body(cmd)));
  const out = new Uint8Array(json.length + 1);
  out[0] = type;
  out.set(json, 1);
  return out;
}

// ---- decoding ----

function decodeCompare(v: unknown, where: string): KvCompare {
  const o = object(v, where);
  const Key = str(o, 'Key', where);
  const op = field(o, 'Op', where);
  switch (op) {
    case '=':
    case '<':
    case '>':
      return { Key, Op: op, ModRevision: index(o, 'ModRevision', where) };
    case 'absent':
    case 'present':
      return { Key, Op: op };
    case 'value':
      return { Key, Op: op, Value: str(o, 'Value', where) };
    default:
      throw new ShapeError(`${where}.Op must be one of =, <, >, absent, present, value`);
  }
}

function decodeOp(v: unknown, where: string): KvOp {
  const o = object(v, where);
  const op = field(o, 'Op', where);
  switch (op) {
    case 'put':
      return { Op: 'put', Key: str(o, 'Key', where), Value: str(o, 'Value', where) };
    case 'delete':
      return { Op: 'delete', Key: str(o, 'Key', where) };
    case 'deletePrefix':
      return { Op: 'deletePrefix', Prefix: str(o, 'Prefix', where) };
    default:
      throw new ShapeError(`${where}.Op must be one of put, delete, deletePrefix`);
  }
}

function decodeBody(type: CommandName, o: Record<string, unknown>): Command {
  switch (type) {
    case 'addService':
      return { type, Service: str(o, 'Service', type), Config: shapeConfig(o.Config, `${type}.Config`) };
    case 'removeService':
      return { type, Service: str(o, 'Service', type) };
    case 'setServiceMeta':
      return {
        type,
        Service: str(o, 'Service', type),
        Meta: shapeMeta(field(o, 'Meta', type), `${type}.Meta`),
      };
    case 'setLeader':
      return { type, Service: str(o, 'Service', type), ID: str(o, 'ID', type) };
    case 'addInstance': {
      const cmd: Extract<Command, { type: 'addInstance' }> = {
        type,
        Service: str(o, 'Service', type),
        Instance: shapeInstance(field(o, 'Instance', type), `${type}.Instance`),
      };
      const expiry = optStr(o, 'ExpiryTime', type);
      if (expiry !== undefined) cmd.ExpiryTime = expiry;
      return cmd;
    }
    case 'removeInstance':
      return { type, Service: str(o, 'Service', type), ID: str(o, 'ID', type) };
    case 'expireInstances':
      return {
        type,
        Instances: array(o, 'Instances', type).map((v, i) => {
          const where = `${type}.Instances[${i}]`;
          const k = object(v, where);
          return { Service: str(k, 'Service', where), InstanceID: str(k, 'InstanceID', where) };
        }),
      };
    case 'kvTxn':
      return {
        type,
        Compare: array(o, 'Compare', type).map((v, i) => decodeCompare(v, `${type}.Compare[${i}]`)),
        Success: array(o, 'Success', type).map((v, i) => decodeOp(v, `${type}.Success[${i}]`)),
        Failure: array(o, 'Failure', type).map((v, i) => decodeOp(v, `${type}.Failure[${i}]`)),
      };
  }
}

/**
 * Decodes a log entry. Throws an Error ("discoverd: cannot decode command: ...") for anything
 * that is not a well-formed command: empty entry, unknown type byte, invalid UTF-8 or JSON, wrong
 * field types. Unknown JSON fields are ignored, as Go's decoder ignores them.
 */
export function decodeCommand(data: Uint8Array): Command {
  const fail = (why: string): never => {
    throw new Error(`discoverd: cannot decode command: ${why}`);
  };
  if (!(data instanceof Uint8Array) || data.length === 0) return fail('empty entry');
  const type = NAMES.get(data[0]!);
  if (type === undefined) return fail(`unknown command type ${data[0]}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data.subarray(1)));
  } catch (e) {
    return fail(`${type}: invalid JSON (${(e as Error).message})`);
  }
  try {
    return decodeBody(type, object(parsed, type));
  } catch (e) {
    if (e instanceof ShapeError) return fail(e.message);
    throw e;
  }
}

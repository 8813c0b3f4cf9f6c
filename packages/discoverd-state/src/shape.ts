import type { Instance, ServiceConfig, ServiceMeta } from './types.js';
import { normalizeInstance } from './types.js';
import { isIndex, isPlainObject } from './util.js';

// Structural checks of decoded JSON, shared by the command decoder and the snapshot restore.
// They throw ShapeError with a path-like location ("addInstance.Instance.id is missing"); the
// callers wrap it into their own message.

export class ShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShapeError';
  }
}

export function field(obj: Record<string, unknown>, name: string, where: string): unknown {
  if (!Object.hasOwn(obj, name)) throw new ShapeError(`${where}.${name} is missing`);
  return obj[name];
}

export function str(obj: Record<string, unknown>, name: string, where: string): string {
  const v = field(obj, name, where);
  if (typeof v !== 'string') throw new ShapeError(`${where}.${name} must be a string`);
  return v;
}

export function optStr(obj: Record<string, unknown>, name: string, where: string): string | undefined {
  const v = obj[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ShapeError(`${where}.${name} must be a string`);
  return v;
}

export function index(obj: Record<string, unknown>, name: string, where: string): number {
  const v = field(obj, name, where);
  if (!isIndex(v)) throw new ShapeError(`${where}.${name} must be a non-negative integer`);
  return v;
}

export function object(v: unknown, where: string): Record<string, unknown> {
  if (!isPlainObject(v)) throw new ShapeError(`${where} must be an object`);
  return v;
}

/** An optional object-valued field; absent or null gives an empty object. */
export function optObject(
  obj: Record<string, unknown>,
  name: string,
  where: string,
): Record<string, unknown> {
  const v = obj[name];
  if (v === undefined || v === null) return {};
  return object(v, `${where}.${name}`);
}

/** An array-valued field; absent or null (Go's nil slice) gives []. */
export function array(obj: Record<string, unknown>, name: string, where: string): unknown[] {
  const v = obj[name];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ShapeError(`${where}.${name} must be an array`);
  return v;
}

/** `{"leader_type"}`; absent, null or "" means oldest (Flynn's default). */
export function shapeConfig(v: unknown, where: string): ServiceConfig {
  if (v === null || v === undefined) return { leader_type: 'oldest' };
  const o = object(v, where);
  const lt = o.leader_type;
  if (lt === undefined || lt === null || lt === '' || lt === 'oldest') return { leader_type: 'oldest' };
  if (lt === 'manual') return { leader_type: 'manual' };
  throw new ShapeError(`${where}.leader_type must be "oldest" or "manual"`);
}

/** An Instance, returned in canonical form (see normalizeInstance). */
export function shapeInstance(v: unknown, where: string): Instance {
  const o = object(v, where);
  const inst: Instance = {
    id: str(o, 'id', where),
    addr: str(o, 'addr', where),
    proto: str(o, 'proto', where),
  };
  const meta = o.meta;
  if (meta !== undefined && meta !== null) {
    const m = object(meta, `${where}.meta`);
    for (const [k, val] of Object.entries(m)) {
      if (typeof val !== 'string')
        throw new ShapeError(`${where}.meta[${JSON.stringify(k)}] must be a string`);
    }
    inst.meta = m as Record<string, string>;
  }
  if (o.index !== undefined && o.index !== null) inst.index = index(o, 'index', where);
  return normalizeInstance(inst);
}

/** A ServiceMeta; `data` defaults to null, `index` to 0, `leader_id` is kept only when non-empty. */
export function shapeMeta(v: unknown, where: string): ServiceMeta {
  const o = object(v, where);
  const idx = o.index === undefined || o.index === null ? 0 : index(o, 'index', where);
  const data = o.data === undefined ? null : o.data;
  const leaderId = optStr(o, 'leader_id', where);
  return leaderId ? { data, leader_id: leaderId, index: idx } : { data, index: idx };
}

import {
  type HhError,
  type KvCompare,
  type KvOp,
  type KvOpResult,
  validateKvCompare,
  validateKvOp,
} from '@flynn-edge/discoverd-state';
import { invalid, isIndex } from './params.js';

// The /kv/ request bodies (checked field by field, unknown fields refused) and the wire form of
// a transaction's results.

/** A state-machine validation message placed at a position of a transaction. */
function checkAt(where: string, err: HhError | undefined): void {
  if (err) throw invalid(`kv: ${where}: ${err.message.replace(/^kv: /, '')}`);
}

function objectAt(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw invalid(where === '' ? 'kv: the body must be a JSON object' : `kv: ${where} must be a JSON object`);
  }
  return v as Record<string, unknown>;
}

/** Refuses unknown fields: a misspelt `prev_revision` must not turn a CAS into a blind put. */
function onlyFields(o: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      throw invalid(`kv: ${where === '' ? '' : `${where}: `}unknown field ${JSON.stringify(k)}`);
    }
  }
}

function arrayAt(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(`kv: ${where} must be an array`);
  return v;
}

function parseCompare(v: unknown, where: string): KvCompare {
  const o = objectAt(v, where);
  onlyFields(o, ['key', 'op', 'mod_revision', 'value'], where);
  const op = o.op;
  let c: KvCompare;
  if (op === '=' || op === '<' || op === '>') {
    if (!isIndex(o.mod_revision)) throw invalid(`kv: ${where}: mod_revision must be a non-negative integer`);
    c = { Key: o.key as string, Op: op, ModRevision: o.mod_revision };
  } else if (op === 'absent' || op === 'present') {
    if (o.mod_revision !== undefined) throw invalid(`kv: ${where}: mod_revision is not used with op "${op}"`);
    c = { Key: o.key as string, Op: op };
  } else if (op === 'value') {
    if (typeof o.value !== 'string') throw invalid(`kv: ${where}: value must be a string`);
    c = { Key: o.key as string, Op: 'value', Value: o.value };
  } else {
    throw invalid(`kv: ${where}: op must be one of "=", "<", ">", "absent", "present", "value"`);
  }
  checkAt(where, validateKvCompare(c));
  return c;
}

function parseOp(v: unknown, where: string): KvOp {
  const o = objectAt(v, where);
  let op: KvOp;
  switch (o.op) {
    case 'put':
      onlyFields(o, ['op', 'key', 'value'], where);
      op = { Op: 'put', Key: o.key as string, Value: o.value as string };
      break;
    case 'delete':
      onlyFields(o, ['op', 'key'], where);
      op = { Op: 'delete', Key: o.key as string };
      break;
    case 'delete_prefix':
      onlyFields(o, ['op', 'prefix'], where);
      if (o.prefix === '' || o.prefix === undefined) {
        throw invalid(`kv: ${where}: delete_prefix needs a non-empty prefix`);
      }
      op = { Op: 'deletePrefix', Prefix: o.prefix as string };
      break;
    default:
      throw invalid(`kv: ${where}: op must be one of "put", "delete", "delete_prefix"`);
  }
  checkAt(where, validateKvOp(op));
  return op;
}

/** PUT /kv/<key>: `{"value": "…", "prev_revision"?: n}` (null prev_revision: unguarded). */
export function parsePutBody(body: unknown): { value: string; prev: number | undefined } {
  const o = objectAt(body, '');
  onlyFields(o, ['value', 'prev_revision'], '');
  if (typeof o.value !== 'string') throw invalid('kv: value must be a string');
  const prev = o.prev_revision;
  if (prev !== undefined && prev !== null && !isIndex(prev)) {
    throw invalid('kv: prev_revision must be a non-negative integer');
  }
  return { value: o.value, prev: prev ?? undefined };
}

export interface ParsedTxn {
  Compare: KvCompare[];
  Success: KvOp[];
  Failure: KvOp[];
}

/** `{"compare":[…], "success":[…], "failure":[…]}` → the kvTxn command's fields. */
export function parseTxnBody(body: unknown): ParsedTxn {
  const o = objectAt(body, '');
  onlyFields(o, ['compare', 'success', 'failure'], '');
  return {
    Compare: arrayAt(o.compare, 'compare').map((v, i) => parseCompare(v, `compare[${i}]`)),
    Success: arrayAt(o.success, 'success').map((v, i) => parseOp(v, `success[${i}]`)),
    Failure: arrayAt(o.failure, 'failure').map((v, i) => parseOp(v, `failure[${i}]`)),
  };
}

/** One result of a transaction, as POST /kv/txn answers it. */
export function resultJson(r: KvOpResult): Record<string, unknown> {
  switch (r.op) {
    case 'put':
      return r.prev ? { op: 'put', key: r.key, prev: r.prev } : { op: 'put', key: r.key };
    case 'delete':
      return r.prev
        ? { op: 'delete', key: r.key, deleted: 1, prev: r.prev }
        : { op: 'delete', key: r.key, deleted: 0 };
    case 'deletePrefix':
      return { op: 'delete_prefix', prefix: r.prefix, deleted: r.deleted.length };
  }
}

import { createHash } from 'node:crypto';
import { compareKeys } from './util.js';

// Data types of Flynn's discoverd (spec §1.3) plus the cluster store's. Field names and JSON
// field order follow Flynn's Go structs, so `JSON.stringify` of these objects is what Flynn's
// server sends.

export type LeaderType = 'oldest' | 'manual';

/** `{"leader_type": "oldest" | "manual"}`. */
export interface ServiceConfig {
  leader_type: LeaderType;
}

/**
 * A registered instance. `id` = lowercase hex md5(proto + "-" + addr). `meta` is omitted when
 * empty and `index` when 0. `index` is assigned by the state machine: the log index of the
 * instance's first registration, kept on later updates.
 */
export interface Instance {
  id: string;
  addr: string;
  proto: string;
  meta?: Record<string, string>;
  index?: number;
}

/**
 * Service metadata. `data` is any JSON value (null when absent). `leader_id` is write-only: it
 * appears in a set request and in its echoed answer, never in the stored copy.
 */
export interface ServiceMeta {
  data: unknown;
  leader_id?: string;
  index: number;
}

export type EventKind = 'up' | 'update' | 'down' | 'leader' | 'current' | 'service_meta';

export const EVENT_KINDS: readonly EventKind[] = [
  'up',
  'update',
  'down',
  'leader',
  'current',
  'service_meta',
];

/** Go's bit value of each kind (`EventKind` is a bit set in Flynn's client). */
export const EVENT_KIND_BITS: Readonly<Record<EventKind, number>> = {
  up: 1,
  update: 2,
  down: 4,
  leader: 8,
  current: 16,
  service_meta: 32,
};

/** `{"service", "kind", "instance"?, "service_meta"?}`; a `leader` event without instance means "no leader". */
export interface Event {
  service: string;
  kind: EventKind;
  instance?: Instance;
  service_meta?: ServiceMeta;
}

/**
 * The codes of Flynn's hh error envelope that the state machine refuses with. A subset of
 * service-kit's codes (which map them to HTTP statuses), named here so that this pure package
 * does not depend on the HTTP kit; discoverd-server's type check proves they are a subset.
 */
export type ErrorCode =
  | 'object_exists'
  | 'object_not_found'
  | 'precondition_failed'
  | 'syntax_error'
  | 'unknown_error'
  | 'validation_error';

export interface HhError {
  code: ErrorCode;
  message: string;
}

// ---- cluster store ----

/** One key of the cluster store, etcd-style. Revisions are Raft log indexes. */
export interface KvEntry {
  key: string;
  value: string;
  /** Revision (log index) of the put that created this incarnation of the key. */
  create_revision: number;
  /** Revision of the last put. */
  mod_revision: number;
  /** Number of puts since creation (1 after the first). */
  version: number;
}

/** A change of the cluster store, as a watcher sees it. */
export interface KvEvent {
  type: 'put' | 'delete';
  key: string;
  /** The new value (puts only). */
  value?: string;
  /** The store revision of the write (all events of one transaction share it). */
  revision: number;
  /** mod_revision of the key before this write; absent when a put created the key. */
  prevRevision?: number;
}

/**
 * A transaction guard. `=`, `<`, `>` compare the key's mod_revision with `ModRevision`; an absent
 * key has mod_revision 0 (as in etcd), so `{Op: '=', ModRevision: 0}` also means "absent".
 */
export type KvCompare =
  | { Key: string; Op: '=' | '<' | '>'; ModRevision: number }
  | { Key: string; Op: 'absent' | 'present' }
  /** The key exists and holds exactly this value (compare-and-set by value). */
  | { Key: string; Op: 'value'; Value: string };

export type KvOp =
  | { Op: 'put'; Key: string; Value: string }
  | { Op: 'delete'; Key: string }
  | { Op: 'deletePrefix'; Prefix: string };

/** What one executed op did; `prev` is the entry overwritten or deleted. */
export type KvOpResult =
  | { op: 'put'; key: string; prev?: KvEntry }
  | { op: 'delete'; key: string; prev?: KvEntry }
  | { op: 'deletePrefix'; prefix: string; deleted: KvEntry[] };

/** The `value` of a successfully applied kvTxn entry. */
export interface KvTxnResult {
  /** True when every compare held and the Success ops ran; false when the Failure ops ran. */
  succeeded: boolean;
  /** Store revision after the transaction (unchanged when it wrote nothing). */
  revision: number;
  /** One result per op of the branch that ran, in order. */
  results: KvOpResult[];
}

export interface KvListResult {
  entries: KvEntry[];
  /** True when the limit cut the list short. */
  more: boolean;
  /** Store revision the list was taken at. */
  revision: number;
}

// ---- helpers ----

/** Lowercase hex md5(proto + "-" + addr): the only valid instance id. */
export function instanceId(proto: string, addr: string): string {
  return createHash('md5').update(`${proto}-${addr}`, 'utf8').digest('hex');
}

function metaSize(m: Record<string, string> | undefined): number {
  return m ? Object.keys(m).length : 0;
}

/** Flynn's change detection: same addr, proto and meta map; id and index are ignored. */
export function instanceEqual(a: Instance, b: Instance): boolean {
  if (a.addr !== b.addr || a.proto !== b.proto) return false;
  if (metaSize(a.meta) !== metaSize(b.meta)) return false;
  if (!a.meta || !b.meta) return true;
  for (const [k, v] of Object.entries(a.meta)) {
    if (!Object.hasOwn(b.meta, k) || b.meta[k] !== v) return false;
  }
  return true;
}

/**
 * Canonical copy of an instance: fields in Go's order, meta keys sorted (Go marshals maps
 * sorted), meta omitted when empty and index when 0 or absent.
 */
export function normalizeInstance(inst: Instance, index = inst.index ?? 0): Instance {
  const out: Instance = { id: inst.id, addr: inst.addr, proto: inst.proto };
  if (inst.meta && Object.keys(inst.meta).length > 0) {
    // fromEntries defines own properties, so a "__proto__" key stays an ordinary key.
    const keys = Object.keys(inst.meta).sort(compareKeys);
    out.meta = Object.fromEntries(keys.map((k) => [k, inst.meta![k]!]));
  }
  if (index !== 0) out.index = index;
  return out;
}

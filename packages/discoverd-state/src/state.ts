import { type Command, decodeCommand } from './commands.js';
import { errors } from './errors.js';
import { DEFAULT_WATCH_HISTORY, type KvListOptions, KvStore } from './kv-store.js';
import { type Outcome, ServiceRegistry } from './services.js';
import { object, ShapeError } from './shape.js';
import type {
  Event,
  EventKind,
  HhError,
  Instance,
  KvEntry,
  KvEvent,
  KvListResult,
  ServiceConfig,
  ServiceMeta,
} from './types.js';
import { instanceEqual } from './types.js';
import { isIndex } from './util.js';

// discoverd's replicated state machine: Flynn's registry plus the cluster store, driven only by
// committed log entries. Pure: no I/O, no timers, no clock. Plugs into packages/raft's server as
// its StateMachine (apply / snapshot / restore).

export type ApplyResult =
  | { ok: true; value?: unknown; events: Event[]; kvEvents: KvEvent[] }
  | { ok: false; error: HhError; events: []; kvEvents: [] };

export interface DiscoverdStateOptions {
  /** How many KV events each node keeps for watch resumption (default 10,000). Local only. */
  watchHistory?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function failure(error: HhError): ApplyResult {
  return { ok: false, error, events: [], kvEvents: [] };
}

function fromOutcome(o: Outcome): ApplyResult {
  if (!o.ok) return failure(o.error);
  return o.value === undefined
    ? { ok: true, events: o.events, kvEvents: [] }
    : { ok: true, value: o.value, events: o.events, kvEvents: [] };
}

export class DiscoverdState {
  private registry = new ServiceRegistry();
  private kv: KvStore;
  private applied = 0;
  private readonly historyCapacity: number;

  constructor(opts: DiscoverdStateOptions = {}) {
    this.historyCapacity = opts.watchHistory ?? DEFAULT_WATCH_HISTORY;
    this.kv = new KvStore(this.historyCapacity, 0);
  }

  /**
   * Applies one committed entry. Never throws: an entry that cannot be decoded or applied gives
   * an error result and leaves the state unchanged. `value` is the echoed meta for
   * setServiceMeta and the KvTxnResult for kvTxn; `events` are the registry events to
   * broadcast in order, `kvEvents` the cluster-store changes.
   */
  apply(index: number, data: Uint8Array): ApplyResult {
    if (!isIndex(index) || index === 0) {
      return failure(errors.invalidEntry(`discoverd: log index ${String(index)} is not a positive integer`));
    }
    if (index <= this.applied) {
      return failure(
        errors.invalidEntry(`discoverd: log index ${index} is already applied (at ${this.applied})`),
      );
    }
    this.applied = index;
    try {
      const cmd = decodeCommand(data);
      switch (cmd.type) {
        case 'addService':
          return fromOutcome(this.registry.addService(cmd.Service, cmd.Config));
        case 'removeService':
          return fromOutcome(this.registry.removeService(cmd.Service));
        case 'setServiceMeta':
          return fromOutcome(this.registry.setServiceMeta(index, cmd.Service, cmd.Meta));
        case 'setLeader':
          return fromOutcome(this.registry.setLeader(cmd.Service, cmd.ID));
        case 'addInstance':
          return fromOutcome(this.registry.addInstance(index, cmd.Service, cmd.Instance));
        case 'removeInstance':
          return fromOutcome(this.registry.removeInstance(cmd.Service, cmd.ID));
        case 'expireInstances':
          return fromOutcome(this.registry.expireInstances(cmd.Instances));
        case 'kvTxn': {
          const r = this.kv.txn(index, cmd);
          return r.ok ? { ok: true, value: r.result, events: [], kvEvents: r.events } : failure(r.error);
        }
      }
    } catch (e) {
      return failure(errors.invalidEntry(e instanceof Error ? e.message : String(e)));
    }
  }

  /**
   * Why apply() would refuse `cmd` against the current state (404, 409, 412, not manual), or
   * undefined. The leader asks before proposing, so a write bound to fail costs no log entry.
   */
  refusal(cmd: Command): HhError | undefined {
    return this.registry.refusal(cmd);
  }

  /** Index of the last entry applied (or of the restored snapshot). */
  appliedIndex(): number {
    return this.applied;
  }

  // ---- registry queries ----

  /** Services that have a config, sorted by name. */
  services(): string[] {
    return this.registry.services();
  }

  /** Every registered (service, instance id), unsorted: what heartbeat expiry has to look at. */
  instanceKeys(): IterableIterator<{ service: string; id: string }> {
    return this.registry.instanceKeys();
  }

  serviceConfig(service: string): ServiceConfig | undefined {
    return this.registry.serviceConfig(service);
  }

  /** Instances sorted by index; undefined when the service never had an instance map. */
  instances(service: string): Instance[] | undefined {
    return this.registry.instances(service);
  }

  instance(service: string, id: string): Instance | undefined {
    return this.registry.instance(service, id);
  }

  /**
   * The heartbeat short-circuit (§1.6): true when an instance with this id is registered and
   * equal (addr, proto, meta). The server then records the heartbeat and proposes nothing. Like
   * Flynn it does not look at the service config, so it holds for a deleted service too.
   */
  instanceUnchanged(service: string, inst: Instance): boolean {
    const prev = this.registry.instance(service, inst.id);
    return prev !== undefined && instanceEqual(prev, inst);
  }

  leader(service: string): Instance | undefined {
    return this.registry.leader(service);
  }

  /** The stored leader id, even when that instance is gone (manual leaders). */
  leaderId(service: string): string | undefined {
    return this.registry.leaderId(service);
  }

  meta(service: string): ServiceMeta | undefined {
    return this.registry.meta(service);
  }

  /** The SSE initial burst of §1.7 for `kinds`. */
  initialEvents(service: string, kinds: Iterable<EventKind>): Event[] {
    return this.registry.initialEvents(service, kinds);
  }

  // ---- cluster store queries ----

  kvGet(key: string): KvEntry | undefined {
    return this.kv.get(key);
  }

  kvList(prefix = '', opts: KvListOptions = {}): KvListResult {
    return this.kv.list(prefix, opts);
  }

  /** Log index of the last KV write (0 before any). */
  kvRevision(): number {
    return this.kv.revision();
  }

  /**
   * KV events after revision `after` under `prefix`, oldest first, or 'compacted' when the
   * local history no longer covers them (the watcher must re-list).
   */
  kvEventsSince(after: number, prefix = ''): KvEvent[] | 'compacted' {
    return this.kv.eventsSince(after, prefix);
  }

  /** Resuming from a revision below this one answers 'compacted'. */
  kvCompactedRevision(): number {
    return this.kv.compactedRevision();
  }

  /** Sizes for metrics. */
  stats(): { services: number; instances: number; kvKeys: number; kvRevision: number } {
    const c = this.registry.counts();
    return {
      services: c.services,
      instances: c.instances,
      kvKeys: this.kv.size(),
      kvRevision: this.kv.revision(),
    };
  }

  // ---- snapshot ----

  /**
   * Flynn's FSM JSON `{"services","metas","leaders","instances"}` (each omitted when empty) plus
   * `"kv": {"revision", "keys": {key: {value, create_revision, mod_revision, version}}}`. Maps
   * are written in sorted key order, so equal states give equal bytes.
   */
  snapshot(): Uint8Array {
    const members = this.registry.snapshotMembers();
    const kv = this.kv.snapshotMember();
    if (kv) members.push(kv);
    return encoder.encode(`{${members.join(',')}}`);
  }

  /**
   * The same bytes as snapshot() for the state as it is at the call, with the cluster store
   * serialised in slices (`betweenSlices` awaited in between): applies may go on meanwhile.
   */
  async snapshotSliced(betweenSlices: () => Promise<void>): Promise<Uint8Array> {
    const members = this.registry.snapshotMembers();
    const kv = await this.kv.snapshotMemberParts(betweenSlices);
    if (!kv) return encoder.encode(`{${members.join(',')}}`);
    const head = encoder.encode(`{${members.join(',')}${members.length > 0 ? ',' : ''}`);
    return Buffer.concat([head, ...kv, encoder.encode('}')]);
  }

  /**
   * Replaces the whole state with a snapshot taken at log index `index`, emitting no events.
   * Accepts Flynn's own FSM JSON (no "kv"). The KV watch history restarts empty: resuming from
   * a revision below the restored store revision answers 'compacted'. Throws on a malformed
   * snapshot, leaving the current state untouched.
   */
  restore(index: number, data: Uint8Array): void {
    if (!isIndex(index)) throw new Error(`discoverd: cannot restore snapshot: bad index ${String(index)}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(data));
    } catch (e) {
      throw new Error(`discoverd: cannot restore snapshot: invalid JSON (${(e as Error).message})`);
    }
    let registry: ServiceRegistry;
    let kv: KvStore;
    try {
      const snap = object(parsed, 'snapshot');
      registry = ServiceRegistry.fromSnapshot(snap);
      kv = KvStore.fromSnapshot(snap.kv, this.historyCapacity);
    } catch (e) {
      if (e instanceof ShapeError) throw new Error(`discoverd: cannot restore snapshot: ${e.message}`);
      throw e;
    }
    this.registry = registry;
    this.kv = kv;
    this.applied = index;
  }
}

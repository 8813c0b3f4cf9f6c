import type { Command, ExpireKey } from './commands.js';
import { errors } from './errors.js';
import { object, ShapeError, shapeConfig, shapeInstance, shapeMeta } from './shape.js';
import type { Event, EventKind, HhError, Instance, ServiceConfig, ServiceMeta } from './types.js';
import { instanceEqual, normalizeInstance } from './types.js';
import { compareKeys, deepFreeze, jsonMap, sortedKeys } from './util.js';

// Flynn's service registry (spec §1.2–§1.6): services, their meta, per-service leaders and
// instances. Every write returns the events to broadcast, in Flynn's order. Stored objects are
// frozen, so queries and events hand them out without copying.

export type Outcome = { ok: true; value?: unknown; events: Event[] } | { ok: false; error: HhError };

function ok(events: Event[], value?: unknown): Outcome {
  return value === undefined ? { ok: true, events } : { ok: true, value, events };
}

function fail(error: HhError): Outcome {
  return { ok: false, error };
}

function byIndex(a: Instance, b: Instance): number {
  return (a.index ?? 0) - (b.index ?? 0) || compareKeys(a.id, b.id);
}

function leaderEvent(service: string, instance: Instance | undefined): Event {
  return instance ? { service, kind: 'leader', instance } : { service, kind: 'leader' };
}

export class ServiceRegistry {
  private readonly configs = new Map<string, ServiceConfig>();
  private readonly metas = new Map<string, ServiceMeta>();
  /** Leader instance id per service. An empty id is never stored (Flynn stores ""; same meaning). */
  private readonly leaders = new Map<string, string>();
  /**
   * Derived, never serialised: the registered instance with the smallest index per service.
   * Indexes only grow, so it changes only when it is removed, which keeps `oldest` elections
   * O(1) per registration instead of a scan of the whole service.
   */
  private readonly oldest = new Map<string, Instance>();
  /** Created on a service's first registration and never removed (not even by removeService). */
  private readonly instanceMaps = new Map<string, Map<string, Instance>>();

  // ---- writes ----

  /**
   * Why `cmd` would be refused against the current state (404, 409, 412, manual leader), or
   * undefined. Each write below starts with it; the leader also asks before proposing, so a
   * write that is bound to fail costs no log entry.
   */
  refusal(cmd: Command): HhError | undefined {
    switch (cmd.type) {
      case 'addService':
        return this.configs.has(cmd.Service) ? errors.serviceExists(cmd.Service) : undefined;
      case 'removeService':
      case 'addInstance':
        return this.configs.has(cmd.Service) ? undefined : errors.serviceNotFound(cmd.Service);
      case 'setServiceMeta': {
        const service = cmd.Service;
        if (!this.configs.has(service)) return errors.serviceNotFound(service);
        const curr = this.metas.get(service);
        if (cmd.Meta.index === 0) return curr ? errors.metaExists(service) : undefined;
        if (!curr) return errors.metaMissing(service);
        return curr.index === cmd.Meta.index ? undefined : errors.metaWrongIndex(service);
      }
      case 'setLeader':
        return this.configs.get(cmd.Service)?.leader_type === 'manual' ? undefined : errors.notManual();
      case 'removeInstance':
        return this.instanceMaps.has(cmd.Service) ? undefined : errors.serviceNotFound(cmd.Service);
      default:
        return undefined;
    }
  }

  addService(service: string, config: ServiceConfig): Outcome {
    const no = this.refusal({ type: 'addService', Service: service, Config: config });
    if (no) return fail(no);
    this.configs.set(service, Object.freeze({ leader_type: config.leader_type }));
    return ok([]);
  }

  /**
   * Flynn's quirk: removes the config and meta only. The instance map and the leader entry stay
   * (instances keep being listed until they expire), but `down` is broadcast for every instance.
   */
  removeService(service: string): Outcome {
    const no = this.refusal({ type: 'removeService', Service: service });
    if (no) return fail(no);
    this.configs.delete(service);
    this.metas.delete(service);
    const events: Event[] = (this.instances(service) ?? []).map((instance) => ({
      service,
      kind: 'down',
      instance,
    }));
    return ok(events);
  }

  /** Meta compare-and-set (§1.4). The value is the meta echoed with `index` = this log index. */
  setServiceMeta(index: number, service: string, meta: ServiceMeta): Outcome {
    const no = this.refusal({ type: 'setServiceMeta', Service: service, Meta: meta });
    if (no) return fail(no);
    const data = deepFreeze(meta.data === undefined ? null : meta.data);
    const stored: ServiceMeta = Object.freeze({ data, index });
    this.metas.set(service, stored);
    const events: Event[] = [{ service, kind: 'service_meta', service_meta: stored }];
    const leaderId = meta.leader_id;
    if (leaderId) {
      // Even for `oldest` services; the next recomputation may override it.
      this.leaders.set(service, leaderId);
      const inst = this.instanceMaps.get(service)?.get(leaderId);
      if (inst) events.push(leaderEvent(service, inst));
    }
    return ok(events, leaderId ? { data, leader_id: leaderId, index } : { data, index });
  }

  /** Manual leader (§1.5). The event is broadcast only when the instance exists. */
  setLeader(service: string, id: string): Outcome {
    const no = this.refusal({ type: 'setLeader', Service: service, ID: id });
    if (no) return fail(no);
    if (id === '') this.leaders.delete(service);
    else this.leaders.set(service, id);
    const inst = this.instanceMaps.get(service)?.get(id);
    return ok(inst ? [leaderEvent(service, inst)] : []);
  }

  /**
   * Registers or updates an instance. `index` is the log index; a new instance takes it, an
   * existing one keeps its own. An unchanged instance produces no event and no change.
   */
  addInstance(index: number, service: string, inst: Instance): Outcome {
    const no = this.refusal({ type: 'addInstance', Service: service, Instance: inst });
    if (no) return fail(no);
    let map = this.instanceMaps.get(service);
    if (!map) {
      map = new Map();
      this.instanceMaps.set(service, map);
    }
    const prev = map.get(inst.id);
    const events: Event[] = [];
    if (!prev || !instanceEqual(prev, inst)) {
      const stored = deepFreeze(normalizeInstance(inst, prev ? (prev.index ?? 0) : index));
      map.set(stored.id, stored);
      const oldest = this.oldest.get(service);
      if (!oldest || oldest.id === stored.id || byIndex(stored, oldest) < 0) this.oldest.set(service, stored);
      events.push({ service, kind: prev ? 'update' : 'up', instance: stored });
    }
    events.push(...this.recomputeLeader(service));
    return ok(events);
  }

  /** 404 only when the service never had an instance map; an unknown id is a silent success. */
  removeInstance(service: string, id: string): Outcome {
    const no = this.refusal({ type: 'removeInstance', Service: service, ID: id });
    const map = this.instanceMaps.get(service);
    if (no || !map) return fail(no ?? errors.serviceNotFound(service));
    const events: Event[] = [];
    const prev = map.get(id);
    if (prev) {
      map.delete(id);
      this.forgetOldest(service, id);
      events.push({ service, kind: 'down', instance: prev });
    }
    events.push(...this.recomputeLeader(service));
    return ok(events);
  }

  /** Deletes the listed instances (missing ones are skipped), `down` for each, then leader events. */
  expireInstances(keys: readonly ExpireKey[]): Outcome {
    const events: Event[] = [];
    const touched = new Set<string>();
    for (const { Service: service, InstanceID: id } of keys) {
      const map = this.instanceMaps.get(service);
      const inst = map?.get(id);
      if (!map || !inst) continue;
      map.delete(id);
      this.forgetOldest(service, id);
      events.push({ service, kind: 'down', instance: inst });
      touched.add(service);
    }
    for (const service of touched) events.push(...this.recomputeLeader(service));
    return ok(events);
  }

  /**
   * `oldest` election: the instance with the smallest index; an event when the leader id changes.
   * Indexes are log indexes of first registration, so a new or updated instance never beats a
   * leader that is still registered: only then is the O(instances) scan skipped, which keeps a
   * registration O(1) however large the service grows.
   */
  private recomputeLeader(service: string): Event[] {
    const config = this.configs.get(service);
    if (!config || config.leader_type === 'manual') return [];
    const prevId = this.leaders.get(service) ?? '';
    const leader = this.oldest.get(service);
    const id = leader?.id ?? '';
    if (id) this.leaders.set(service, id);
    else this.leaders.delete(service);
    return prevId === id ? [] : [leaderEvent(service, leader)];
  }

  private forgetOldest(service: string, id: string): void {
    if (this.oldest.get(service)?.id !== id) return;
    let next: Instance | undefined;
    for (const inst of this.instanceMaps.get(service)?.values() ?? []) {
      if (!next || byIndex(inst, next) < 0) next = inst;
    }
    if (next) this.oldest.set(service, next);
    else this.oldest.delete(service);
  }

  // ---- queries ----

  /** Names of the services that have a config, sorted. */
  services(): string[] {
    return sortedKeys(this.configs.keys());
  }

  /** Every (service, instance id), config or not (instances outlive DELETE /services/x); unsorted, no copies. */
  *instanceKeys(): IterableIterator<{ service: string; id: string }> {
    for (const [service, map] of this.instanceMaps) for (const id of map.keys()) yield { service, id };
  }

  serviceConfig(service: string): ServiceConfig | undefined {
    return this.configs.get(service);
  }

  /** Instances sorted by index; undefined when the service never had an instance map. */
  instances(service: string): Instance[] | undefined {
    const map = this.instanceMaps.get(service);
    return map ? [...map.values()].sort(byIndex) : undefined;
  }

  instance(service: string, id: string): Instance | undefined {
    return this.instanceMaps.get(service)?.get(id);
  }

  /** The stored leader id, whether or not that instance exists. */
  leaderId(service: string): string | undefined {
    return this.leaders.get(service);
  }

  /** The leader instance; undefined when there is none or it is not registered. */
  leader(service: string): Instance | undefined {
    const id = this.leaders.get(service);
    return id === undefined ? undefined : this.instanceMaps.get(service)?.get(id);
  }

  /** Stored meta `{data, index}` (never with leader_id). */
  meta(service: string): ServiceMeta | undefined {
    return this.metas.get(service);
  }

  /**
   * The burst a new subscriber receives (§1.7), filtered by `kinds`: `up` per instance sorted by
   * index, the leader if any, the meta if any, then `current` when requested.
   */
  initialEvents(service: string, kinds: Iterable<EventKind>): Event[] {
    const want = new Set(kinds);
    const events: Event[] = [];
    if (want.has('up')) {
      for (const instance of this.instances(service) ?? []) events.push({ service, kind: 'up', instance });
    }
    if (want.has('leader')) {
      const leader = this.leader(service);
      if (leader) events.push(leaderEvent(service, leader));
    }
    if (want.has('service_meta')) {
      const meta = this.metas.get(service);
      if (meta) events.push({ service, kind: 'service_meta', service_meta: meta });
    }
    if (want.has('current')) events.push({ service, kind: 'current' });
    return events;
  }

  counts(): { services: number; instances: number } {
    let instances = 0;
    for (const m of this.instanceMaps.values()) instances += m.size;
    return { services: this.configs.size, instances };
  }

  // ---- snapshot ----

  /**
   * The `"services"`, `"metas"`, `"leaders"`, `"instances"` members of the snapshot object, each
   * omitted when empty, maps in sorted key order. Empty instance maps are kept (they make the
   * difference between 404 and a silent success for removeInstance).
   */
  snapshotMembers(): string[] {
    const out: string[] = [];
    if (this.configs.size > 0) {
      out.push(`"services":${jsonMap([...this.configs].map(([k, c]) => [k, JSON.stringify(c)]))}`);
    }
    if (this.metas.size > 0) {
      out.push(`"metas":${jsonMap([...this.metas].map(([k, m]) => [k, JSON.stringify(m)]))}`);
    }
    if (this.leaders.size > 0) {
      out.push(`"leaders":${jsonMap([...this.leaders].map(([k, id]) => [k, JSON.stringify(id)]))}`);
    }
    if (this.instanceMaps.size > 0) {
      const services = [...this.instanceMaps].map(([service, map]): [string, string] => [
        service,
        jsonMap([...map].map(([id, inst]) => [id, JSON.stringify(inst)])),
      ]);
      out.push(`"instances":${jsonMap(services)}`);
    }
    return out;
  }

  /** Rebuilds a registry from a parsed snapshot object (Flynn's FSM JSON). Throws ShapeError. */
  static fromSnapshot(snap: Record<string, unknown>): ServiceRegistry {
    const r = new ServiceRegistry();
    const section = (name: string): Record<string, unknown> => {
      const v = snap[name];
      return v === undefined || v === null ? {} : object(v, name);
    };
    for (const [service, c] of Object.entries(section('services'))) {
      if (c === null) continue; // Go writes a nil *ServiceConfig as null
      r.configs.set(service, Object.freeze(shapeConfig(c, `services[${JSON.stringify(service)}]`)));
    }
    for (const [service, m] of Object.entries(section('metas'))) {
      if (m === null) continue;
      const meta = shapeMeta(m, `metas[${JSON.stringify(service)}]`);
      r.metas.set(service, Object.freeze({ data: deepFreeze(meta.data), index: meta.index }));
    }
    for (const [service, id] of Object.entries(section('leaders'))) {
      if (typeof id !== 'string')
        throw new ShapeError(`leaders[${JSON.stringify(service)}] must be a string`);
      if (id !== '') r.leaders.set(service, id);
    }
    for (const [service, m] of Object.entries(section('instances'))) {
      const where = `instances[${JSON.stringify(service)}]`;
      const map = new Map<string, Instance>();
      for (const [id, v] of Object.entries(m === null ? {} : object(m, where))) {
        if (v === null) continue;
        map.set(id, deepFreeze(shapeInstance(v, `${where}[${JSON.stringify(id)}]`)));
      }
      r.instanceMaps.set(service, map);
      for (const inst of map.values()) {
        const o = r.oldest.get(service);
        if (!o || byIndex(inst, o) < 0) r.oldest.set(service, inst);
      }
    }
    return r;
  }
}

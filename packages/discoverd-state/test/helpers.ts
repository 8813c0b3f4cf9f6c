import {
  type ApplyResult,
  type Command,
  DiscoverdState,
  type DiscoverdStateOptions,
  encodeCommand,
  type Instance,
  instanceId,
  type KvCompare,
  type KvOp,
  type ServiceMeta,
} from '../src/index.js';

export function inst(addr: string, meta?: Record<string, string>, proto = 'tcp'): Instance {
  const i: Instance = { id: instanceId(proto, addr), addr, proto };
  if (meta) i.meta = meta;
  return i;
}

/** A state plus a log index counter; each call applies one entry at the next index. */
export class Harness {
  readonly state: DiscoverdState;
  index = 0;

  constructor(opts: DiscoverdStateOptions = {}) {
    this.state = new DiscoverdState(opts);
  }

  apply(cmd: Command): ApplyResult {
    this.index++;
    return this.state.apply(this.index, encodeCommand(cmd));
  }

  raw(data: Uint8Array): ApplyResult {
    this.index++;
    return this.state.apply(this.index, data);
  }

  addService(service: string, leader_type: 'oldest' | 'manual' = 'oldest'): ApplyResult {
    return this.apply({ type: 'addService', Service: service, Config: { leader_type } });
  }

  removeService(service: string): ApplyResult {
    return this.apply({ type: 'removeService', Service: service });
  }

  add(service: string, instance: Instance): ApplyResult {
    return this.apply({ type: 'addInstance', Service: service, Instance: instance });
  }

  remove(service: string, id: string): ApplyResult {
    return this.apply({ type: 'removeInstance', Service: service, ID: id });
  }

  expire(...keys: [string, string][]): ApplyResult {
    return this.apply({
      type: 'expireInstances',
      Instances: keys.map(([Service, InstanceID]) => ({ Service, InstanceID })),
    });
  }

  setLeader(service: string, id: string): ApplyResult {
    return this.apply({ type: 'setLeader', Service: service, ID: id });
  }

  setMeta(service: string, meta: ServiceMeta): ApplyResult {
    return this.apply({ type: 'setServiceMeta', Service: service, Meta: meta });
  }

  txn(Compare: KvCompare[], Success: KvOp[], Failure: KvOp[] = []): ApplyResult {
    return this.apply({ type: 'kvTxn', Compare, Success, Failure });
  }

  put(Key: string, Value: string): ApplyResult {
    return this.txn([], [{ Op: 'put', Key, Value }]);
  }

  del(Key: string): ApplyResult {
    return this.txn([], [{ Op: 'delete', Key }]);
  }
}

export function expectOk(r: ApplyResult): Extract<ApplyResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.code}: ${r.error.message}`);
  return r;
}

/** Events reduced to kind + instance id (or meta index) for compact assertions. */
export function brief(r: ApplyResult): string[] {
  return r.events.map((e) => {
    if (e.kind === 'service_meta') return `${e.service}:service_meta@${e.service_meta?.index}`;
    return `${e.service}:${e.kind}${e.instance ? `:${e.instance.addr}` : ''}`;
  });
}

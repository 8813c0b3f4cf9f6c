import { type Command, decodeCommand, encodeCommand } from './commands.js';
import type { HhError } from './types.js';
import { isIndex, isPlainObject } from './util.js';
import {
  validateInstance,
  validateInstanceMeta,
  validateInstanceRef,
  validateKvTxn,
  validateKvTxnLimits,
  validateServiceMetaData,
  validateServiceName,
} from './validate.js';

// The gate in front of the log (issue 11): a command is proposed only if it passes every check
// here, so nothing enters the log that a node would fail to decode or apply for its shape. What
// still fails at apply depends on the state (a missing service, a meta CAS): that is a normal,
// deterministic answer, and the leader asks DiscoverdState.refusal() first to avoid most of it.

function invalid(message: string): HhError {
  return { code: 'validation_error', message };
}

function isString(v: unknown): v is string {
  return typeof v === 'string';
}

function checkShape(cmd: Command): HhError | undefined {
  switch (cmd.type) {
    case 'addService': {
      const lt = (cmd.Config as unknown as Record<string, unknown> | undefined)?.leader_type;
      return (
        validateServiceName(cmd.Service) ??
        (lt === 'oldest' || lt === 'manual'
          ? undefined
          : invalid('discoverd: leader_type must be "oldest" or "manual"'))
      );
    }
    case 'removeService':
      return validateServiceName(cmd.Service);
    case 'setServiceMeta': {
      const m = cmd.Meta as unknown;
      if (!isPlainObject(m)) return invalid('discoverd: service meta must be an object');
      if (!isIndex(m.index)) return invalid('discoverd: meta index must be a non-negative integer');
      return (
        validateServiceName(cmd.Service) ??
        (m.leader_id === undefined ? undefined : validateInstanceRef(m.leader_id, 'leader_id')) ??
        validateServiceMetaData(m.data)
      );
    }
    case 'setLeader':
      // An empty id clears a manual leader (apply allows it; the HTTP route asks for one).
      return (
        validateServiceName(cmd.Service) ??
        (cmd.ID === '' ? undefined : validateInstanceRef(cmd.ID, 'leader id'))
      );
    case 'addInstance': {
      const inst = cmd.Instance as unknown;
      if (!isPlainObject(inst) || !isString(inst.id) || !isString(inst.addr) || !isString(inst.proto)) {
        return invalid('discoverd: instance id, addr and proto must be strings');
      }
      if (inst.index !== undefined && !isIndex(inst.index)) {
        return invalid('discoverd: instance index must be a non-negative integer');
      }
      if (cmd.ExpiryTime !== undefined && (!isString(cmd.ExpiryTime) || cmd.ExpiryTime.length > 64)) {
        return invalid('discoverd: ExpiryTime must be a short string');
      }
      return (
        validateServiceName(cmd.Service) ??
        validateInstance({ id: inst.id, addr: inst.addr, proto: inst.proto }) ??
        validateInstanceMeta(inst.meta)
      );
    }
    case 'removeInstance':
      return validateServiceName(cmd.Service) ?? validateInstanceRef(cmd.ID);
    case 'expireInstances':
      // From the leader's own state: names committed by older versions must still expire.
      if (!Array.isArray(cmd.Instances)) return invalid('discoverd: Instances must be an array');
      return cmd.Instances.every((k) => isPlainObject(k) && isString(k.Service) && isString(k.InstanceID))
        ? undefined
        : invalid('discoverd: every expired instance needs a Service and an InstanceID');
    case 'kvTxn':
      for (const list of [cmd.Compare, cmd.Success, cmd.Failure]) {
        if (!Array.isArray(list) || !list.every(isPlainObject))
          return invalid('kv: a transaction needs lists of objects');
      }
      return validateKvTxn(cmd) ?? validateKvTxnLimits(cmd);
    default:
      return invalid(`discoverd: unknown command type ${JSON.stringify((cmd as { type?: unknown }).type)}`);
  }
}

/**
 * Checks a command completely and encodes it as a log entry; an HhError (400) when it must not
 * be proposed. The entry is decoded once more, so even a gap in the checks above cannot put an
 * undecodable entry in the log.
 */
export function checkCommand(cmd: Command): { data: Uint8Array } | { error: HhError } {
  const bad = checkShape(cmd);
  if (bad) return { error: bad };
  let data: Uint8Array;
  try {
    data = encodeCommand(cmd);
    decodeCommand(data);
  } catch (err) {
    return { error: invalid((err as Error).message) };
  }
  return { data };
}

// A key-value register set: the simulator's state machine (client histories need real values for
// lincheck, and a fingerprint per applied index shows state-machine safety), and the one the
// raft-kv demo node serves (apps/raft-kv, which owns its node, protocol and client). Commands are
// JSON (small and rare next to an fsync); the snapshot is the whole map.

export type KvCommand =
  | { op: 'put'; key: string; value: string }
  | { op: 'cas'; key: string; expected: string | null; value: string }
  | { op: 'del'; key: string };

export interface KvResult {
  ok: boolean;
  /** The value before the command. */
  prev: string | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeKvCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export function decodeKvCommand(data: Uint8Array): KvCommand {
  const cmd = JSON.parse(decoder.decode(data)) as KvCommand;
  if (typeof cmd !== 'object' || cmd === null || typeof cmd.key !== 'string')
    throw new Error('bad kv command');
  return cmd;
}

export class KvStateMachine {
  private readonly map = new Map<string, string>();
  appliedIndex = 0;

  /** Applies the entry at `index`; empty entries (leader no-ops) and undecodable ones change nothing. */
  apply(index: number, data: Uint8Array): KvResult | null {
    this.appliedIndex = index;
    if (data.byteLength === 0) return null;
    let cmd: KvCommand;
    try {
      cmd = decodeKvCommand(data);
    } catch {
      return null;
    }
    const prev = this.map.get(cmd.key) ?? null;
    switch (cmd.op) {
      case 'put':
        this.map.set(cmd.key, cmd.value);
        return { ok: true, prev };
      case 'cas':
        if (prev !== cmd.expected) return { ok: false, prev };
        this.map.set(cmd.key, cmd.value);
        return { ok: true, prev };
      case 'del':
        this.map.delete(cmd.key);
        return { ok: true, prev };
      default:
        return null;
    }
  }

  get(key: string): string | null {
    return this.map.get(key) ?? null;
  }

  get size(): number {
    return this.map.size;
  }

  snapshot(): Uint8Array {
    const entries = [...this.map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return encoder.encode(JSON.stringify(entries));
  }

  restore(index: number, data: Uint8Array): void {
    this.map.clear();
    if (data.byteLength > 0) {
      for (const [k, v] of JSON.parse(decoder.decode(data)) as [string, string][]) this.map.set(k, v);
    }
    this.appliedIndex = index;
  }

  /** A cheap fingerprint of the contents, for convergence checks. */
  fingerprint(): string {
    let h = 0x811c9dc5;
    const keys = [...this.map.keys()].sort();
    for (const k of keys) {
      const s = `${k}=${this.map.get(k)};`;
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
    }
    return `${keys.length}:${h.toString(16)}`;
  }
}

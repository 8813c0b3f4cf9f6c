// The part of the cluster store API (discoverd /kv/) the app model uses. KvClient from
// @flynn-edge/discoverd-client satisfies it, and so does the CLI's HTTP implementation.

export interface StoreEntry {
  key: string;
  value: string;
  mod_revision: number;
}

export type StoreCompare =
  | { key: string; op: '=' | '<' | '>'; mod_revision: number }
  | { key: string; op: 'absent' | 'present' };

export type StoreOp = { op: 'put'; key: string; value: string } | { op: 'delete'; key: string };

export interface StoreKv {
  get(key: string): Promise<StoreEntry | null>;
  list(prefix: string): Promise<{ revision: number; entries: StoreEntry[] }>;
  txn(req: { compare?: StoreCompare[]; success?: StoreOp[]; failure?: StoreOp[] }): Promise<{
    succeeded: boolean;
    revision: number;
  }>;
}

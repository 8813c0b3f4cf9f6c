import type { KvEntry, KvEvent } from '@flynn-edge/discoverd-state';
import type { Clock } from './clock.js';
import { DiscoverdError, isNotFound } from './errors.js';
import type { Transport } from './http.js';
import { type ReconnectTiming, runResumableStream } from './resumable.js';

// The cluster store under /kv/ (packages/discoverd-server/src/kv-routes.ts): get, put and delete
// with an optional mod_revision guard, prefix list and delete, etcd-style transactions, and a
// watch that resumes from a revision or reports "compacted, re-list". Reads are linearizable
// unless `stale` is asked for. Requests carry the cluster key (Authorization: Bearer) when set.

export interface KvDeps {
  transport: Transport;
  clock: Clock;
}

export interface KvReadOptions {
  /** Answer from the asked node's local state (no redirect to the leader, no ReadIndex). */
  stale?: boolean;
  /** Wait until the answering node has applied this log index (read-your-writes). */
  index?: number;
}

export interface KvPutOptions {
  /** Compare-and-set: 0 = the key must not exist; n = its mod_revision must be n. */
  prevRevision?: number;
}

export interface KvDeleteOptions {
  /** Only delete when the key's mod_revision is this (must be > 0). */
  prevRevision?: number;
}

/** What a put answers: the key's new revisions. */
export interface KvPutResult {
  key: string;
  /** Store revision of the write (= mod_revision). */
  revision: number;
  create_revision: number;
  mod_revision: number;
  version: number;
}

export interface KvDeleteResult {
  revision: number;
  deleted: number;
}

export interface KvListOptions extends KvReadOptions {
  limit?: number;
  /** Only keys sorting after this one (pagination). */
  startAfter?: string;
}

export interface KvListResult {
  revision: number;
  entries: KvEntry[];
  /** True when `limit` cut the list short. */
  more: boolean;
}

/** Transaction guards, in the wire format of POST /kv/txn. */
export type KvTxnCompare =
  | { key: string; op: '=' | '<' | '>'; mod_revision: number }
  | { key: string; op: 'absent' | 'present' };

export type KvTxnOp =
  | { op: 'put'; key: string; value: string }
  | { op: 'delete'; key: string }
  | { op: 'delete_prefix'; prefix: string };

export interface KvTxnRequest {
  compare?: KvTxnCompare[];
  success?: KvTxnOp[];
  failure?: KvTxnOp[];
}

export type KvTxnOpResult =
  | { op: 'put'; key: string; prev?: KvEntry }
  | { op: 'delete'; key: string; deleted: number; prev?: KvEntry }
  | { op: 'delete_prefix'; prefix: string; deleted: number };

export interface KvTxnResponse {
  succeeded: boolean;
  revision: number;
  results: KvTxnOpResult[];
}

export interface KvCompaction {
  /** Events at or below this revision are gone from the server's watch history. */
  compactRevision: number;
  /** The store revision when the server refused. */
  revision: number;
}

export interface KvWatchOptions extends ReconnectTiming {
  /** First revision to deliver (default: changes after the store revision when the watch starts). */
  startRevision?: number;
  /** Every change, in revision order; all events of one transaction share a revision. */
  onEvent?: (event: KvEvent) => void;
  /** All changes of one revision at once (a transaction is seen whole). */
  onRevision?: (revision: number, events: KvEvent[]) => void;
  /**
   * The server cannot resume from where the watch is (its history no longer reaches back):
   * re-list, and resolve with the revision the listing was taken at to resume after it. When
   * absent or resolving undefined, the watch ends with a `compacted` DiscoverdError.
   */
  onCompacted?: (info: KvCompaction) => number | undefined | Promise<number | undefined>;
  /** Called once when the watch ends with an error (compaction unhandled, reconnects exhausted). */
  onError?: (err: Error) => void;
}

/** `a/b c` → `a/b%20c`: each segment encoded, slashes kept. Undefined when a URL cannot carry it. */
export function kvKeyPath(key: string): string | undefined {
  const segments = key.split('/');
  // "." and ".." segments (even percent-encoded) are resolved away by URL parsing.
  if (segments.some((s) => s === '.' || s === '..')) return undefined;
  return `/kv/${segments.map(encodeURIComponent).join('/')}`;
}

function qs(params: Record<string, string | number | boolean | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== false) u.set(k, String(v));
  const s = u.toString();
  return s === '' ? '' : `?${s}`;
}

function readParams(opts: KvReadOptions): Record<string, string | number | boolean | undefined> {
  return { stale: opts.stale ? 'true' : undefined, index: opts.index };
}

interface WireEvent {
  type: 'put' | 'delete';
  key: string;
  value?: string;
  prev_revision?: number;
}

export class KvClient {
  private readonly watches = new Set<KvWatch>();

  constructor(private readonly deps: KvDeps) {}

  private get t(): Transport {
    return this.deps.transport;
  }

  /** The entry, or null when the key does not exist. */
  async get(key: string, opts: KvReadOptions = {}): Promise<KvEntry | null> {
    const path = kvKeyPath(key);
    if (path === undefined) {
      const r = await this.list(key, { ...opts, limit: 1 });
      return r.entries[0]?.key === key ? r.entries[0] : null;
    }
    try {
      return await this.t.json<KvEntry>('GET', `${path}${qs(readParams(opts))}`);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /**
   * Writes `value`. With `prevRevision` it is a compare-and-set: a mismatch throws a
   * DiscoverdError `precondition_failed` (412) whose `detail` is the entry as it is (or null).
   */
  async put(key: string, value: string, opts: KvPutOptions = {}): Promise<KvPutResult> {
    const path = kvKeyPath(key);
    if (path === undefined) return this.putByTxn(key, value, opts);
    const body: { value: string; prev_revision?: number } = { value };
    if (opts.prevRevision !== undefined) body.prev_revision = opts.prevRevision;
    return this.t.json<KvPutResult>('PUT', path, { body });
  }

  /** Deletes a key (deleted: 0 when it did not exist); `prevRevision` guards it like put. */
  async delete(key: string, opts: KvDeleteOptions = {}): Promise<KvDeleteResult> {
    const path = kvKeyPath(key);
    if (path === undefined) return this.deleteByTxn(key, opts);
    return this.t.json<KvDeleteResult>('DELETE', `${path}${qs({ prev_revision: opts.prevRevision })}`);
  }

  /** Deletes every key under a non-empty prefix. */
  async deletePrefix(prefix: string): Promise<KvDeleteResult> {
    if (prefix === '') throw new DiscoverdError({ code: 'validation_error', message: 'kv: empty prefix' });
    return this.t.json<KvDeleteResult>('DELETE', `/kv${qs({ prefix })}`);
  }

  /** Entries under `prefix`, sorted by key; one page when `limit` is set. */
  async list(prefix = '', opts: KvListOptions = {}): Promise<KvListResult> {
    const q = qs({
      prefix: prefix || undefined,
      limit: opts.limit,
      start_after: opts.startAfter,
      ...readParams(opts),
    });
    return this.t.json<KvListResult>('GET', `/kv${q}`);
  }

  /** Every entry under `prefix`, paging with `pageSize`; the revision is the first page's. */
  async listAll(prefix = '', opts: KvReadOptions & { pageSize?: number } = {}): Promise<KvListResult> {
    const pageSize = opts.pageSize ?? 1000;
    const first = await this.list(prefix, { ...opts, limit: pageSize });
    const entries = [...first.entries];
    let more = first.more;
    // Later pages wait for the first page's revision, so they are never older than it.
    while (more && entries.length > 0) {
      const page = await this.list(prefix, {
        ...opts,
        limit: pageSize,
        startAfter: entries[entries.length - 1]!.key,
        index: Math.max(opts.index ?? 0, first.revision),
      });
      entries.push(...page.entries);
      more = page.more;
    }
    return { revision: first.revision, entries, more: false };
  }

  /** An etcd-style transaction: every compare holds → `success` ops, else `failure` ops; atomic. */
  async txn(req: KvTxnRequest): Promise<KvTxnResponse> {
    return this.t.json<KvTxnResponse>('POST', '/kv/txn', {
      body: { compare: req.compare ?? [], success: req.success ?? [], failure: req.failure ?? [] },
    });
  }

  /** Watches changes under `prefix` (SSE), resuming after reconnects without gaps or repeats. */
  watch(prefix: string, opts: KvWatchOptions): KvWatch {
    const w = new KvWatch(this.deps, this, prefix, opts);
    this.watches.add(w);
    void w.done.then(() => this.watches.delete(w));
    return w;
  }

  close(): void {
    for (const w of this.watches) w.close();
  }

  private async putByTxn(key: string, value: string, opts: KvPutOptions): Promise<KvPutResult> {
    const r = await this.txn({
      compare: guard(key, opts.prevRevision),
      success: [{ op: 'put', key, value }],
    });
    if (!r.succeeded) throw await this.guardFailed(key, opts.prevRevision ?? 0);
    const res = r.results[0];
    const prev = res?.op === 'put' ? res.prev : undefined;
    return {
      key,
      revision: r.revision,
      create_revision: prev ? prev.create_revision : r.revision,
      mod_revision: r.revision,
      version: prev ? prev.version + 1 : 1,
    };
  }

  private async deleteByTxn(key: string, opts: KvDeleteOptions): Promise<KvDeleteResult> {
    const r = await this.txn({ compare: guard(key, opts.prevRevision), success: [{ op: 'delete', key }] });
    if (!r.succeeded) throw await this.guardFailed(key, opts.prevRevision ?? 0);
    const res = r.results[0];
    return { revision: r.revision, deleted: res?.op === 'delete' ? res.deleted : 0 };
  }

  private async guardFailed(key: string, prev: number): Promise<DiscoverdError> {
    const cur = await this.get(key).catch(() => null);
    return new DiscoverdError({
      code: 'precondition_failed',
      message: prev === 0 ? 'kv: the key already exists' : `kv: the key's mod_revision is not ${prev}`,
      status: 412,
      detail: cur,
    });
  }
}

function guard(key: string, prev: number | undefined): KvTxnCompare[] {
  if (prev === undefined) return [];
  return prev === 0 ? [{ key, op: 'absent' }] : [{ key, op: '=', mod_revision: prev }];
}

/** A running KV watch. */
export class KvWatch {
  /** Highest revision delivered (or the revision the watch started after). */
  revision: number | undefined;
  /** Resolves when the first stream is open (the watch is live from then on). */
  readonly ready: Promise<void>;
  /** Resolves when the watch stops: undefined after close(), the error when it gave up. */
  readonly done: Promise<Error | undefined>;
  connections = 0;
  private readonly ctrl = new AbortController();
  private closed = false;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;

  constructor(
    private readonly deps: KvDeps,
    private readonly kv: KvClient,
    readonly prefix: string,
    private readonly opts: KvWatchOptions,
  ) {
    this.revision = opts.startRevision !== undefined ? Math.max(0, opts.startRevision - 1) : undefined;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {});
    this.done = this.run();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctrl.abort(new Error('kv watch closed'));
  }

  private async run(): Promise<Error | undefined> {
    let compaction: KvCompaction | undefined;
    const err = await runResumableStream({
      ...this.deps,
      signal: this.ctrl.signal,
      label: 'kv watch stream',
      timing: this.opts,
      resetOn: 'open',
      path: async () => {
        if (this.revision === undefined) {
          // "From now": pin the start so a reconnect before the first event loses nothing.
          const r = await this.kv.list(this.prefix, { limit: 1, stale: true });
          this.revision = r.revision;
        }
        compaction = undefined;
        const q = qs({ watch: 'true', prefix: this.prefix || undefined, start_revision: this.revision + 1 });
        return `/kv${q}`;
      },
      opened: () => {
        this.connections++;
        this.resolveReady();
      },
      message: (msg) => {
        if (msg.event === 'compacted') {
          const info = JSON.parse(msg.data) as { compact_revision: number; revision: number };
          compaction = { compactRevision: info.compact_revision, revision: info.revision };
          return;
        }
        if (msg.event === 'error') {
          throw new DiscoverdError({
            code: 'stream_error',
            message: `Server error: ${msg.data}`,
            retry: true,
          });
        }
        this.deliver(JSON.parse(msg.data) as { revision: number; events: WireEvent[] });
      },
      ended: async () => {
        if (!compaction) return false;
        this.revision = await this.resumeAfter(compaction);
        return true;
      },
      // A request no retry fixes (bad prefix, wrong key), or a compaction nobody re-listed.
      fatal: (err) =>
        err instanceof DiscoverdError &&
        (err.code === 'compacted' || (!err.retry && err.status >= 400 && err.status < 500)),
    });
    if (err) return this.fail(err);
    this.rejectReady(new Error('kv watch closed'));
    return undefined;
  }

  /** The revision to resume after once the server refused to (`onCompacted` re-listed). */
  private async resumeAfter(compaction: KvCompaction): Promise<number> {
    const resume = await this.opts.onCompacted?.(compaction);
    if (resume === undefined) {
      throw new DiscoverdError({
        code: 'compacted',
        message: `kv: watch of ${JSON.stringify(this.prefix)} cannot resume after revision ${this.revision}: compacted up to ${compaction.compactRevision}; re-list`,
        detail: compaction,
      });
    }
    return resume;
  }

  private deliver(batch: { revision: number; events: WireEvent[] }): void {
    // Never hand out a revision twice (a resumed stream starts strictly after this one).
    if (this.revision !== undefined && batch.revision <= this.revision) return;
    this.revision = batch.revision;
    const events: KvEvent[] = batch.events.map((e) => {
      const ev: KvEvent = { type: e.type, key: e.key, revision: batch.revision };
      if (e.type === 'put') ev.value = e.value ?? '';
      if (e.prev_revision !== undefined) ev.prevRevision = e.prev_revision;
      return ev;
    });
    try {
      this.opts.onRevision?.(batch.revision, events);
      if (this.opts.onEvent) for (const ev of events) this.opts.onEvent(ev);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  private fail(err: Error): Error {
    this.closed = true;
    this.ctrl.abort(err);
    this.rejectReady(err);
    this.opts.onError?.(err);
    return err;
  }
}

import {
  type HhError,
  type KvCompare,
  type KvEntry,
  type KvEvent,
  type KvOp,
  type KvOpResult,
  type KvTxnResult,
  MAX_KV_KEY_BYTES,
  validateKvCompare,
  validateKvKey,
  validateKvOp,
  validateKvPrefix,
} from '@flynn-edge/discoverd-state';
import { NotLeaderError } from '@flynn-edge/raft';
import {
  type ErrorCode,
  HttpError,
  type Metrics,
  openSse,
  parseDuration,
  type SseStream,
  sendJson,
} from '@flynn-edge/service-kit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type CheckedCommand, type DiscoverdContext, noLeader, writing } from './context.js';
import { sendRedirect } from './redirect.js';

// The cluster store's HTTP API under /kv/: a small etcd v3 over JSON (see README-kv.md).
//
// - Reads are linearizable by default: a follower redirects them to the leader (307), and the
//   leader answers after a ReadIndex barrier. `?stale=true` answers from local state at once.
// - `?index=N` (on every read, here and on the registry's GET routes) first waits until this
//   node has applied log index N: read-your-writes, since every write answers its revision,
//   and a revision is a log index.
// - Writes map onto the state machine's kvTxn command; a follower redirects them.
// - Watches are SSE streams served by the node asked, one event per revision with
//   `id: <revision>`, resumable with Last-Event-ID, or `event: compacted` when the local watch
//   history no longer reaches back far enough.
//
// Values may be TLS private keys: nothing here logs a value.

type Query = Record<string, unknown>;
type KeyParams = { '*': string };

/** How long `?index=N` waits by default, and at most (`?wait=` overrides, Go duration syntax). */
export const DEFAULT_INDEX_WAIT_MS = 5_000;
export const MAX_INDEX_WAIT_MS = 60_000;

/** `event: error` text for a watcher dropped because it did not read fast enough. */
export const SLOW_WATCHER = 'discoverd: kv watcher fell behind; resume with Last-Event-ID';

function invalid(message: string): HttpError {
  return new HttpError('validation_error', message);
}

function check(err: HhError | undefined): void {
  if (err) throw new HttpError(err.code as ErrorCode, err.message);
}

/** A state-machine validation message placed at a position of a transaction. */
function checkAt(where: string, err: HhError | undefined): void {
  if (err) throw invalid(`kv: ${where}: ${err.message.replace(/^kv: /, '')}`);
}

function query(req: FastifyRequest): Query {
  return (req.query ?? {}) as Query;
}

function param(q: Query, name: string, scope = 'kv'): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(`${scope}: query parameter ${name} is given more than once`);
  return v;
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseIndex(v: string): number | undefined {
  if (!/^\d{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

function intParam(q: Query, name: string, scope = 'kv'): number | undefined {
  const v = param(q, name, scope);
  if (v === undefined) return undefined;
  const n = parseIndex(v);
  if (n === undefined) throw invalid(`${scope}: ${name} must be a non-negative integer`);
  return n;
}

function boolParam(q: Query, name: string): boolean {
  const v = param(q, name);
  if (v === undefined) return false;
  switch (v.toLowerCase()) {
    case '':
    case 'true':
    case '1':
      return true;
    case 'false':
    case '0':
      return false;
  }
  throw invalid(`kv: ${name} must be true or false`);
}

// ---- waiting for an applied index (?index=N) ----

interface IndexWaiter {
  index: number;
  timer: NodeJS.Timeout;
  resolve(ok: boolean): void;
}

/**
 * Lets requests wait until this node has applied a log index. The apply path calls notify();
 * entries that never reach the state machine (leader no-ops, membership changes) also move the
 * applied index, so a slow poll backs the notifications up while anyone waits.
 */
export class AppliedIndexWaiter {
  private waiters: IndexWaiter[] = [];
  private poll: NodeJS.Timeout | undefined;
  private scheduled = false;

  constructor(
    private readonly current: () => number,
    private readonly pollMs = 20,
  ) {}

  get index(): number {
    return this.current();
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves true once the applied index is >= `index`, false after `timeoutMs`. */
  wait(index: number, timeoutMs: number): Promise<boolean> {
    if (this.current() >= index) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const w: IndexWaiter = {
        index,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          this.stopPollIfIdle();
          resolve(this.current() >= index);
        }, timeoutMs),
      };
      this.waiters.push(w);
      this.poll ??= setInterval(() => this.check(), this.pollMs).unref();
    });
  }

  /** Called from the apply path; the check runs once the applied index has moved. */
  notify(): void {
    if (this.scheduled || this.waiters.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.check();
    });
  }

  private check(): void {
    const now = this.current();
    const still: IndexWaiter[] = [];
    for (const w of this.waiters) {
      if (w.index <= now) {
        clearTimeout(w.timer);
        w.resolve(true);
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
    this.stopPollIfIdle();
  }

  private stopPollIfIdle(): void {
    if (this.waiters.length > 0 || this.poll === undefined) return;
    clearInterval(this.poll);
    this.poll = undefined;
  }

  /** Fails every waiter (the server is closing). */
  close(): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiters = [];
    this.stopPollIfIdle();
  }
}

export interface IndexParam {
  index: number | undefined;
  waitMs: number;
}

/** Parses and validates `?index=N[&wait=<duration>]`. */
export function indexParam(req: FastifyRequest): IndexParam {
  const q = query(req);
  const index = intParam(q, 'index', 'discoverd');
  const waitRaw = param(q, 'wait', 'discoverd');
  let waitMs = DEFAULT_INDEX_WAIT_MS;
  if (waitRaw !== undefined) {
    let ms: number;
    try {
      ms = parseDuration(waitRaw);
    } catch {
      throw invalid('discoverd: wait must be a duration such as 500ms or 2s');
    }
    if (!(ms >= 0)) throw invalid('discoverd: wait must not be negative');
    waitMs = Math.min(ms, MAX_INDEX_WAIT_MS);
  }
  return { index, waitMs };
}

/**
 * Handles `?index=N[&wait=<duration>]`: waits until this node has applied index N, or throws
 * 503 service_unavailable (retry: true) when that takes longer than the wait.
 */
export async function awaitIndexParam(
  applied: AppliedIndexWaiter,
  req: FastifyRequest,
  parsed: IndexParam = indexParam(req),
): Promise<void> {
  const { index, waitMs } = parsed;
  if (index === undefined) return;
  if (await applied.wait(index, waitMs)) return;
  throw new HttpError(
    'service_unavailable',
    `discoverd: timed out waiting for index ${index} to be applied here (at ${applied.index})`,
    { retry: true },
  );
}

/** A preHandler for GET routes (the registry's): honours `?index=N` before answering. */
export function indexWaitHook(applied: AppliedIndexWaiter) {
  return async (req: FastifyRequest): Promise<void> => {
    if (req.method === 'GET' || req.method === 'HEAD') await awaitIndexParam(applied, req);
  };
}

// ---- watchers ----

export interface KvWatcherOptions {
  /** `:` comment after this long without a write (default 30 s). */
  keepAliveMs?: number;
  /** Unsent bytes after which a watcher is dropped (default 1 MiB). */
  maxBufferedBytes?: number;
}

interface Watcher {
  prefix: string;
  /** The last revision sent (or the revision the watch started after). */
  last: number;
  stream: SseStream;
}

/** A KvEvent as watchers receive it: lowercase snake_case like the rest of the API. */
function eventJson(e: KvEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { type: e.type, key: e.key };
  if (e.type === 'put') out.value = e.value ?? '';
  if (e.prevRevision !== undefined) out.prev_revision = e.prevRevision;
  return out;
}

/** Splits events (oldest first) into runs of one revision. */
function byRevision(events: readonly KvEvent[]): { revision: number; events: KvEvent[] }[] {
  const out: { revision: number; events: KvEvent[] }[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last && last.revision === e.revision) last.events.push(e);
    else out.push({ revision: e.revision, events: [e] });
  }
  return out;
}

function frame(revision: number, events: readonly KvEvent[]): string {
  return JSON.stringify({ revision, events: events.map(eventJson) });
}

/**
 * The open KV watch streams of this node. Each SSE event carries every change of one revision
 * under the watcher's prefix (a transaction is seen whole), with `id: <revision>`.
 */
export class KvWatchers {
  private readonly watchers = new Set<Watcher>();
  /** Watchers dropped for reading too slowly. */
  dropped = 0;
  /** Called for each dropped watcher (the metrics counter). */
  onDrop: (() => void) | undefined;

  constructor(private readonly opts: KvWatcherOptions = {}) {}

  get count(): number {
    return this.watchers.size;
  }

  private sse(reply: FastifyReply, onClose?: (overflow: boolean) => void): SseStream {
    return openSse(reply, {
      keepAliveMs: this.opts.keepAliveMs ?? 30_000,
      maxBufferedBytes: this.opts.maxBufferedBytes ?? 1024 * 1024,
      dropMessage: SLOW_WATCHER,
      onClose: (reason) => onClose?.(reason === 'overflow'),
    });
  }

  /** Opens a watch after revision `after`, first sending `backlog` (events after it). */
  open(reply: FastifyReply, prefix: string, after: number, backlog: readonly KvEvent[]): void {
    const w: Watcher = { prefix, last: after, stream: undefined as unknown as SseStream };
    w.stream = this.sse(reply, (overflow) => {
      if (overflow) {
        this.dropped++;
        this.onDrop?.();
      }
      this.watchers.delete(w);
    });
    this.watchers.add(w);
    for (const g of byRevision(backlog)) if (!this.deliver(w, g.revision, frame(g.revision, g.events))) break;
  }

  /** Answers a watch that cannot resume: `event: compacted`, then the stream ends. */
  refuse(reply: FastifyReply, info: { compact_revision: number; revision: number }): void {
    const stream = this.sse(reply);
    stream.send('compacted', JSON.stringify(info));
    stream.close();
  }

  private deliver(w: Watcher, revision: number, data: string): boolean {
    if (revision <= w.last || w.stream.closed) return true;
    w.last = revision;
    return w.stream.send(undefined, data, String(revision));
  }

  /** Live events from the apply path (one applied entry's events, oldest first). */
  publish(events: readonly KvEvent[]): void {
    if (this.watchers.size === 0 || events.length === 0) return;
    for (const g of byRevision(events)) {
      // Watchers on the same prefix share one serialisation.
      const frames = new Map<string, string | null>();
      for (const w of [...this.watchers]) {
        let data = frames.get(w.prefix);
        if (data === undefined) {
          const mine = w.prefix === '' ? g.events : g.events.filter((e) => e.key.startsWith(w.prefix));
          data = mine.length > 0 ? frame(g.revision, mine) : null;
          frames.set(w.prefix, data);
        }
        if (data !== null) this.deliver(w, g.revision, data);
      }
    }
  }

  /**
   * The local history was replaced (a snapshot was installed): events between what watchers
   * saw and the snapshot are gone, so every watcher is told to re-list.
   */
  compactAll(info: { compact_revision: number; revision: number }): void {
    const data = JSON.stringify(info);
    for (const w of [...this.watchers]) {
      w.stream.send('compacted', data);
      w.stream.close();
    }
    this.watchers.clear();
  }

  closeAll(): void {
    for (const w of [...this.watchers]) w.stream.close();
    this.watchers.clear();
  }
}

// ---- request bodies ----

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

function resultJson(r: KvOpResult): Record<string, unknown> {
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

// ---- routes ----

export interface KvRoutesOptions {
  applied: AppliedIndexWaiter;
  watchers: KvWatchers;
  /** Where the KV request counter and watcher gauge go (the server's registry). */
  metrics?: Metrics;
}

function wantsWatch(req: FastifyRequest, q: Query): boolean {
  return boolParam(q, 'watch') || (req.headers.accept ?? '').includes('text/event-stream');
}

/** The bounded `op` label of a request, from its route pattern and method. */
function opOf(req: FastifyRequest): string {
  const route = req.routeOptions.url;
  const m = req.method;
  if (route === '/kv/txn') return 'txn';
  if (route === '/kv/*') return m === 'PUT' ? 'put' : m === 'DELETE' ? 'delete' : 'get';
  if (route === '/kv' || route === '/kv/') {
    if (m === 'DELETE') return 'delete_prefix';
    try {
      return wantsWatch(req, query(req)) ? 'watch' : 'list';
    } catch {
      return 'list';
    }
  }
  return 'other';
}

function keyOf(req: FastifyRequest<{ Params: KeyParams }>): string {
  const key = req.params['*'] ?? '';
  check(validateKvKey(key));
  return key;
}

export function kvRoutes(ctx: DiscoverdContext, opts: KvRoutesOptions) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const { state, raft } = ctx;
    const { applied, watchers, metrics } = opts;

    const requests = metrics?.counter(
      `${metrics.prefix}kv_requests_total`,
      'Cluster store (/kv/) requests by operation and HTTP status code.',
      ['op', 'code'],
    );
    metrics?.gauge(`${metrics.prefix}kv_watchers`, 'Open cluster store watch streams on this node.', [], {
      collect() {
        this.set(watchers.count);
      },
    });
    if (metrics) {
      const dropped = metrics.counter(
        `${metrics.prefix}kv_watchers_dropped_total`,
        'Cluster store watchers dropped for reading too slowly.',
      );
      watchers.onDrop = () => dropped.inc();
    }
    const counted = new WeakSet<FastifyRequest>();
    const count = (req: FastifyRequest, status: number): void => {
      if (!requests || counted.has(req)) return;
      counted.add(req);
      requests.inc({ op: opOf(req), code: String(status) });
    };
    app.addHook('onResponse', async (req, reply) => count(req, reply.statusCode));

    /**
     * The consistency gate of every read. Linearizable (the default): a follower redirects to
     * the leader; the leader confirms it still leads (ReadIndex) and has applied everything
     * committed before the read. `stale=true`: answer from local state. `index=N` waits first.
     * Returns false when the reply has already been sent (a redirect).
     */
    async function readGate(req: FastifyRequest, reply: FastifyReply, q: Query): Promise<boolean> {
      const stale = boolParam(q, 'stale');
      const wanted = indexParam(req);
      if (!stale && !ctx.leaderOrRedirect(req, reply)) return false;
      await awaitIndexParam(applied, req, wanted);
      if (stale) return true;
      try {
        await raft.readBarrier();
      } catch (err) {
        if (err instanceof NotLeaderError || (err as { code?: string }).code === 'not_leader') {
          const leader = (err as NotLeaderError).leader ?? raft.leaderId;
          if (leader && leader !== ctx.advertised) {
            sendRedirect(reply, req, leader);
            return false;
          }
          throw noLeader();
        }
        throw new HttpError('service_unavailable', `discoverd: ${(err as Error).message}`, { retry: true });
      }
      return true;
    }

    /** The kvTxn command, checked in full (sizes too) before any redirect. */
    function checked(cmd: ParsedTxn): CheckedCommand {
      return ctx.check({ type: 'kvTxn', ...cmd });
    }

    async function txn(req: FastifyRequest, reply: FastifyReply, cmd: CheckedCommand): Promise<KvTxnResult> {
      return (await ctx.write(req, reply, cmd)) as KvTxnResult;
    }

    /** The guard of a single-key write: none, "absent" (0) or mod_revision = n. */
    function guard(key: string, prev: number | undefined): KvCompare[] {
      if (prev === undefined) return [];
      return prev === 0 ? [{ Key: key, Op: 'absent' }] : [{ Key: key, Op: '=', ModRevision: prev }];
    }

    /** 412 with the entry as it is now (null when absent) in `detail`. */
    function compareFailed(key: string, prev: number): HttpError {
      const cur: KvEntry | undefined = state.kvGet(key);
      const message =
        prev === 0
          ? 'kv: the key already exists'
          : cur
            ? `kv: the key's mod_revision is ${cur.mod_revision}, not ${prev}`
            : `kv: the key does not exist (expected mod_revision ${prev})`;
      return new HttpError('precondition_failed', message, { detail: cur ?? null });
    }

    async function watch(req: FastifyRequest, reply: FastifyReply, q: Query): Promise<FastifyReply> {
      const prefix = param(q, 'prefix') ?? '';
      check(validateKvPrefix(prefix));
      const start = intParam(q, 'start_revision');
      const lastId = req.headers['last-event-id'];
      let after: number | undefined;
      if (lastId !== undefined) {
        const n = typeof lastId === 'string' ? parseIndex(lastId.trim()) : undefined;
        if (n === undefined) throw invalid('kv: Last-Event-ID must be a revision (a non-negative integer)');
        after = n;
      } else if (start !== undefined && start > 0) {
        after = start - 1;
      }
      await awaitIndexParam(applied, req, indexParam(req));
      // Synchronous from here: the backlog and the registration see the same applied state, so
      // no event falls between them.
      const from = after ?? state.kvRevision();
      const backlog = state.kvEventsSince(from, prefix);
      count(req, 200);
      if (backlog === 'compacted') {
        watchers.refuse(reply, {
          compact_revision: state.kvCompactedRevision(),
          revision: state.kvRevision(),
        });
      } else {
        watchers.open(reply, prefix, from, backlog);
      }
      return reply;
    }

    async function list(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
      const q = query(req);
      if (wantsWatch(req, q)) return watch(req, reply, q);
      const prefix = param(q, 'prefix') ?? '';
      check(validateKvPrefix(prefix));
      const limit = intParam(q, 'limit') ?? 0;
      const startAfter = param(q, 'start_after');
      if (startAfter !== undefined && Buffer.byteLength(startAfter, 'utf8') > MAX_KV_KEY_BYTES) {
        throw invalid(`kv: start_after must be at most ${MAX_KV_KEY_BYTES} bytes`);
      }
      if (!(await readGate(req, reply, q))) return reply;
      const r = state.kvList(prefix, { limit, startAfter });
      return sendJson(reply, 200, { revision: r.revision, entries: r.entries, more: r.more });
    }

    function deletePrefix(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
      return writing(reply, async () => {
        const prefix = param(query(req), 'prefix');
        if (!prefix) {
          throw invalid('kv: a prefix delete needs a non-empty ?prefix= (refusing to delete every key)');
        }
        check(validateKvPrefix(prefix));
        const cmd = checked({ Compare: [], Success: [{ Op: 'deletePrefix', Prefix: prefix }], Failure: [] });
        if (!ctx.leaderOrRedirect(req, reply)) return reply;
        const r = await txn(req, reply, cmd);
        const res = r.results[0];
        const deleted = res?.op === 'deletePrefix' ? res.deleted.length : 0;
        return sendJson(reply, 200, { revision: r.revision, deleted });
      });
    }

    app.get('/kv', list);
    app.get('/kv/', list);
    app.delete('/kv', deletePrefix);
    app.delete('/kv/', deletePrefix);

    app.get<{ Params: KeyParams }>('/kv/*', async (req, reply) => {
      const key = keyOf(req);
      if (!(await readGate(req, reply, query(req)))) return reply;
      const entry = state.kvGet(key);
      if (!entry) throw new HttpError('object_not_found', 'kv: key not found');
      return sendJson(reply, 200, entry);
    });

    app.put<{ Params: KeyParams }>('/kv/*', { config: { decodeJson: 'lenient' } }, (req, reply) =>
      writing(reply, async () => {
        const key = keyOf(req);
        const body = objectAt(req.body, '');
        onlyFields(body, ['value', 'prev_revision'], '');
        if (typeof body.value !== 'string') throw invalid('kv: value must be a string');
        const value = body.value;
        const prevRaw = body.prev_revision;
        if (prevRaw !== undefined && prevRaw !== null && !isIndex(prevRaw)) {
          throw invalid('kv: prev_revision must be a non-negative integer');
        }
        const prev = prevRaw ?? undefined;
        const cmd = checked({
          Compare: guard(key, prev),
          Success: [{ Op: 'put', Key: key, Value: value }],
          Failure: [],
        });
        if (!ctx.leaderOrRedirect(req, reply)) return reply;
        const r = await txn(req, reply, cmd);
        if (!r.succeeded) throw compareFailed(key, prev ?? 0);
        const res = r.results[0];
        const old = res?.op === 'put' ? res.prev : undefined;
        return sendJson(reply, 200, {
          key,
          revision: r.revision,
          create_revision: old ? old.create_revision : r.revision,
          mod_revision: r.revision,
          version: old ? old.version + 1 : 1,
        });
      }),
    );

    app.delete<{ Params: KeyParams }>('/kv/*', (req, reply) =>
      writing(reply, async () => {
        const key = keyOf(req);
        const prev = intParam(query(req), 'prev_revision');
        if (prev === 0) throw invalid('kv: prev_revision must be positive for a delete');
        const cmd = checked({
          Compare: guard(key, prev),
          Success: [{ Op: 'delete', Key: key }],
          Failure: [],
        });
        if (!ctx.leaderOrRedirect(req, reply)) return reply;
        const r = await txn(req, reply, cmd);
        if (!r.succeeded) throw compareFailed(key, prev ?? 0);
        const res = r.results[0];
        const deleted = res?.op === 'delete' && res.prev ? 1 : 0;
        return sendJson(reply, 200, { revision: r.revision, deleted });
      }),
    );

    app.post('/kv/txn', { config: { decodeJson: 'lenient' } }, (req, reply) =>
      writing(reply, async () => {
        const cmd = checked(parseTxnBody(req.body));
        if (!ctx.leaderOrRedirect(req, reply)) return reply;
        const r = await txn(req, reply, cmd);
        return sendJson(reply, 200, {
          succeeded: r.succeeded,
          revision: r.revision,
          results: r.results.map(resultJson),
        });
      }),
    );
  };
}

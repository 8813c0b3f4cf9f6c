import {
  type KvCompare,
  type KvEntry,
  type KvTxnResult,
  MAX_KV_KEY_BYTES,
  validateKvKey,
  validateKvPrefix,
} from '@flynn-edge/discoverd-state';
import { NotLeaderError } from '@flynn-edge/raft';
import { HttpError, type Metrics, sendJson } from '@flynn-edge/service-kit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type AppliedIndexWaiter, awaitIndexParam, indexParam } from './applied-index.js';
import { type CheckedCommand, type DiscoverdContext, noLeader, writing } from './context.js';
import { type ParsedTxn, parsePutBody, parseTxnBody, resultJson } from './kv-body.js';
import type { KvWatchers } from './kv-watch.js';
import { boolParam, check, intParam, invalid, param, parseIndex, type Query, query } from './params.js';
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

type KeyParams = { '*': string };

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
        const { value, prev } = parsePutBody(req.body);
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

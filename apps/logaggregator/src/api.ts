// The HTTP API (spec §4.4): GET /log/:app (NDJSON, optionally following), GET /cursors and
// GET /snapshot. /.well-known/status and /metrics come from service-kit's createHttpServer.

import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { errors, type HttpServer, sendJson } from '@flynn-edge/service-kit';
import { jobIdOf, processTypeOf } from '@flynn-edge/syslog';
import type { Aggregator } from './aggregator.js';
import { messageLine, type StreamName, streamName } from './format.js';
import type { Entry } from './ring.js';
import { SNAPSHOT_CONTENT_TYPE, snapshotChunks } from './snapshot.js';

export const MAX_LINES = 10_000;
export const LINES_MESSAGE = 'lines must be an integer between 0 and 10000';
export const STREAM_TYPES_MESSAGE = 'stream_types must be a comma-separated list of stdout, stderr and init';
/** What Go's net/http sniffs for a JSON body written without a Content-Type, as Flynn's API did. */
export const LOG_CONTENT_TYPE = 'text/plain; charset=utf-8';
export const DEFAULT_FOLLOWER_BUFFER = 1000;

const ACCEPTED_STREAMS = new Set<string>(['stdout', 'stderr', 'init', 'unknown']);

export interface LogQuery {
  follow: boolean;
  /** 0 = all buffered (without follow) or none (with follow). */
  lines: number;
  jobId?: string;
  /** '' selects messages whose PROCID has no process type. */
  processType?: string;
  streams?: ReadonlySet<StreamName>;
}

/**
 * The query of GET /log/:app, with Go's form semantics: the first value of `follow`, `lines`,
 * `job_id` and `stream_types` counts, the last value of `process_type` does.
 */
export function parseLogQuery(params: URLSearchParams): LogQuery {
  const q: LogQuery = { follow: params.get('follow') === 'true', lines: 0 };
  const rawLines = params.get('lines');
  if (rawLines !== null && rawLines !== '') {
    // strconv.Atoi: optional sign, decimal digits only.
    const n = /^[+-]?\d{1,12}$/.test(rawLines) ? Number(rawLines) : Number.NaN;
    if (!Number.isInteger(n) || n < 0 || n > MAX_LINES) {
      throw errors.validation(LINES_MESSAGE, { detail: { field: 'lines' } });
    }
    q.lines = Math.abs(n); // "-0" is 0
  }
  const jobId = params.get('job_id');
  if (jobId) q.jobId = jobId;
  const types = params.getAll('process_type');
  if (types.length > 0) q.processType = types[types.length - 1];
  const rawStreams = params.get('stream_types');
  if (rawStreams) {
    const streams = new Set<StreamName>();
    for (const s of rawStreams.split(',')) {
      if (s === '') continue;
      if (!ACCEPTED_STREAMS.has(s))
        throw errors.validation(STREAM_TYPES_MESSAGE, { detail: { field: 'stream_types' } });
      streams.add(s as StreamName);
    }
    if (streams.size > 0) q.streams = streams;
  }
  return q;
}

/** The filters of a query, ANDed. */
export function matcher(q: LogQuery): (e: Entry) => boolean {
  const { jobId, processType, streams } = q;
  if (jobId === undefined && processType === undefined && streams === undefined) return () => true;
  return (e) => {
    const m = e.m;
    if (jobId !== undefined && jobIdOf(m.procId) !== jobId) return false;
    if (processType !== undefined && (processTypeOf(m.procId) ?? '') !== processType) return false;
    if (streams !== undefined && !streams.has(streamName(m.msgId))) return false;
    return true;
  };
}

export function lineOf(e: Entry): Buffer {
  e.line ??= Buffer.from(messageLine(e.m));
  return e.line;
}

function joinLines(entries: readonly Entry[]): Buffer {
  const bufs = new Array<Buffer>(entries.length);
  let total = 0;
  for (let i = 0; i < entries.length; i++) {
    const b = lineOf(entries[i]!);
    bufs[i] = b;
    total += b.length;
  }
  return Buffer.concat(bufs, total);
}

/**
 * A follow=true response: the backlog first, then live messages. Live messages wait in a queue of
 * at most `max` while the socket is backed up; beyond that they are dropped (and counted).
 * Writes are batched per event-loop turn, so a line reaches the socket within milliseconds.
 */
export class Follower {
  private queue: Buffer[] = [];
  private writable = true;
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly max: number,
    private readonly onDrop: () => void,
  ) {}

  start(backlog: readonly Entry[]): void {
    this.res.flushHeaders();
    if (backlog.length > 0) this.write(joinLines(backlog));
  }

  push(e: Entry): void {
    if (this.closed) return;
    if (this.queue.length >= this.max) {
      this.onDrop();
      return;
    }
    this.queue.push(lineOf(e));
    if (!this.scheduled && this.writable) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed || !this.writable || this.queue.length === 0) return;
    const chunk = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue);
    this.queue = [];
    this.write(chunk);
  }

  private write(chunk: Buffer): void {
    this.writable = this.res.write(chunk);
    if (!this.writable) {
      this.res.once('drain', () => {
        this.writable = true;
        this.flush();
      });
    }
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.res.end();
  }
}

export interface LogApiOptions {
  aggregator: Aggregator;
  /** Live messages a follower may have queued before drops start (default 1000, as in Flynn). */
  followerBuffer?: number;
}

/** Adds the aggregator routes to `app`; returns a function that ends every open follower. */
export function registerLogApi(app: HttpServer, opts: LogApiOptions): { endFollowers: () => void } {
  const agg = opts.aggregator;
  const max = opts.followerBuffer ?? DEFAULT_FOLLOWER_BUFFER;
  const followers = new Set<Follower>();

  app.get('/log/:app', async (request, reply) => {
    const appId = (request.params as { app: string }).app;
    const url = new URL(request.raw.url ?? '/', 'http://localhost');
    const q = parseLogQuery(url.searchParams);
    const match = matcher(q);
    if (!q.follow) {
      const body = joinLines(agg.read(appId, q.lines, match));
      return reply.code(200).header('content-type', LOG_CONTENT_TYPE).send(body);
    }
    // Backlog and subscription in the same tick: nothing is missed or repeated in between.
    const backlog = q.lines > 0 ? agg.read(appId, q.lines, match) : [];
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': LOG_CONTENT_TYPE, 'cache-control': 'no-cache' });
    const follower = new Follower(res, max, () => agg.drop('follower_overflow'));
    followers.add(follower);
    const unsubscribe = agg.subscribe(appId, (e) => match(e) && follower.push(e), { follower: true });
    res.on('close', () => {
      unsubscribe();
      followers.delete(follower);
      follower.end();
    });
    follower.start(backlog);
  });

  app.get('/cursors', async (_request, reply) => sendJson(reply, 200, agg.cursorsJSON()));

  app.get('/snapshot', async (_request, reply) =>
    reply
      .code(200)
      .header('content-type', SNAPSHOT_CONTENT_TYPE)
      .send(Readable.from(snapshotChunks(agg))),
  );

  return {
    endFollowers() {
      for (const f of [...followers]) f.end();
      followers.clear();
    },
  };
}

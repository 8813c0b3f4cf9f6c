// LogStore: the host's per-app log files in one directory, the per-host seq counter, live
// subscribers, and readers (history, backwards tail, follow = history then live, messages after a
// host cursor for shipping).

import {
  type Cursor,
  compareCursor,
  formatFrames,
  formatTimestamp,
  frameHead,
  frameMessage,
  frameSize,
  type LogMessage,
  MAX_LINE,
  nowMicros,
  splitLine,
} from '@flynn-edge/syslog';
import {
  appFiles,
  classify,
  closeFiles,
  currentPath,
  lastFrameSync,
  type OpenFile,
  openFilesSync,
  readBackward,
  readForward,
  safeReaddir,
  seekAfter,
  validateAppId,
} from './files.js';
import { type FrameChunk, framesAfter } from './frames.js';
import { keyOf, type LogFilter, RawFilter } from './scan.js';
import { AppLogWriter, type FrameItem, itemMessages, type WriterCounters } from './writer.js';

export interface LogStoreOptions {
  /** the log directory (Flynn: /var/log/flynn) */
  dir: string;
  /** default HOSTNAME of written messages (the host id) */
  hostId: string;
  /** rotation size per app file (default 100 MB) */
  maxBytes?: number;
  /** per-app bound on queued bytes before lines are dropped (default 8 MB) */
  maxQueueBytes?: number;
  /** clock in microseconds since the epoch (tests) */
  now?: () => bigint;
  /** file names (without .log) in the directory that are not app logs */
  ignore?: string[];
  onError?: (err: Error, appId: string) => void;
}

export interface WriteInput {
  hostname?: string;
  /** '<type>.<job id>' or '<job id>' */
  procId: string;
  /** 'ID1' stdout, 'ID2' stderr, 'ID3' init */
  msgId: string;
  /** one line (a trailing '\n' is dropped; embedded '\n' split it into several messages) */
  msg: Buffer | string;
  /** message time; default now. Never earlier than the previous message's (cursor order). */
  time?: bigint | Date;
}

export type { LogFilter } from './scan.js';

export interface StreamOptions {
  /** apps to read (default: every app in the directory, including ones created later) */
  appIds?: string[];
  filter?: LogFilter;
  /** only messages with a cursor strictly after this one */
  from?: Cursor;
  /** keep streaming live messages after the history (default false) */
  follow?: boolean;
  /** live messages buffered for a slow consumer before it falls back to reading the disk (default 10000) */
  liveBuffer?: number;
}

export type Subscriber = (m: LogMessage) => void;

/** Frames just accepted for one app, in write order (on-disk form: each frame ends in '\n'). */
export interface FrameBatch {
  appId: string;
  buf: Buffer;
  count: number;
  /** cursors of the first and the last frame */
  first: Cursor;
  last: Cursor;
}

export type FrameSubscriber = (b: FrameBatch) => void;

export class LogStore {
  readonly dir: string;
  readonly hostId: string;
  private readonly writers = new Map<string, AppLogWriter>();
  private readonly subscribers = new Set<Subscriber>();
  private readonly frameSubscribers = new Set<FrameSubscriber>();
  private readonly opts: LogStoreOptions;
  private readonly ignore: Set<string>;
  private seq: number;
  private lastMicros = -1n;
  private lastTs = '';
  private closedWriterCounters: WriterCounters = emptyCounters();
  private closed = false;

  constructor(opts: LogStoreOptions) {
    this.opts = opts;
    this.dir = opts.dir;
    this.hostId = opts.hostId;
    this.ignore = new Set(opts.ignore ?? ['flynn-host']);
    // Resume the host cursor after a restart: newest (time, seq) over the current files.
    let newest: LogMessage | undefined;
    for (const appId of this.listApps()) {
      const f = openFilesSync([currentPath(this.dir, appId)]);
      try {
        for (const of of f) {
          const w = lastMessageSync(of);
          if (w && (!newest || compareCursor(cur(w), cur(newest)) > 0)) newest = w;
        }
      } finally {
        closeFiles(f);
      }
    }
    this.seq = newest ? (newest.seq + 1) >>> 0 : 0;
    if (newest) this.lastTs = newest.timestamp;
  }

  /** The host cursor of the newest message written (or found on disk at startup). */
  get cursor(): Cursor | undefined {
    if (this.lastTs === '') return undefined;
    return { time: this.lastTs, seq: (this.seq - 1) >>> 0 };
  }

  /** Apps with a log file in the directory or a writer. */
  listApps(): string[] {
    const apps = new Set<string>(this.writers.keys());
    for (const n of safeReaddir(this.dir)) {
      const c = classify(n);
      if (c && !this.ignore.has(c.appId)) apps.add(c.appId);
    }
    return [...apps].sort();
  }

  /**
   * Assigns time and seq, splits the line, queues the messages for the app's file and hands them to
   * subscribers. Never blocks; returns the messages accepted (dropped ones are only counted).
   */
  write(appId: string, input: WriteInput): LogMessage[] {
    if (this.closed) return [];
    const w = this.writer(appId);
    const raw = typeof input.msg === 'string' ? Buffer.from(input.msg) : input.msg;
    const body = raw.length > 0 && raw[raw.length - 1] === 0x0a ? raw.subarray(0, raw.length - 1) : raw;
    const lines: Buffer[] = [];
    let p = 0;
    for (;;) {
      const nl = body.indexOf(0x0a, p);
      if (nl < 0) {
        lines.push(...splitLine(body.subarray(p)));
        break;
      }
      lines.push(...splitLine(body.subarray(p, nl)));
      p = nl + 1;
    }
    const out: LogMessage[] = [];
    for (const line of lines) {
      const m: LogMessage = {
        timestamp: this.timestamp(input.time),
        hostname: input.hostname || this.hostId,
        appName: appId,
        procId: input.procId || '-',
        msgId: input.msgId || '-',
        seq: this.seq,
        msg: Buffer.from(line),
      };
      let frame: Buffer;
      try {
        frame = frameMessage(m, true);
      } catch (err) {
        this.opts.onError?.(err as Error, appId);
        w.counters.dropped++;
        continue;
      }
      if (!w.enqueue(m, frame)) continue;
      this.seq = (this.seq + 1) >>> 0;
      this.lastTs = m.timestamp;
      out.push(m);
      this.publish(appId, [m], frame, 1, cur(m), cur(m));
    }
    return out;
  }

  /**
   * The hot path for job output: many lines of one process and stream at once, framed into one
   * buffer with one timestamp and queued as one item (no object per line). Line i is
   * `data[starts[i], ends[i])` without '\n' (longer than MAX_LINE: split like write()). Returns
   * how many messages were accepted (the others are counted as dropped).
   */
  writeLines(
    appId: string,
    procId: string,
    msgId: string,
    data: Buffer,
    starts: readonly number[],
    ends: readonly number[],
  ): number {
    if (this.closed || starts.length === 0) return 0;
    const w = this.writer(appId);
    let s = starts;
    let e = ends;
    for (let i = 0; i < s.length; i++) {
      if (e[i]! - s[i]! > MAX_LINE) {
        [s, e] = splitLong(s, e);
        break;
      }
    }
    const ts = this.timestamp(undefined);
    let head: Buffer;
    try {
      head = frameHead(ts, this.hostId, appId, procId || '-', msgId || '-');
    } catch (err) {
      this.opts.onError?.(err as Error, appId);
      w.counters.dropped += s.length;
      return 0;
    }
    // Which lines fit (same rule as write(): each frame on its own against the queue bound).
    let seq = this.seq;
    let bytes = 0;
    let keepS: number[] | undefined;
    let keepE: number[] | undefined;
    let dropped = 0;
    for (let i = 0; i < s.length; i++) {
      const size = frameSize(head.length, seq, e[i]! - s[i]!, true);
      if (!w.accepts(size, bytes)) {
        if (!keepS) {
          keepS = s.slice(0, i);
          keepE = e.slice(0, i);
        }
        dropped++;
        continue;
      }
      bytes += size;
      seq = (seq + 1) >>> 0;
      if (keepS) {
        keepS.push(s[i]!);
        keepE!.push(e[i]!);
      }
    }
    w.counters.dropped += dropped;
    if (keepS) {
      s = keepS;
      e = keepE!;
    }
    const count = s.length;
    if (count === 0) return 0;
    const seq0 = this.seq;
    const buf = formatFrames(head, seq0, data, s, e, true);
    w.enqueueFrames({ buf, count });
    this.seq = (seq0 + count) >>> 0;
    this.lastTs = ts;
    const first = { time: ts, seq: seq0 };
    const last = { time: ts, seq: (seq0 + count - 1) >>> 0 };
    if (this.subscribers.size > 0 || this.frameSubscribers.size > 0) {
      let msgs: LogMessage[] | undefined;
      if (this.subscribers.size > 0) {
        msgs = [];
        for (let i = 0; i < count; i++) {
          msgs.push({
            timestamp: ts,
            hostname: this.hostId,
            appName: appId,
            procId: procId || '-',
            msgId: msgId || '-',
            seq: (seq0 + i) >>> 0,
            msg: Buffer.from(data.subarray(s[i]!, e[i]!)),
          });
        }
      }
      this.publish(appId, msgs, buf, count, first, last);
    }
    return count;
  }

  private publish(
    appId: string,
    msgs: LogMessage[] | undefined,
    buf: Buffer,
    count: number,
    first: Cursor,
    last: Cursor,
  ): void {
    if (msgs) {
      for (const m of msgs) {
        for (const fn of this.subscribers) {
          try {
            fn(m);
          } catch (err) {
            this.opts.onError?.(err as Error, appId);
          }
        }
      }
    }
    if (this.frameSubscribers.size === 0) return;
    const batch: FrameBatch = { appId, buf, count, first, last };
    for (const fn of this.frameSubscribers) {
      try {
        fn(batch);
      } catch (err) {
        this.opts.onError?.(err as Error, appId);
      }
    }
  }

  /**
   * Live frames of every app as they are accepted, in write order, one call per batch (for
   * shipping: no object per message). Returns an unsubscribe function.
   */
  subscribeFrames(fn: FrameSubscriber): () => void {
    this.frameSubscribers.add(fn);
    return () => {
      this.frameSubscribers.delete(fn);
    };
  }

  /** Live messages of every app, in write order. Returns an unsubscribe function. */
  subscribe(fn: Subscriber): () => void {
    this.subscribers.add(fn);
    return () => {
      this.subscribers.delete(fn);
    };
  }

  /** Counters summed over all apps (or one app). */
  stats(appId?: string): WriterCounters & { queueBytes: number } {
    const total = { ...emptyCounters(), queueBytes: 0 };
    const add = (c: WriterCounters, q: number) => {
      for (const k of Object.keys(c) as Array<keyof WriterCounters>) total[k] += c[k];
      total.queueBytes += q;
    };
    if (appId !== undefined) {
      const w = this.writers.get(appId);
      if (w) add(w.counters, w.queueBytes);
      return total;
    }
    add(this.closedWriterCounters, 0);
    for (const w of this.writers.values()) add(w.counters, w.queueBytes);
    return total;
  }

  /** The writer of an app (created on first use). */
  writer(appId: string): AppLogWriter {
    let w = this.writers.get(appId);
    if (!w) {
      validateAppId(appId);
      w = new AppLogWriter(this.dir, appId, {
        maxBytes: this.opts.maxBytes,
        maxQueueBytes: this.opts.maxQueueBytes,
        onError: (err) => this.opts.onError?.(err, appId),
      });
      this.writers.set(appId, w);
    }
    return w;
  }

  /** Resolves when everything accepted so far is on disk. */
  async flush(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.flush()));
  }

  async close(): Promise<void> {
    this.closed = true;
    const ws = [...this.writers.values()];
    this.writers.clear();
    await Promise.all(ws.map((w) => w.close()));
    for (const w of ws) {
      for (const k of Object.keys(w.counters) as Array<keyof WriterCounters>)
        this.closedWriterCounters[k] += w.counters[k];
    }
    this.subscribers.clear();
    this.frameSubscribers.clear();
  }

  /** History old → new across the rotated and current file (plus accepted lines not yet flushed). */
  readHistory(appId: string, filter: LogFilter = {}): LogStream {
    validateAppId(appId);
    return new LogStream(this, { appIds: [appId], filter });
  }

  /** Collects readHistory into an array. */
  async history(appId: string, filter: LogFilter = {}): Promise<LogMessage[]> {
    const out: LogMessage[] = [];
    for await (const m of this.readHistory(appId, filter)) out.push(m);
    return out;
  }

  /** History then live messages, with nothing lost or repeated across rotations. */
  follow(appId: string, filter: LogFilter = {}, fromCursor?: Cursor): LogStream {
    validateAppId(appId);
    return new LogStream(this, { appIds: [appId], filter, from: fromCursor, follow: true });
  }

  /** Every message on disk (and queued) newer than a host cursor, in cursor order, for shipping. */
  messagesAfter(cursor: Cursor | undefined, appIds?: string[]): LogStream {
    return new LogStream(this, { appIds, from: cursor });
  }

  /**
   * Every app's frames after a host cursor (files, then queued ones), merged in cursor order, as
   * wire-form chunks: shipping's catch-up, without an object per message. The snapshot is taken
   * at the first next().
   */
  async *framesAfter(
    from: Cursor | undefined,
    chunkBytes?: number,
  ): AsyncGenerator<FrameChunk, void, undefined> {
    const snap = this.snapshot();
    try {
      yield* framesAfter(snap, from, chunkBytes);
    } finally {
      snap.release();
    }
  }

  /** General stream (history, optionally then live) over some or all apps. */
  stream(opts: StreamOptions): LogStream {
    return new LogStream(this, opts);
  }

  /**
   * The last `n` matching messages (old → new), reading the files backwards in blocks so only the
   * end of the history is touched.
   */
  async tail(appId: string, n: number, filter: LogFilter = {}): Promise<LogMessage[]> {
    validateAppId(appId);
    if (!Number.isInteger(n) || n < 0)
      throw new RangeError(`tail: n must be a non-negative integer, got ${n}`);
    if (n === 0) return [];
    const snap = this.snapshot([appId]);
    const raw = new RawFilter(filter);
    try {
      const app = snap.apps[0]!;
      const pendingKeys = new Set(app.pending.map(keyOf));
      const pend = app.pending.filter((m) => matches(m, filter));
      const chunks: LogMessage[][] = [pend.slice(-n)];
      let have = chunks[0]!.length;
      for (let i = app.files.length - 1; i >= 0 && have < n; i--) {
        await readBackward(app.files[i]!, raw, (msgs) => {
          const fresh = pendingKeys.size > 0 ? msgs.filter((m) => !pendingKeys.has(keyOf(m))) : msgs;
          const take = fresh.length > n - have ? fresh.slice(fresh.length - (n - have)) : fresh;
          chunks.push(take);
          have += take.length;
          return have < n;
        });
      }
      const out: LogMessage[] = [];
      for (let i = chunks.length - 1; i >= 0; i--) out.push(...chunks[i]!);
      return out;
    } finally {
      snap.release();
    }
  }

  /**
   * Synchronously (so no write completes or rotation happens in between): the newest cursor, each
   * app's queued messages, and open fds of its files with their sizes.
   */
  snapshot(appIds?: string[]): Snapshot {
    const names = safeReaddir(this.dir);
    const ids = appIds ?? this.listApps();
    const apps: SnapshotApp[] = [];
    const opened: OpenFile[] = [];
    try {
      for (const appId of ids) {
        const files = openFilesSync(appFiles(this.dir, appId, names));
        opened.push(...files);
        const items = this.writers.get(appId)?.pendingItems() ?? [];
        let parsed: LogMessage[] | undefined;
        apps.push({
          appId,
          files,
          pendingItems: items,
          // parsed only by readers that want messages
          get pending() {
            parsed ??= itemMessages(items);
            return parsed;
          },
        });
      }
    } catch (err) {
      closeFiles(opened);
      throw err;
    }
    return { cursor: this.cursor, apps, release: () => closeFiles(opened) };
  }

  private timestamp(t: bigint | Date | undefined): string {
    let micros: bigint;
    if (t === undefined) micros = (this.opts.now ?? nowMicros)();
    else if (t instanceof Date) micros = BigInt(t.getTime()) * 1000n;
    else micros = t;
    if (micros < this.lastMicros) micros = this.lastMicros;
    this.lastMicros = micros;
    const ts = formatTimestamp(micros);
    // also never go behind what was found on disk at startup
    return this.lastTs !== '' && ts < this.lastTs ? this.lastTs : ts;
  }
}

export interface SnapshotApp {
  appId: string;
  files: OpenFile[];
  /** messages accepted but not yet known to be on disk */
  readonly pending: LogMessage[];
  /** the same as queued frames */
  pendingItems: FrameItem[];
}

export interface Snapshot {
  cursor: Cursor | undefined;
  apps: SnapshotApp[];
  release(): void;
}

/** Bounds with every line longer than MAX_LINE cut into MAX_LINE pieces (as splitLine does). */
function splitLong(starts: readonly number[], ends: readonly number[]): [number[], number[]] {
  const s: number[] = [];
  const e: number[] = [];
  for (let i = 0; i < starts.length; i++) {
    const a = starts[i]!;
    const b = ends[i]!;
    if (b - a <= MAX_LINE) {
      s.push(a);
      e.push(b);
      continue;
    }
    for (let p = a; p < b; p += MAX_LINE) {
      s.push(p);
      e.push(Math.min(p + MAX_LINE, b));
    }
  }
  return [s, e];
}

function emptyCounters(): WriterCounters {
  return { bytesWritten: 0, linesWritten: 0, rotations: 0, dropped: 0, writeErrors: 0, repairedBytes: 0 };
}

function cur(m: LogMessage): Cursor {
  return { time: m.timestamp, seq: m.seq };
}

/** Whether a parsed message passes a filter (same rules as the raw filter). */
export function matches(m: LogMessage, f: LogFilter): boolean {
  if (f.streams && !f.streams.includes(m.msgId)) return false;
  if (f.jobId !== undefined || f.processType !== undefined) {
    const nil = m.procId === '-';
    const dot = m.procId.indexOf('.');
    const job = nil ? '' : dot < 0 ? m.procId : m.procId.slice(dot + 1);
    const type = dot < 0 ? '' : m.procId.slice(0, dot);
    if (f.jobId !== undefined && job !== f.jobId) return false;
    if (f.processType !== undefined && type !== f.processType) return false;
  }
  return true;
}

function lastMessageSync(f: OpenFile): LogMessage | undefined {
  return lastFrameSync(f.fd, f.size).last;
}

/**
 * An async iterable of messages: the history (merged across apps in cursor order), then, with
 * `follow`, live messages. A consumer too slow for the live buffer falls back to reading the disk
 * from its last cursor, so nothing is lost or repeated (unless rotation deleted it meanwhile).
 */
export class LogStream implements AsyncIterable<LogMessage> {
  private closed = false;
  private wake: (() => void) | undefined;
  private started = false;
  /** live messages that overflowed the buffer and had to be re-read from disk */
  catchUps = 0;

  constructor(
    private readonly store: LogStore,
    private readonly opts: StreamOptions,
  ) {}

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Collects the (non-follow) stream into an array. */
  async toArray(): Promise<LogMessage[]> {
    const out: LogMessage[] = [];
    for await (const m of this) out.push(m);
    return out;
  }

  [Symbol.asyncIterator](): AsyncIterator<LogMessage> {
    if (this.started) throw new Error('a LogStream can be iterated once');
    this.started = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<LogMessage, void, undefined> {
    const { filter = {}, follow = false } = this.opts;
    const appSet = this.opts.appIds ? new Set(this.opts.appIds) : undefined;
    const liveMax = this.opts.liveBuffer ?? 10_000;
    let live: LogMessage[] = [];
    let head = 0;
    let overflow = false;
    let last = this.opts.from;
    const unsub = follow
      ? this.store.subscribe((m) => {
          if (appSet && !appSet.has(m.appName)) return;
          if (live.length - head >= liveMax) {
            overflow = true;
            return;
          }
          live.push(m);
          this.wake?.();
        })
      : undefined;
    try {
      for (;;) {
        // catch-up round: everything up to the newest cursor comes from disk + writer queues
        live = [];
        head = 0;
        overflow = false;
        const snap = this.store.snapshot(this.opts.appIds);
        const upTo = snap.cursor;
        try {
          for await (const batch of mergeApps(snap, last, filter)) {
            for (const m of batch) {
              if (this.closed) return;
              last = cur(m);
              if (matches(m, filter)) yield m;
            }
          }
        } finally {
          snap.release();
        }
        if (upTo && (!last || compareCursor(upTo, last) > 0)) last = upTo;
        if (!follow) return;
        for (;;) {
          while (head < live.length) {
            const m = live[head++]!;
            // live messages all follow the snapshot, so they cannot repeat disk ones; only a
            // caller's cursor ahead of them can exclude some
            if (this.opts.from && compareCursor(cur(m), this.opts.from) <= 0) continue;
            last = cur(m);
            if (matches(m, filter)) yield m;
            if (this.closed) return;
          }
          live = [];
          head = 0;
          if (this.closed) return;
          if (overflow) break;
          await new Promise<void>((r) => {
            this.wake = r;
          });
          this.wake = undefined;
        }
        this.catchUps++;
      }
    } finally {
      unsub?.();
    }
  }
}

/**
 * Per app: messages on disk (up to each file's size at the snapshot) after `from` (seeking near it
 * first), then the writer's queued ones not seen on disk; merged across apps by cursor, in batches.
 * Everything accepted after the snapshot reaches a follower live.
 */
async function* mergeApps(
  snap: Snapshot,
  from: Cursor | undefined,
  filter: LogFilter,
): AsyncGenerator<LogMessage[], void, undefined> {
  // Cursor bounds need every message (filters are applied by the caller) unless there is one app.
  const raw = snap.apps.length === 1 ? new RawFilter(filter) : new RawFilter();
  const sources = snap.apps.map((a) => appSource(a, from, raw, filter));
  if (sources.length === 1) {
    yield* sources[0]!;
    return;
  }
  const heads: Array<{ it: AsyncGenerator<LogMessage[]>; batch: LogMessage[]; i: number } | undefined> = [];
  for (const it of sources) {
    const r = await it.next();
    heads.push(r.done ? undefined : { it, batch: r.value, i: 0 });
  }
  let out: LogMessage[] = [];
  for (;;) {
    let best = -1;
    for (let k = 0; k < heads.length; k++) {
      const h = heads[k];
      if (!h) continue;
      if (best < 0 || compareCursor(cur(h.batch[h.i]!), cur(heads[best]!.batch[heads[best]!.i]!)) < 0)
        best = k;
    }
    if (best < 0) break;
    const h = heads[best]!;
    out.push(h.batch[h.i++]!);
    if (h.i >= h.batch.length) {
      const r = await h.it.next();
      heads[best] = r.done ? undefined : { it: h.it, batch: r.value, i: 0 };
    }
    if (out.length >= 1000) {
      yield out;
      out = [];
    }
  }
  if (out.length > 0) yield out;
}

async function* appSource(
  app: SnapshotApp,
  from: Cursor | undefined,
  raw: RawFilter,
  filter: LogFilter,
): AsyncGenerator<LogMessage[], void, undefined> {
  let lastDisk: Cursor | undefined;
  let started = !from;
  for (const f of app.files) {
    let start = 0;
    if (!started && from) {
      // skip whole files (and most of a file) that end before `from`
      start = await seekAfter(f, from);
    }
    for await (const batch of readForward(f, raw, start)) {
      const keep: LogMessage[] = [];
      for (const m of batch) {
        const c = cur(m);
        if (from && compareCursor(c, from) <= 0) continue;
        started = true;
        lastDisk = c;
        keep.push(m);
      }
      if (keep.length > 0) yield keep;
    }
  }
  const rest = app.pending.filter((m) => {
    const c = cur(m);
    if (lastDisk && compareCursor(c, lastDisk) <= 0) return false;
    if (from && compareCursor(c, from) <= 0) return false;
    return raw.matchesAll || matches(m, filter);
  });
  if (rest.length > 0) yield rest;
}

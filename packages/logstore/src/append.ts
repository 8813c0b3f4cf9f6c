// The store's write side: the per-host (time, seq) cursor, framing lines into the apps' writers,
// and live subscribers. One path frames every line, whether it comes from write() or writeLines().

import {
  type Cursor,
  compareCursor,
  formatFrames,
  formatTimestamp,
  frameHead,
  frameSize,
  type LogMessage,
  MAX_LINE,
  nowMicros,
} from '@flynn-edge/syslog';
import { closeFiles, currentPath, lastFrameSync, openFilesSync, validateAppId } from './files.js';
import { cursorOf } from './scan.js';
import { AppLogWriter, type FrameItem, type WriterCounters } from './writer.js';

export interface AppenderOptions {
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

/** The header fields shared by the lines of one append. */
interface Head {
  time: bigint | Date | undefined;
  hostname: string;
  procId: string;
  msgId: string;
}

export class LogAppender {
  private readonly writers = new Map<string, AppLogWriter>();
  private readonly subscribers = new Set<Subscriber>();
  private readonly frameSubscribers = new Set<FrameSubscriber>();
  private seq: number;
  private lastMicros = -1n;
  private lastTs = '';
  private closedWriterCounters: WriterCounters = emptyCounters();
  private closed = false;

  /** `apps`: the apps with files in the directory, to resume the host cursor after a restart. */
  constructor(
    private readonly opts: AppenderOptions,
    apps: string[],
  ) {
    let newest: LogMessage | undefined;
    for (const appId of apps) {
      const f = openFilesSync([currentPath(opts.dir, appId)]);
      try {
        for (const of of f) {
          const w = lastFrameSync(of.fd, of.size).last;
          if (w && (!newest || compareCursor(cursorOf(w), cursorOf(newest)) > 0)) newest = w;
        }
      } finally {
        closeFiles(f);
      }
    }
    this.seq = newest ? (newest.seq + 1) >>> 0 : 0;
    if (newest) this.lastTs = newest.timestamp;
  }

  get cursor(): Cursor | undefined {
    if (this.lastTs === '') return undefined;
    return { time: this.lastTs, seq: (this.seq - 1) >>> 0 };
  }

  appIds(): Iterable<string> {
    return this.writers.keys();
  }

  write(appId: string, input: WriteInput): LogMessage[] {
    if (this.closed) return [];
    const w = this.writer(appId);
    const raw = typeof input.msg === 'string' ? Buffer.from(input.msg) : input.msg;
    const body = raw.length > 0 && raw[raw.length - 1] === 0x0a ? raw.subarray(0, raw.length - 1) : raw;
    const starts: number[] = [];
    const ends: number[] = [];
    for (let p = 0; ; ) {
      const nl = body.indexOf(0x0a, p);
      starts.push(p);
      ends.push(nl < 0 ? body.length : nl);
      if (nl < 0) break;
      p = nl + 1;
    }
    const head = {
      time: input.time,
      hostname: input.hostname || this.opts.hostId,
      procId: input.procId,
      msgId: input.msgId,
    };
    return this.append(appId, w, head, body, starts, ends, true).msgs ?? [];
  }

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
    const head = { time: undefined, hostname: this.opts.hostId, procId, msgId };
    return this.append(appId, w, head, data, starts, ends, false).count;
  }

  /**
   * Frames lines `data[starts[i], ends[i])` (longer than MAX_LINE: split) with one header and one
   * timestamp, queues those that fit as one item and publishes them. Returns how many were
   * accepted, and their messages when built: on request (`wantMsgs`) or for subscribers.
   */
  private append(
    appId: string,
    w: AppLogWriter,
    h: Head,
    data: Buffer,
    starts: readonly number[],
    ends: readonly number[],
    wantMsgs: boolean,
  ): { count: number; msgs?: LogMessage[] } {
    let s = starts;
    let e = ends;
    for (let i = 0; i < s.length; i++) {
      if (e[i]! - s[i]! > MAX_LINE) {
        [s, e] = splitLong(s, e);
        break;
      }
    }
    const procId = h.procId || '-';
    const msgId = h.msgId || '-';
    const ts = this.timestamp(h.time);
    let head: Buffer;
    try {
      head = frameHead(ts, h.hostname, appId, procId, msgId);
    } catch (err) {
      this.opts.onError?.(err as Error, appId);
      w.counters.dropped += s.length;
      return { count: 0 };
    }
    // Which lines fit: each frame on its own against the queue bound.
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
    if (count === 0) return { count: 0 };
    const seq0 = this.seq;
    const buf = formatFrames(head, seq0, data, s, e, true);
    let msgs: LogMessage[] | undefined;
    if (wantMsgs || this.subscribers.size > 0) {
      msgs = [];
      for (let i = 0; i < count; i++) {
        msgs.push({
          timestamp: ts,
          hostname: h.hostname,
          appName: appId,
          procId,
          msgId,
          seq: (seq0 + i) >>> 0,
          msg: Buffer.from(data.subarray(s[i]!, e[i]!)),
        });
      }
    }
    const item: FrameItem = { buf, count };
    // readers of the queue then need not parse the frames again
    if (msgs) item.msgs = msgs;
    w.enqueueFrames(item);
    this.seq = (seq0 + count) >>> 0;
    this.lastTs = ts;
    const first = { time: ts, seq: seq0 };
    const last = { time: ts, seq: (seq0 + count - 1) >>> 0 };
    this.publish(appId, msgs, buf, count, first, last);
    return { count, msgs };
  }

  private publish(
    appId: string,
    msgs: LogMessage[] | undefined,
    buf: Buffer,
    count: number,
    first: Cursor,
    last: Cursor,
  ): void {
    if (msgs && this.subscribers.size > 0) {
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

  subscribeFrames(fn: FrameSubscriber): () => void {
    this.frameSubscribers.add(fn);
    return () => {
      this.frameSubscribers.delete(fn);
    };
  }

  subscribe(fn: Subscriber): () => void {
    this.subscribers.add(fn);
    return () => {
      this.subscribers.delete(fn);
    };
  }

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

  writer(appId: string): AppLogWriter {
    let w = this.writers.get(appId);
    if (!w) {
      validateAppId(appId);
      w = new AppLogWriter(this.opts.dir, appId, {
        maxBytes: this.opts.maxBytes,
        maxQueueBytes: this.opts.maxQueueBytes,
        onError: (err) => this.opts.onError?.(err, appId),
      });
      this.writers.set(appId, w);
    }
    return w;
  }

  /** Queued frames of an app not yet known to be on disk (oldest first). */
  pendingItems(appId: string): FrameItem[] {
    return this.writers.get(appId)?.pendingItems() ?? [];
  }

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

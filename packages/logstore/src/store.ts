// LogStore: the host's per-app log files in one directory. A facade over the write side
// (append.ts: the host cursor, framing, writers, live subscribers) and the read side (reader.ts:
// history, backwards tail, follow = history then live, messages after a host cursor for shipping).

import type { Cursor, LogMessage } from '@flynn-edge/syslog';
import {
  type AppenderOptions,
  type FrameSubscriber,
  LogAppender,
  type Subscriber,
  type WriteInput,
} from './append.js';
import { classify, safeReaddir, validateAppId } from './files.js';
import { type FrameChunk, framesAfter } from './frames.js';
import {
  LogStream,
  type Snapshot,
  type StreamOptions,
  type StreamSource,
  tailSnapshot,
  takeSnapshot,
} from './reader.js';
import type { LogFilter } from './scan.js';
import type { AppLogWriter, WriterCounters } from './writer.js';

export type { FrameBatch, FrameSubscriber, Subscriber, WriteInput } from './append.js';
export { LogStream, matches, type Snapshot, type SnapshotApp, type StreamOptions } from './reader.js';
export type { LogFilter } from './scan.js';

export interface LogStoreOptions extends AppenderOptions {
  /** file names (without .log) in the directory that are not app logs */
  ignore?: string[];
}

export class LogStore implements StreamSource {
  readonly dir: string;
  readonly hostId: string;
  private readonly ignore: Set<string>;
  private readonly appender: LogAppender;

  constructor(opts: LogStoreOptions) {
    this.dir = opts.dir;
    this.hostId = opts.hostId;
    this.ignore = new Set(opts.ignore ?? ['flynn-host']);
    this.appender = new LogAppender(opts, this.appsOnDisk());
  }

  /** The host cursor of the newest message written (or found on disk at startup). */
  get cursor(): Cursor | undefined {
    return this.appender.cursor;
  }

  /** Apps with a log file in the directory or a writer. */
  listApps(): string[] {
    return [...new Set([...this.appender.appIds(), ...this.appsOnDisk()])].sort();
  }

  private appsOnDisk(): string[] {
    const apps: string[] = [];
    for (const n of safeReaddir(this.dir)) {
      const c = classify(n);
      if (c && !this.ignore.has(c.appId)) apps.push(c.appId);
    }
    return apps;
  }

  /**
   * Assigns time and seq, splits the line, queues the messages for the app's file and hands them to
   * subscribers. Never blocks; returns the messages accepted (dropped ones are only counted).
   */
  write(appId: string, input: WriteInput): LogMessage[] {
    return this.appender.write(appId, input);
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
    return this.appender.writeLines(appId, procId, msgId, data, starts, ends);
  }

  /**
   * Live frames of every app as they are accepted, in write order, one call per batch (for
   * shipping: no object per message). Returns an unsubscribe function.
   */
  subscribeFrames(fn: FrameSubscriber): () => void {
    return this.appender.subscribeFrames(fn);
  }

  /** Live messages of every app, in write order. Returns an unsubscribe function. */
  subscribe(fn: Subscriber): () => void {
    return this.appender.subscribe(fn);
  }

  /** Counters summed over all apps (or one app). */
  stats(appId?: string): WriterCounters & { queueBytes: number } {
    return this.appender.stats(appId);
  }

  /** The writer of an app (created on first use). */
  writer(appId: string): AppLogWriter {
    return this.appender.writer(appId);
  }

  /** Resolves when everything accepted so far is on disk. */
  flush(): Promise<void> {
    return this.appender.flush();
  }

  close(): Promise<void> {
    return this.appender.close();
  }

  /** History old → new across the rotated and current file (plus accepted lines not yet flushed). */
  readHistory(appId: string, filter: LogFilter = {}): LogStream {
    validateAppId(appId);
    return new LogStream(this, { appIds: [appId], filter });
  }

  /** Collects readHistory into an array. */
  history(appId: string, filter: LogFilter = {}): Promise<LogMessage[]> {
    return this.readHistory(appId, filter).toArray();
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
    try {
      return await tailSnapshot(snap, n, filter);
    } finally {
      snap.release();
    }
  }

  /**
   * Synchronously (so no write completes or rotation happens in between): the newest cursor, each
   * app's queued messages, and open fds of its files with their sizes.
   */
  snapshot(appIds?: string[]): Snapshot {
    return takeSnapshot(
      this.dir,
      appIds ?? this.listApps(),
      (appId) => this.appender.pendingItems(appId),
      this.cursor,
    );
  }
}

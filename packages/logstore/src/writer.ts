// One app's log file: queued, batched appends (never blocking the caller, no fsync per line),
// lumberjack-style rotation before a write would pass maxBytes, keeping exactly one backup.

import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { frameMessage, type LogMessage } from '@flynn-edge/syslog';
import { backupPath, classify, currentPath, lastFrameSync, safeReaddir, validateAppId } from './files.js';
import { MAX_FRAME, parseBody, scanFrames } from './scan.js';

const writevAsync = promisify(fs.writev);
const unlinkAsync = fs.promises.unlink;

export const DEFAULT_MAX_BYTES = 100 * 1024 * 1024;
export const DEFAULT_MAX_QUEUE_BYTES = 8 * 1024 * 1024;
const MAX_BATCH = 1 << 20;

export interface WriterCounters {
  bytesWritten: number;
  linesWritten: number;
  rotations: number;
  /** messages refused: queue over its bound (slow disk), too large, or lost to a write error */
  dropped: number;
  writeErrors: number;
  /** bytes discarded from a torn tail when the file was opened */
  repairedBytes: number;
}

export interface AppLogWriterOptions {
  /** rotate before a write would make the file larger than this (default 100 MB) */
  maxBytes?: number;
  /** drop new messages while this many bytes are queued (default 8 MB) */
  maxQueueBytes?: number;
  onError?: (err: Error) => void;
}

/** Queued frames (on-disk form, whole frames): `count` of them; `msgs` when already parsed. */
export interface FrameItem {
  buf: Buffer;
  count: number;
  msgs?: LogMessage[];
}

export class AppLogWriter {
  readonly path: string;
  readonly maxBytes: number;
  readonly maxQueueBytes: number;
  readonly counters: WriterCounters = {
    bytesWritten: 0,
    linesWritten: 0,
    rotations: 0,
    dropped: 0,
    writeErrors: 0,
    repairedBytes: 0,
  };
  /** the newest message in the file when it was opened (restores the host cursor after a restart) */
  readonly lastOnDisk?: LogMessage;
  private fd: number;
  private size: number;
  private queue: FrameItem[] = [];
  private queuedBytes = 0;
  /** items being written: inflight[inflightFrom…] */
  private inflight: FrameItem[] = [];
  private inflightFrom = 0;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly onError: (err: Error) => void;

  constructor(
    readonly dir: string,
    readonly appId: string,
    opts: AppLogWriterOptions = {},
  ) {
    validateAppId(appId);
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.maxQueueBytes = opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.onError = opts.onError ?? (() => {});
    fs.mkdirSync(dir, { recursive: true });
    this.path = currentPath(dir, appId);
    this.fd = fs.openSync(this.path, 'a+');
    this.size = fs.fstatSync(this.fd).size;
    if (this.size > 0) {
      // A crash mid-write leaves a partial frame at the end; cut it off so new frames follow a
      // whole one. Only a tail that could be one torn frame is cut (never a long stretch of data).
      const { end, last } = lastFrameSync(this.fd, this.size);
      this.lastOnDisk = last;
      const torn = this.size - end;
      if (torn > 0 && torn <= MAX_FRAME + 8) {
        fs.ftruncateSync(this.fd, end);
        this.counters.repairedBytes = torn;
        this.size = end;
      }
    }
  }

  /** Current file size (bytes already written). */
  get fileSize(): number {
    return this.size;
  }

  get queueBytes(): number {
    return this.queuedBytes;
  }

  /** Queues a message; false (and counted in `dropped`) when it cannot be accepted. */
  enqueue(msg: LogMessage, frame: Buffer = frameMessage(msg, true)): boolean {
    if (!this.accepts(frame.length)) {
      this.counters.dropped++;
      return false;
    }
    this.enqueueFrames({ buf: frame, count: 1, msgs: [msg] });
    return true;
  }

  /** Whether a frame of this size would be accepted now (not over maxBytes, room in the queue). */
  accepts(frameBytes: number, extraQueued = 0): boolean {
    return (
      !this.closed &&
      frameBytes <= this.maxBytes &&
      this.queuedBytes + extraQueued + frameBytes <= this.maxQueueBytes
    );
  }

  /** Queues whole frames checked with accepts() (the caller counts what it refused). */
  enqueueFrames(item: FrameItem): void {
    this.queue.push(item);
    this.queuedBytes += item.buf.length;
    if (!this.running) this.running = this.run();
  }

  /** Messages accepted but not yet known to be on disk (oldest first). */
  pending(): LogMessage[] {
    return itemMessages(this.pendingItems());
  }

  /** The same as queued frames (oldest first); the items are not changed afterwards. */
  pendingItems(): FrameItem[] {
    return this.inflight.slice(this.inflightFrom).concat(this.queue);
  }

  /** Resolves once everything queued so far is written. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }

  private async run(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const items = this.queue;
        this.queue = [];
        this.inflight = items;
        let i = 0;
        this.inflightFrom = 0;
        while (i < items.length) {
          const first = items[i]!;
          if (this.size > 0 && this.size + firstFrameBytes(first.buf) > this.maxBytes) {
            const old = this.rotate();
            // Deleting a 100 MB file takes a while: off the event loop, before the next write.
            for (const f of old) await unlinkAsync(f).catch(() => {});
          }
          const room = this.maxBytes - this.size;
          if (first.buf.length > room) {
            // Fill the file up to its limit with whole frames; the rest goes after the rotation.
            const [head, tail] = splitFrames(first, room);
            if (!head) {
              // cannot happen (oversized frames are refused) but never spin
              this.counters.dropped += first.count;
              this.queuedBytes -= first.buf.length;
              i++;
              this.inflightFrom = i;
              continue;
            }
            items.splice(i, 1, head, tail!);
          }
          let bytes = 0;
          let lines = 0;
          let j = i;
          while (
            j < items.length &&
            bytes + items[j]!.buf.length <= room &&
            (j === i || bytes + items[j]!.buf.length <= MAX_BATCH)
          ) {
            bytes += items[j]!.buf.length;
            lines += items[j]!.count;
            j++;
          }
          // one writev of the queued buffers (no copy into one big buffer)
          let bufs: Buffer[] = [];
          for (let k = i; k < j; k++) bufs.push(items[k]!.buf);
          try {
            let left = bytes;
            while (left > 0) {
              const { bytesWritten } = await writevAsync(this.fd, bufs);
              left -= bytesWritten;
              this.size += bytesWritten;
              this.counters.bytesWritten += bytesWritten;
              if (left > 0) bufs = skipBytes(bufs, bytesWritten);
            }
            this.counters.linesWritten += lines;
          } catch (err) {
            this.counters.writeErrors++;
            this.counters.dropped += lines;
            this.onError(err as Error);
            // resynchronise the size with the file (a partial write leaves a torn frame the readers skip)
            try {
              this.size = fs.fstatSync(this.fd).size;
            } catch {
              // keep the old size
            }
          }
          this.queuedBytes -= bytes;
          i = j;
          this.inflightFrom = i;
        }
        this.inflight = [];
        this.inflightFrom = 0;
      }
    } finally {
      this.inflight = [];
      this.inflightFrom = 0;
      this.running = undefined;
    }
  }

  /**
   * Synchronous so readers (which open fds synchronously) never see a half-done rotation. Returns
   * the older backups to delete (readers may list them meanwhile: they only hold older lines).
   */
  private rotate(): string[] {
    try {
      return this.rotateOnce();
    } catch (err) {
      this.onError(err as Error);
      try {
        this.fd = fs.openSync(this.path, 'a+');
        this.size = fs.fstatSync(this.fd).size;
      } catch (err2) {
        this.onError(err2 as Error);
      }
      return [];
    }
  }

  private rotateOnce(): string[] {
    fs.closeSync(this.fd);
    const backup = backupPath(this.dir, this.appId, new Date());
    fs.renameSync(this.path, backup);
    const keep = backup.slice(this.dir.length).replace(/^[/\\]/, '');
    const old: string[] = [];
    for (const n of safeReaddir(this.dir)) {
      const c = classify(n);
      if (c?.backup && c.appId === this.appId && n !== keep) old.push(`${this.dir}/${n}`);
    }
    this.fd = fs.openSync(this.path, 'a+');
    this.size = 0;
    this.counters.rotations++;
    return old;
  }
}

/** The buffers without their first `n` bytes (after a short write). */
function skipBytes(bufs: Buffer[], n: number): Buffer[] {
  let k = 0;
  while (k < bufs.length && n >= bufs[k]!.length) n -= bufs[k++]!.length;
  const rest = bufs.slice(k);
  if (rest.length > 0 && n > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}

/** Length of the first frame of well-formed on-disk frames (`<len> <body>\n`). */
function firstFrameBytes(buf: Buffer): number {
  let n = 0;
  let i = 0;
  for (let c = buf[0]!; c !== 0x20; c = buf[++i]!) n = n * 10 + (c - 0x30);
  return i + 2 + n;
}

/** Splits queued frames into the longest prefix of at most `max` bytes and the rest. */
function splitFrames(item: FrameItem, max: number): [FrameItem | undefined, FrameItem | undefined] {
  let p = 0;
  let k = 0;
  while (p < item.buf.length) {
    const len = firstFrameBytes(item.buf.subarray(p));
    if (p + len > max) break;
    p += len;
    k++;
  }
  if (k === 0) return [undefined, item];
  if (k === item.count) return [item, undefined];
  const head: FrameItem = { buf: item.buf.subarray(0, p), count: k };
  const tail: FrameItem = { buf: item.buf.subarray(p), count: item.count - k };
  if (item.msgs) {
    head.msgs = item.msgs.slice(0, k);
    tail.msgs = item.msgs.slice(k);
  }
  return [head, tail];
}

/** The items' messages (their frames parsed unless they are kept parsed). */
export function itemMessages(items: FrameItem[]): LogMessage[] {
  const out: LogMessage[] = [];
  for (const item of items) {
    if (item.msgs) {
      for (const m of item.msgs) out.push(m);
      continue;
    }
    const buf = item.buf;
    scanFrames(
      buf,
      0,
      buf.length,
      (s, e) => {
        const m = parseBody(buf, s, e);
        if (m) out.push(m);
      },
      true,
    );
  }
  return out;
}

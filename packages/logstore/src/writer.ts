// One app's log file: queued, batched appends (never blocking the caller, no fsync per line),
// lumberjack-style rotation before a write would pass maxBytes, keeping exactly one backup.

import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { frameMessage, type LogMessage } from '@flynn-edge/syslog';
import { backupPath, classify, currentPath, lastFrameSync, safeReaddir, validateAppId } from './files.js';
import { MAX_FRAME } from './scan.js';

const writeAsync = promisify(fs.write);

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

interface Item {
  frame: Buffer;
  msg: LogMessage;
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
  private queue: Item[] = [];
  private queuedBytes = 0;
  private inflight: Item[] = [];
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
    if (this.closed || frame.length > this.maxBytes || this.queuedBytes + frame.length > this.maxQueueBytes) {
      this.counters.dropped++;
      return false;
    }
    this.queue.push({ frame, msg });
    this.queuedBytes += frame.length;
    if (!this.running) this.running = this.run();
    return true;
  }

  /** Messages accepted but not yet known to be on disk (oldest first). */
  pending(): LogMessage[] {
    const out: LogMessage[] = [];
    for (const it of this.inflight) out.push(it.msg);
    for (const it of this.queue) out.push(it.msg);
    return out;
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
        let i = 0;
        while (i < items.length) {
          if (this.size > 0 && this.size + items[i]!.frame.length > this.maxBytes) this.rotate();
          let bytes = 0;
          let j = i;
          while (
            j < items.length &&
            this.size + bytes + items[j]!.frame.length <= this.maxBytes &&
            (j === i || bytes + items[j]!.frame.length <= MAX_BATCH)
          ) {
            bytes += items[j]!.frame.length;
            j++;
          }
          if (j === i) {
            // cannot happen (oversized frames are refused) but never spin
            this.counters.dropped++;
            this.queuedBytes -= items[i]!.frame.length;
            i++;
            continue;
          }
          const batch = items.slice(i, j);
          this.inflight = batch.concat(items.slice(j));
          const buf =
            batch.length === 1
              ? batch[0]!.frame
              : Buffer.concat(
                  batch.map((b) => b.frame),
                  bytes,
                );
          try {
            let off = 0;
            while (off < buf.length) {
              const { bytesWritten } = await writeAsync(this.fd, buf, off, buf.length - off);
              off += bytesWritten;
              this.size += bytesWritten;
              this.counters.bytesWritten += bytesWritten;
            }
            this.counters.linesWritten += batch.length;
          } catch (err) {
            this.counters.writeErrors++;
            this.counters.dropped += batch.length;
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
        }
        this.inflight = [];
      }
    } finally {
      this.inflight = [];
      this.running = undefined;
    }
  }

  /** Synchronous so readers (which open fds synchronously) never see a half-done rotation. */
  private rotate(): void {
    try {
      this.rotateOnce();
    } catch (err) {
      this.onError(err as Error);
      try {
        this.fd = fs.openSync(this.path, 'a+');
        this.size = fs.fstatSync(this.fd).size;
      } catch (err2) {
        this.onError(err2 as Error);
      }
    }
  }

  private rotateOnce(): void {
    fs.closeSync(this.fd);
    const backup = backupPath(this.dir, this.appId, new Date());
    fs.renameSync(this.path, backup);
    const keep = backup.slice(this.dir.length).replace(/^[/\\]/, '');
    for (const n of safeReaddir(this.dir)) {
      const c = classify(n);
      if (c?.backup && c.appId === this.appId && n !== keep) {
        try {
          fs.unlinkSync(`${this.dir}/${n}`);
        } catch {
          // raced with another cleanup
        }
      }
    }
    this.fd = fs.openSync(this.path, 'a+');
    this.size = 0;
    this.counters.rotations++;
  }
}

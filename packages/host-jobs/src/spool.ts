import { execFile } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync, rmSync } from 'node:fs';

// A job's stdout or stderr spool: a file the child appends to through its own O_APPEND fd, read
// here from a saved offset. Only whole lines are consumed (a partial last line is read again next
// time), so the offset always sits on a line boundary and a restart repeats nothing.
//
// Consumed bytes are given back to the filesystem by punching a hole over them
// (`fallocate --punch-hole`): the logical size keeps growing but the disk use stays at the
// unread tail. Truncating instead would race with the child: a line appended between our last
// read and the truncate would be lost, and the child's fd cannot be moved to a new file.

export interface SpoolOptions {
  /** Longer lines are split into pieces of this size (default 64 KiB). */
  maxLineBytes?: number;
  /** Bytes read per call at most (default 1 MiB); `more` tells when the budget cut a read short. */
  maxReadBytes?: number;
  /**
   * Lines per read at most (default 8192): a megabyte of tiny lines is a lot of messages, and
   * what the consumer queues grows with their number, not their bytes.
   */
  maxReadLines?: number;
  /** Punch a hole once this much has been consumed since the last one (default 8 MiB: each punch
   * runs `fallocate`, a process, so not every MiB). */
  reclaimBytes?: number;
}

/** What one Spool.readBatch() read: line i is `data[starts[i], ends[i])`, at `offset + starts[i]` in the file. */
export interface SpoolBatch {
  data: Buffer;
  starts: number[];
  ends: number[];
  /** offset in the file of data[0] */
  offset: number;
}

/** One line read from a spool, with the byte offset of its first byte in the file. */
export interface SpoolLine {
  line: Buffer;
  offset: number;
}

const BLOCK = 4096;
let punchUnsupported = false;

export class Spool {
  /** The last read() stopped at its byte budget with more to read. */
  more = false;
  private fd: number | undefined;
  private reclaiming = false;
  private punchFailed = false;
  private readonly maxLine: number;
  private readonly maxRead: number;
  private readonly maxLines: number;
  private readonly reclaimBytes: number;

  constructor(
    readonly path: string,
    /** Bytes consumed so far (always just after a \n, or 0). */
    public offset: number,
    /** Bytes [0, punched) have been given back already. */
    public punched: number,
    opts: SpoolOptions = {},
  ) {
    this.maxLine = opts.maxLineBytes ?? 64 * 1024;
    this.maxRead = opts.maxReadBytes ?? 1024 * 1024;
    this.maxLines = opts.maxReadLines ?? 8192;
    this.reclaimBytes = opts.reclaimBytes ?? 8 * 1024 * 1024;
  }

  /** Size of the file now (0 when it does not exist). */
  size(): number {
    const fd = this.open();
    return fd === undefined ? 0 : fstatSync(fd).size;
  }

  /**
   * The complete lines appended since the last call (without their \n); with `final`, also a
   * trailing line that has no \n yet (the writer is gone). Each line is a copy.
   */
  read(final = false): SpoolLine[] {
    const b = this.readBatch(final);
    if (!b) return [];
    const lines: SpoolLine[] = [];
    for (let i = 0; i < b.starts.length; i++) {
      const s = b.starts[i]!;
      lines.push({ line: Buffer.from(b.data.subarray(s, b.ends[i]!)), offset: b.offset + s });
    }
    return lines;
  }

  /**
   * One read (at most maxReadBytes) of the complete lines appended since the last call: the bytes
   * and each line's bounds in them (no object per line). Lines longer than maxLineBytes come as
   * pieces; with `final`, a trailing line without \n is included. Undefined when nothing was read.
   */
  readBatch(final = false): SpoolBatch | undefined {
    this.more = false;
    const fd = this.open();
    if (fd === undefined) return undefined;
    const size = fstatSync(fd).size;
    if (size < this.offset) {
      // Someone truncated the file under us: start again at its new end.
      this.offset = size;
      this.punched = Math.min(this.punched, size);
      return undefined;
    }
    const avail = size - this.offset;
    if (avail === 0) return undefined;
    const want = Math.min(avail, this.maxRead);
    const data = Buffer.allocUnsafe(want);
    const n = readSync(fd, data, 0, want, this.offset);
    if (n === 0) return undefined;
    const starts: number[] = [];
    const ends: number[] = [];
    const max = this.maxLine;
    let start = 0;
    let capped = false;
    for (;;) {
      if (starts.length >= this.maxLines) {
        capped = true;
        break;
      }
      const nl = data.indexOf(10, start);
      if (nl < 0 || nl >= n) break;
      if (nl - start <= max) {
        starts.push(start);
        ends.push(nl);
      } else {
        for (let i = start; i < nl; i += max) {
          starts.push(i);
          ends.push(Math.min(i + max, nl));
        }
      }
      start = nl + 1;
    }
    let consumed = start;
    // No newline in a long run: emit whole pieces so one endless line cannot stall the spool.
    while (!capped && n - consumed >= max) {
      starts.push(consumed);
      ends.push(consumed + max);
      consumed += max;
    }
    if (!capped && final && n === avail && consumed < n) {
      starts.push(consumed);
      ends.push(n);
      consumed = n;
    }
    const offset = this.offset;
    this.offset += consumed;
    this.more = capped || (size > this.offset && n === this.maxRead);
    if (consumed === 0) return undefined;
    return { data: consumed === n ? data : data.subarray(0, consumed), starts, ends, offset };
  }

  /** Bytes consumed but still on disk. */
  get reclaimable(): number {
    return Math.floor(this.offset / BLOCK) * BLOCK - this.punched;
  }

  /**
   * Punches a hole over the consumed whole blocks once at least reclaimBytes are waiting.
   * Resolves with an error message when the hole cannot be punched (then not tried again).
   */
  async reclaim(force = false): Promise<string | undefined> {
    if (punchUnsupported || this.punchFailed || this.reclaiming) return undefined;
    const end = Math.floor(this.offset / BLOCK) * BLOCK;
    const len = end - this.punched;
    if (len <= 0 || (!force && len < this.reclaimBytes)) return undefined;
    this.reclaiming = true;
    const from = this.punched;
    try {
      await new Promise<void>((resolve, reject) =>
        execFile(
          'fallocate',
          ['--punch-hole', '--offset', String(from), '--length', String(len), this.path],
          (err) => (err ? reject(err) : resolve()),
        ),
      );
      this.punched = Math.max(this.punched, end);
      return undefined;
    } catch (err) {
      const msg = (err as Error).message;
      if (/not supported|ENOENT|spawn/i.test(msg)) punchUnsupported = true;
      // One warning per spool: it is not tried again.
      this.punchFailed = true;
      return `spool ${this.path}: cannot punch a hole (${msg.trim()})`;
    } finally {
      this.reclaiming = false;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Closes and deletes the file. */
  remove(): void {
    this.close();
    rmSync(this.path, { force: true });
  }

  private open(): number | undefined {
    if (this.fd !== undefined) return this.fd;
    try {
      this.fd = openSync(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return this.fd;
  }
}

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
  /** Punch a hole once this much has been consumed since the last one (default 1 MiB). */
  reclaimBytes?: number;
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
    this.reclaimBytes = opts.reclaimBytes ?? 1024 * 1024;
  }

  /** Size of the file now (0 when it does not exist). */
  size(): number {
    const fd = this.open();
    return fd === undefined ? 0 : fstatSync(fd).size;
  }

  /**
   * The complete lines appended since the last call (without their \n); with `final`, also a
   * trailing line that has no \n yet (the writer is gone).
   */
  read(final = false): SpoolLine[] {
    const fd = this.open();
    if (fd === undefined) return [];
    const lines: SpoolLine[] = [];
    this.more = false;
    let budget = this.maxRead;
    while (budget > 0) {
      const size = fstatSync(fd).size;
      if (size < this.offset) {
        // Someone truncated the file under us: start again at its new end.
        this.offset = size;
        this.punched = Math.min(this.punched, size);
        break;
      }
      const avail = size - this.offset;
      if (avail === 0) break;
      const want = Math.min(avail, budget);
      const buf = Buffer.allocUnsafe(want);
      const n = readSync(fd, buf, 0, want, this.offset);
      if (n === 0) break;
      budget -= n;
      let start = 0;
      let consumed = 0;
      for (;;) {
        const nl = buf.indexOf(10, start);
        if (nl < 0 || nl >= n) break;
        pushSplit(lines, buf.subarray(start, nl), this.offset + start, this.maxLine);
        start = nl + 1;
        consumed = start;
      }
      // No newline in a long run: emit whole pieces so one endless line cannot stall the spool.
      while (n - consumed >= this.maxLine) {
        lines.push({
          line: Buffer.from(buf.subarray(consumed, consumed + this.maxLine)),
          offset: this.offset + consumed,
        });
        consumed += this.maxLine;
      }
      if (final && n === avail && consumed < n) {
        lines.push({ line: Buffer.from(buf.subarray(consumed, n)), offset: this.offset + consumed });
        consumed = n;
      }
      this.offset += consumed;
      if (consumed === 0 || n < want) break;
      if (budget <= 0) this.more = size > this.offset;
    }
    return lines;
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

function pushSplit(out: SpoolLine[], line: Buffer, offset: number, max: number): void {
  if (line.length <= max) {
    out.push({ line: Buffer.from(line), offset });
    return;
  }
  for (let i = 0; i < line.length; i += max)
    out.push({ line: Buffer.from(line.subarray(i, i + max)), offset: offset + i });
}

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { paths } from './manifest.js';
import { BLOCK, encodeHeader, encodePaxHeader, needsPax, padding } from './tar-header.js';

// The streaming ustar writer of §8.2: entries go straight to `out` (waiting for 'drain'), each
// hashed as it is written, so a backup never holds a volume in memory.

export interface ArchiveWriterOptions {
  /** Top directory name (no slash), e.g. backupTopDir(start) or the app's name. */
  top: string;
  /** Every entry's mtime (the backup's start). */
  mtime: Date;
  /** Called with the total bytes written so far (progress bars). */
  onProgress?: (bytes: number) => void;
}

/** One SHA256SUMS line per entry, in tar order (`sha256sum -c` format, text mode). */
export function formatSha256Sums(sums: { path: string; sha256: string }[]): Buffer {
  return Buffer.from(sums.map((s) => `${s.sha256}  ${s.path}\n`).join(''));
}

/**
 * Writes entries `<top>/<path>` to `out` in the order they are added, hashing each as it goes;
 * `finish()` appends `SHA256SUMS` and the two zero blocks. Entries are streamed, never held whole.
 */
export class ArchiveWriter {
  private written = 0;
  private readonly mtime: number;
  private readonly sums: { path: string; sha256: string }[] = [];
  private readonly seen = new Set<string>();
  private busy = false;
  private finishing = false;
  private finished = false;
  private failure: Error | undefined;

  constructor(
    readonly out: Writable,
    readonly options: ArchiveWriterOptions,
  ) {
    if (!options.top || options.top.includes('/') || options.top === '.' || options.top === '..') {
      throw new Error(`invalid archive top directory ${JSON.stringify(options.top)}`);
    }
    this.mtime = Math.floor(options.mtime.getTime() / 1000);
    // Remember the destination's failure so the next write rejects instead of hanging.
    out.on('error', (err) => {
      this.failure ??= err;
    });
  }

  get bytesWritten(): number {
    return this.written;
  }

  /** The entries written so far with their sha256 (hex), in tar order. */
  get entries(): readonly { path: string; sha256: string }[] {
    return this.sums;
  }

  async addBuffer(path: string, data: Buffer): Promise<void> {
    await this.entry(path, data.length, async (write) => write(data));
  }

  /** A file's content (its size from stat), streamed. */
  async addFile(path: string, file: string): Promise<void> {
    const { size } = await stat(file);
    await this.addStream(path, size, createReadStream(file, { highWaterMark: 1 << 20 }));
  }

  /** A stream of exactly `size` bytes (fewer or more is an error). */
  async addStream(path: string, size: number, stream: Readable): Promise<void> {
    await this.entry(path, size, async (write) => {
      let got = 0;
      try {
        for await (const chunk of stream) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
          if (got + buf.length > size) {
            throw new Error(`archive entry ${path}: the stream has more than the declared ${size} bytes`);
          }
          got += buf.length;
          await write(buf);
        }
      } finally {
        if (!stream.destroyed) stream.destroy();
      }
      if (got !== size) {
        throw new Error(`archive entry ${path}: the stream ended after ${got} of the declared ${size} bytes`);
      }
    });
  }

  /** SHA256SUMS, the end blocks; resolves when `out` has taken everything (not closed). */
  async finish(): Promise<void> {
    this.finishing = true;
    await this.addBuffer(paths.sums, formatSha256Sums(this.sums));
    this.finished = true;
    await this.write(Buffer.alloc(2 * BLOCK));
    await new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      // The callback of an empty write runs once everything before it has been handled.
      this.out.write(Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    });
  }

  private async entry(
    path: string,
    size: number,
    body: (write: (buf: Buffer) => Promise<void>) => Promise<void>,
  ): Promise<void> {
    if (this.finished) throw new Error('archive writer: entry added after finish()');
    if (this.busy) throw new Error('archive writer: entries must be added one at a time');
    if (this.failure) throw this.failure;
    checkPath(path);
    if (this.seen.has(path)) throw new Error(`archive writer: duplicate entry ${path}`);
    if (path === paths.sums && !this.finishing)
      throw new Error(`archive writer: ${path} is written by finish()`);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`archive entry ${path}: bad size ${size}`);
    this.busy = true;
    try {
      const name = `${this.options.top}/${path}`;
      if (needsPax(name, size)) await this.write(encodePaxHeader(name, size, this.mtime));
      await this.write(encodeHeader({ name, size, mtime: this.mtime, typeflag: '0' }));
      const hash = createHash('sha256');
      await body(async (buf) => {
        hash.update(buf);
        await this.write(buf);
      });
      await this.write(Buffer.alloc(padding(size)));
      this.seen.add(path);
      this.sums.push({ path, sha256: hash.digest('hex') });
    } catch (err) {
      // A half-written entry leaves the archive unusable: refuse anything after it.
      this.failure ??= err as Error;
      throw err;
    } finally {
      this.busy = false;
    }
  }

  private async write(buf: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (buf.length === 0) return;
    this.written += buf.length;
    const more = this.out.write(buf);
    this.options.onProgress?.(this.written);
    if (!more) await drained(this.out);
    if (this.failure) throw this.failure;
  }
}

function drained(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => done(new Error('archive writer: the destination closed'));
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}

/** A relative path below the top directory: no empty, `.` or `..` segments, no leading `/`. */
function checkPath(path: string): void {
  const bad = path.split('/').some((seg) => seg === '' || seg === '.' || seg === '..');
  if (bad || path.includes('\0'))
    throw new Error(`archive writer: invalid entry path ${JSON.stringify(path)}`);
}

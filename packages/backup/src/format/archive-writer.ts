import type { Readable, Writable } from 'node:stream';

// STUB (seam): the streaming ustar writer of §8.2. Owned by the format helper.

export interface ArchiveWriterOptions {
  /** Top directory name (no slash), e.g. backupTopDir(start) or the app's name. */
  top: string;
  /** Every entry's mtime (the backup's start). */
  mtime: Date;
  /** Called with the total bytes written so far (progress bars). */
  onProgress?: (bytes: number) => void;
}

/**
 * Writes entries `<top>/<path>` to `out` in the order they are added, hashing each as it goes;
 * `finish()` appends `SHA256SUMS` and the two zero blocks. Entries are streamed, never held whole.
 */
export class ArchiveWriter {
  constructor(
    readonly out: Writable,
    readonly options: ArchiveWriterOptions,
  ) {}
  get bytesWritten(): number {
    throw new Error('not implemented');
  }
  async addBuffer(_path: string, _data: Buffer): Promise<void> {
    throw new Error('not implemented');
  }
  /** A file's content (its size from stat), streamed. */
  async addFile(_path: string, _file: string): Promise<void> {
    throw new Error('not implemented');
  }
  /** A stream of exactly `size` bytes (fewer or more is an error). */
  async addStream(_path: string, _size: number, _stream: Readable): Promise<void> {
    throw new Error('not implemented');
  }
  /** SHA256SUMS, the end blocks; resolves when `out` has taken everything (not closed). */
  async finish(): Promise<void> {
    throw new Error('not implemented');
  }
}

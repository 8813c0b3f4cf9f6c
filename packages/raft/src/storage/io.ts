// The only place that touches file contents: every write and sync passes the fault hooks and the counters.
import { constants, writeSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { DurableWritePolicy } from './durable-write-policy.js';

export interface StorageFaults {
  /** Called before each write; throw to inject an I/O error. */
  beforeWrite?(): void;
  /** Called before each fdatasync/fsync; throw to inject an I/O error. */
  beforeSync?(): void;
}

export const FILE_MODE = 0o600;
/** A new file whose every write is synchronous (O_DSYNC): see Io.writeDurable. */
export const CREATE_DURABLE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DSYNC;
export const DIR_MODE = 0o700;

export class Io {
  syncs = 0;

  constructor(
    private readonly faults: StorageFaults,
    private readonly policy: DurableWritePolicy = new DurableWritePolicy(),
  ) {}

  /** Writes all of `data` at `position`, looping over short writes. */
  async write(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
    this.faults.beforeWrite?.();
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
      if (bytesWritten <= 0) throw new Error('write made no progress');
      done += bytesWritten;
    }
  }

  /**
   * Writes all of `data` at `position` through a handle opened with O_DSYNC (openDurable): each
   * write returns once its data and the metadata to read it back are on disk, exactly what
   * write + fdatasync promise, in one syscall: on the event loop or through the threadpool as the
   * DurableWritePolicy says. Counted as a sync.
   */
  async writeDurable(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
    if (this.policy.synchronous) {
      this.faults.beforeWrite?.();
      const started = performance.now();
      let done = 0;
      while (done < data.length) {
        const n = writeSync(fh.fd, data, done, data.length - done, position + done);
        if (n <= 0) throw new Error('write made no progress');
        done += n;
      }
      this.policy.took(performance.now() - started);
    } else {
      await this.write(fh, data, position);
    }
    this.faults.beforeSync?.();
    this.syncs++;
  }

  async truncate(fh: FileHandle, length: number): Promise<void> {
    this.faults.beforeWrite?.();
    await fh.truncate(length);
  }

  async datasync(fh: FileHandle): Promise<void> {
    this.faults.beforeSync?.();
    this.syncs++;
    await fh.datasync();
  }

  async fsync(fh: FileHandle): Promise<void> {
    this.faults.beforeSync?.();
    this.syncs++;
    await fh.sync();
  }

  /** Makes creations, renames and removals in `dir` durable. */
  async syncDir(dir: string): Promise<void> {
    this.faults.beforeSync?.();
    this.syncs++;
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

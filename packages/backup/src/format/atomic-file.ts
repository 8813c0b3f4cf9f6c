import { once } from 'node:events';
import { createWriteStream, unlinkSync } from 'node:fs';
import { chmod, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

// A backup or export file appears whole or not at all (§8.2 behaviour 1).

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs `produce` against `<file>.partial` (mode 0600), then fsyncs and renames it to `file`.
 * On any failure (produce throws, a signal) the partial file is removed and the error rethrown:
 * a failed backup leaves no file.
 */
export async function writeFileAtomically(
  file: string,
  produce: (out: Writable) => Promise<void>,
): Promise<void> {
  const partial = `${file}.partial`;
  const cleanup = guardPartial(partial);
  // flush: the stream fsyncs the file before closing it.
  const out = createWriteStream(partial, { flags: 'w', mode: 0o600, flush: true, highWaterMark: 1 << 20 });
  // A write error also rejects finished() below; without a listener it would crash the process.
  out.on('error', () => {});
  try {
    await once(out, 'open');
    await chmod(partial, 0o600); // an old partial file keeps its mode otherwise
    await produce(out);
    if (!out.writableEnded) out.end();
    await finished(out);
    await rename(partial, file);
    cleanup.done();
  } catch (err) {
    cleanup.done();
    out.destroy();
    await finished(out).catch(() => {});
    await unlink(partial).catch(() => {});
    throw err;
  }
  await syncDir(dirname(file)).catch(() => {});
}

/** Makes the rename durable (best effort: some filesystems refuse fsync on a directory). */
async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * Removes the partial file if the process exits or is signalled before the write completes.
 * A signal with no other listener is raised again once the file is gone, so the process still
 * dies of it as it would have.
 */
function guardPartial(partial: string): { done(): void } {
  const remove = () => {
    try {
      unlinkSync(partial);
    } catch {
      // already gone
    }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    remove();
    release();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  const release = () => {
    process.off('exit', remove);
    for (const sig of SIGNALS) process.off(sig, onSignal);
  };
  process.on('exit', remove);
  for (const sig of SIGNALS) process.on(sig, onSignal);
  return { done: release };
}

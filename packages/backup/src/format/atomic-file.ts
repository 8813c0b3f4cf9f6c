import type { Writable } from 'node:stream';

// STUB (seam): owned by the format helper.

/**
 * Runs `produce` against `<file>.partial` (mode 0600), then fsyncs and renames it to `file`.
 * On any failure (produce throws, a signal) the partial file is removed and the error rethrown:
 * a failed backup leaves no file.
 */
export async function writeFileAtomically(
  _file: string,
  _produce: (out: Writable) => Promise<void>,
): Promise<void> {
  throw new Error('not implemented');
}

import type { NodeId } from '../core/types.js';

/**
 * What went wrong, for callers filtering `onError`:
 * - dial: an outbound connection attempt failed or timed out (retried with backoff)
 * - connection: an established connection broke (outbound: reconnected; inbound: dropped)
 * - protocol: an inbound peer sent something malformed or too slowly; that connection was closed
 * - auth: an inbound connection proved no membership (cluster key, sender id) or was over a connection
 *   cap; it was closed
 * - encode: a message passed to send() could not be encoded; it was dropped
 * - listener: a 'message' listener threw; the transport carried on
 * - server: the listening socket failed
 */
export type TransportErrorKind =
  | 'dial'
  | 'connection'
  | 'protocol'
  | 'auth'
  | 'encode'
  | 'listener'
  | 'server';

export class TransportError extends Error {
  override readonly name = 'TransportError';

  constructor(
    readonly kind: TransportErrorKind,
    message: string,
    /** The remote node, when known. */
    readonly peer?: NodeId,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

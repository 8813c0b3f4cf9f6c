import type { KvPair } from '../format/kv-ndjson.js';
import type { HttpTransport } from './http.js';

// STUB (seam): reading a cluster's data for a backup or an export (§8.2 steps 2–4), owned by
// the writer helper.

export interface KvSnapshot {
  revision: number;
  /** Every key, sorted, minus EXCLUDED_PREFIXES. */
  pairs: KvPair[];
}

/** One unprefixed, unlimited `GET /kv/` (a linearizable read at one revision); `more` must be false. */
export async function captureKv(_t: HttpTransport, _discoverdUrl: string): Promise<KvSnapshot> {
  throw new Error('not implemented');
}

/** A `tar` artifact from the first host (API base URL) that has it, sha256 checked, into `destFile`. */
export async function fetchArtifact(
  _t: HttpTransport,
  _hostUrls: string[],
  _sha256: string,
  _destFile: string,
): Promise<{ size: number }> {
  throw new Error('not implemented');
}

/**
 * Snapshot a volume on its host, gzip its full `zfs send` stream into `destFile`, delete the
 * snapshot. Errors name the volume: "volume <id> of <app> vanished during the backup; retry",
 * "cannot back up volume <id>: host <h> unreachable".
 */
export async function sendVolume(
  _t: HttpTransport,
  _host: { id: string; url: string },
  _volume: { id: string; app: string },
  _destFile: string,
): Promise<{ snapshotId: string; streamBytes: number }> {
  throw new Error('not implemented');
}

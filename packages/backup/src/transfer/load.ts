import type { Readable } from 'node:stream';
import type { HttpTransport } from './http.js';

// STUB (seam): putting an archive's data onto hosts (restore §9.2 step 6, import §10.2), owned by
// the reader helper.

/** `PUT /host/artifacts/<sha256>` with the tarball's bytes (400 when the sha256 differs). */
export async function pushArtifact(
  _t: HttpTransport,
  _hostUrl: string,
  _sha256: string,
  _body: Readable,
): Promise<void> {
  throw new Error('not implemented');
}

/**
 * A new data volume on `host` (`POST /storage/providers/default/volumes` with `meta`) receiving a
 * gzipped `zfs send` stream (`PUT /storage/volumes/<id>/receive`, the decompressed stream as the
 * body). Returns the new volume's id. A failed receive destroys the new volume.
 */
export async function receiveVolume(
  _t: HttpTransport,
  _hostUrl: string,
  _gzStream: Readable,
  _meta: Record<string, string>,
): Promise<{ id: string }> {
  throw new Error('not implemented');
}

/** Destroys a volume (undoing an import). */
export async function destroyVolume(_t: HttpTransport, _hostUrl: string, _id: string): Promise<void> {
  throw new Error('not implemented');
}

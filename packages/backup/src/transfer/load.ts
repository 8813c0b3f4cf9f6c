import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import { expect2xx, type HttpTransport, linkBody, readBody, TransferError } from './http.js';

// Putting an archive's data onto hosts (restore §9.2 step 6, import §10.2): artifacts by their
// sha256, volumes as new data volumes receiving the archive's `zfs send` stream. Bodies stream;
// nothing here holds a volume or an artifact whole.

const SNAPSHOT_CONTENT_TYPE = 'application/vnd.zfs.snapshot-stream';

/** `PUT /host/artifacts/<sha256>` with the tarball's bytes (400 when the sha256 differs). */
export async function pushArtifact(
  t: HttpTransport,
  hostUrl: string,
  sha256: string,
  body: Readable,
): Promise<void> {
  try {
    const res = await t.request('PUT', `${hostUrl}/host/artifacts/${sha256}`, {
      headers: { 'content-type': 'application/gzip' },
      body,
    });
    await expect2xx(res, `artifact ${sha256}`);
    res.resume();
  } finally {
    // A refused push may leave the body unread: its file closes here.
    body.destroy();
  }
}

/**
 * A new data volume on `host` (`POST /storage/providers/default/volumes` with `meta`) receiving a
 * gzipped `zfs send` stream (`PUT /storage/volumes/<id>/receive`, the decompressed stream as the
 * body). Returns the new volume's id. A failed receive destroys the new volume.
 *
 * The snapshot the receive leaves behind is destroyed too: the result is a plain data volume, as
 * a deploy creates one (a data volume with snapshots cannot be destroyed, e.g. by an undo).
 */
export async function receiveVolume(
  t: HttpTransport,
  hostUrl: string,
  gzStream: Readable,
  meta: Record<string, string>,
): Promise<{ id: string }> {
  let id: string;
  try {
    const created = await t.request('POST', `${hostUrl}/storage/providers/default/volumes`, {
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ meta })),
    });
    await expect2xx(created, 'create volume');
    ({ id } = JSON.parse(await readBody(created)) as { id: string });
  } catch (err) {
    gzStream.destroy();
    throw err;
  }
  try {
    // A gunzip destroyed by a failed request takes the archive's stream (its fd) along.
    const gunzip = createGunzip();
    linkBody(gzStream, gunzip);
    const res = await t.request('PUT', `${hostUrl}/storage/volumes/${id}/receive`, {
      headers: { 'content-type': SNAPSHOT_CONTENT_TYPE },
      body: gunzip,
    });
    await expect2xx(res, `receive volume ${id}`);
    const snapshot = JSON.parse(await readBody(res)) as { id: string };
    await destroyVolume(t, hostUrl, snapshot.id);
    return { id };
  } catch (err) {
    gzStream.destroy();
    await destroyVolume(t, hostUrl, id).catch(() => {});
    throw err;
  }
}

/** Receives before giving up: zfs-fuse fails a receive now and then under load. */
const RECEIVE_ATTEMPTS = 3;

/**
 * receiveVolume from an archive entry, opened again for each attempt. zfs-fuse answers a good
 * stream with "I/O error" now and then under load; the archive was verified against its sha256,
 * so a second receive of the same bytes is the cure (each failed attempt destroyed its volume).
 */
export async function receiveVolumeRetrying(
  t: HttpTransport,
  hostUrl: string,
  open: () => Readable,
  meta: Record<string, string>,
  onRetry?: (err: Error, attempt: number) => void,
): Promise<{ id: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await receiveVolume(t, hostUrl, open(), meta);
    } catch (err) {
      const rejected = err instanceof TransferError && err.status === 400;
      if (!rejected || attempt >= RECEIVE_ATTEMPTS) throw err;
      onRetry?.(err as Error, attempt);
    }
  }
}

/** How long a destroy waits for a receive into the volume to end (409 busy, retry). */
const BUSY_WAIT_MS = 15_000;

/**
 * Destroys a volume (undoing an import); one already gone is fine. A receive still ending (an
 * interrupted import's) makes the host answer 409 with `retry`: asked again for BUSY_WAIT_MS.
 */
export async function destroyVolume(t: HttpTransport, hostUrl: string, id: string): Promise<void> {
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (;;) {
    const res = await t.request('DELETE', `${hostUrl}/storage/volumes/${id}`, { timeoutMs: 60_000 });
    if (res.statusCode === 404) return void res.resume();
    if (res.statusCode !== 409 || Date.now() >= deadline) {
      await expect2xx(res, `destroy volume ${id}`);
      return void res.resume();
    }
    const text = await readBody(res);
    let answer: { message?: string; retry?: boolean } = {};
    try {
      answer = JSON.parse(text);
    } catch {
      // not an envelope
    }
    // A volume with snapshots is a 409 too, but not one worth waiting for.
    if (answer.retry !== true)
      throw new TransferError(`destroy volume ${id}: 409 ${answer.message ?? text}`.trim(), 409);
    await sleep(250);
  }
}

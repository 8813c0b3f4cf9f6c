import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { KvPair } from '../format/kv-ndjson.js';
import { EXCLUDED_PREFIXES } from '../format/manifest.js';
import { expect2xx, type HttpTransport, IDLE_MS, readBody, TransferError } from './http.js';

// Reading a cluster's data for a backup or an export (flynn-ops.md §8.2 steps 2–4): the store at
// one revision, artifact tarballs from the hosts that hold them, volumes as gzipped `zfs send`
// streams. Everything big goes straight to a file; nothing is held whole.

export interface KvSnapshot {
  revision: number;
  /** Every key, sorted, minus EXCLUDED_PREFIXES. */
  pairs: KvPair[];
}

const MAX_REDIRECTS = 10;
const SNAPSHOT_CONTENT_TYPE = 'application/vnd.zfs.snapshot-stream';

interface KvListing {
  revision: number;
  entries: { key: string; value: string }[];
  more: boolean;
}

/** Code-point order of the keys' UTF-8 bytes, as the store sorts them. */
function byUtf8(a: KvPair, b: KvPair): number {
  return Buffer.compare(Buffer.from(a.key, 'utf8'), Buffer.from(b.key, 'utf8'));
}

/** One unprefixed, unlimited `GET /kv/` (a linearizable read at one revision); `more` must be false. */
export async function captureKv(t: HttpTransport, discoverdUrl: string): Promise<KvSnapshot> {
  let url = `${discoverdUrl.replace(/\/+$/, '')}/kv/`;
  for (let hops = 0; ; hops++) {
    const res = await t.request('GET', url, { headers: { accept: 'application/json' } });
    if (res.statusCode === 307) {
      const location = res.headers.location;
      res.resume();
      if (!location) throw new TransferError(`GET ${url}: 307 without a Location`, 307);
      if (hops >= MAX_REDIRECTS) throw new TransferError(`GET ${url}: more than ${MAX_REDIRECTS} redirects`);
      url = new URL(location, url).toString();
      continue;
    }
    await expect2xx(res, `GET ${url}`);
    let listing: KvListing;
    try {
      listing = JSON.parse(await readBody(res)) as KvListing;
    } catch {
      throw new TransferError(`GET ${url}: the answer is not JSON`);
    }
    if (!Number.isInteger(listing.revision) || !Array.isArray(listing.entries)) {
      throw new TransferError(`GET ${url}: the answer is not a store listing`);
    }
    // The server lists in one synchronous pass; a cut list would not be one revision.
    if (listing.more !== false) throw new TransferError(`GET ${url}: the listing was cut short (more: true)`);
    const pairs = listing.entries
      .filter((e) => !EXCLUDED_PREFIXES.some((p) => e.key.startsWith(p)))
      .map((e) => ({ key: e.key, value: e.value }))
      .sort(byUtf8);
    return { revision: listing.revision, pairs };
  }
}

/** Bytes as they arrive (a progress bar's). */
export type OnBytes = (n: number) => void;

/** Counts and hashes the bytes going through; a stall longer than IDLE_MS fails it. */
class Meter extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private timer?: NodeJS.Timeout;
  private readonly idleMs = IDLE_MS;

  constructor(private readonly onBytes?: OnBytes) {
    super();
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => this.destroy(new Error(`no data for ${this.idleMs / 1000} s`)),
      this.idleMs,
    );
    this.timer.unref();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    this.hash.update(chunk);
    this.arm();
    this.push(chunk);
    cb();
  }

  override _flush(cb: () => void): void {
    clearTimeout(this.timer);
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    clearTimeout(this.timer);
    cb(err);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** A `tar` artifact from the first host (API base URL) that has it, sha256 checked, into `destFile`. */
export async function fetchArtifact(
  t: HttpTransport,
  hostUrls: string[],
  sha256: string,
  destFile: string,
  onBytes?: OnBytes,
): Promise<{ size: number }> {
  const failures: string[] = [];
  for (const base of hostUrls) {
    const url = `${base.replace(/\/+$/, '')}/host/artifacts/${sha256}`;
    let res: IncomingMessage;
    try {
      res = await t.request('GET', url);
    } catch (err) {
      failures.push(`${base}: ${(err as Error).message}`);
      continue;
    }
    if (res.statusCode !== 200) {
      failures.push(`${base}: ${res.statusCode}`);
      res.resume();
      continue;
    }
    const meter = new Meter(onBytes);
    try {
      await pipeline(res, meter, createWriteStream(destFile, { mode: 0o600 }));
    } catch (err) {
      failures.push(`${base}: ${(err as Error).message}`);
      continue;
    }
    const got = meter.digest();
    if (got === sha256.toLowerCase()) return { size: meter.bytes };
    failures.push(`${base}: sent data with sha256 ${got}`);
  }
  throw new TransferError(
    `no host could give artifact sha256:${sha256} (${failures.join('; ') || 'no hosts'})`,
  );
}

class Unreachable extends Error {}

/**
 * Snapshot a volume on its host, gzip its full `zfs send` stream into `destFile`, delete the
 * snapshot. Errors name the volume: "volume <id> of <app> vanished during the backup; retry",
 * "cannot back up volume <id>: host <h> unreachable".
 */
export async function sendVolume(
  t: HttpTransport,
  host: { id: string; url: string },
  volume: { id: string; app: string },
  destFile: string,
  onBytes?: OnBytes,
): Promise<{ snapshotId: string; streamBytes: number }> {
  const base = host.url.replace(/\/+$/, '');
  const vanished = () =>
    new TransferError(`volume ${volume.id} of ${volume.app} vanished during the backup; retry`, 404);
  const unreachable = () =>
    new TransferError(`cannot back up volume ${volume.id}: host ${host.id} unreachable`);
  const call = async (method: string, path: string, opts?: Parameters<HttpTransport['request']>[2]) => {
    try {
      return await t.request(method, `${base}${path}`, opts);
    } catch {
      throw unreachable();
    }
  };

  const snap = await call('PUT', `/storage/volumes/${encodeURIComponent(volume.id)}/snapshot`, {
    timeoutMs: 120_000,
  });
  if (snap.statusCode === 404) {
    snap.resume();
    throw vanished();
  }
  await expect2xx(snap, `snapshot of volume ${volume.id} on host ${host.id}`);
  const snapshotId = (JSON.parse(await readBody(snap)) as { id: string }).id;
  try {
    const res = await call('GET', `/storage/volumes/${encodeURIComponent(snapshotId)}/send`, {
      // node:http frames a GET body only with an explicit Content-Length.
      headers: { accept: SNAPSHOT_CONTENT_TYPE, 'content-type': 'application/json', 'content-length': '2' },
      // The deadline is the head's; the stream itself may take hours (idle watchdogs guard it).
      body: Buffer.from('[]'),
    });
    if (res.statusCode === 404) {
      res.resume();
      throw vanished();
    }
    await expect2xx(res, `send of volume ${volume.id} on host ${host.id}`);
    const meter = new Meter(onBytes);
    const gzip = createGzip();
    const file = createWriteStream(destFile, { mode: 0o600 });
    // Which side failed first decides the message: the host (a reset, a truncated or stalled
    // stream) or this machine (a full disk: said as it is).
    let first: 'remote' | 'local' | undefined;
    const remote = () => {
      first ??= 'remote';
    };
    const local = () => {
      first ??= 'local';
    };
    res.once('aborted', remote).once('error', remote);
    meter.once('error', remote);
    gzip.once('error', local);
    file.once('error', local);
    try {
      await pipeline(res, meter, gzip, file);
    } catch (err) {
      if (first === 'local') throw err;
      throw new Unreachable();
    }
    return { snapshotId, streamBytes: meter.bytes };
  } catch (err) {
    if (err instanceof Unreachable) throw unreachable();
    throw err;
  } finally {
    await deleteSnapshot(t, base, snapshotId);
  }
}

/** Best effort: a snapshot left behind on a dead host is removed with the volume later. */
async function deleteSnapshot(t: HttpTransport, base: string, snapshotId: string): Promise<void> {
  try {
    const res = await t.request('DELETE', `${base}/storage/volumes/${encodeURIComponent(snapshotId)}`, {
      timeoutMs: 30_000,
    });
    res.resume();
  } catch {
    // the host is gone: nothing to clean up from here
  }
}

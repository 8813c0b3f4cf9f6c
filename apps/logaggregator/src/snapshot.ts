// Our snapshot format (Flynn's was a Go gob stream, not portable):
//
//   {"format":"flynn-edge-logaggregator-snapshot","version":1,"cursors":{"<host>":{"time","seq"}}}\n
//   <len> <RFC 5424 message>\n          (RFC 6587 frames in the on-disk form, app by app, oldest first)
//
// served as `application/vnd.flynn-edge.logaggregator-snapshot` by GET /snapshot. A new instance
// loads a running peer's snapshot before it registers, so a restart loses nothing a peer holds.

import { FrameDecoder, frameMessage, type LogMessage } from '@flynn-edge/syslog';
import type { Aggregator } from './aggregator.js';
import { ownMessage } from './ingest.js';

export const SNAPSHOT_CONTENT_TYPE = 'application/vnd.flynn-edge.logaggregator-snapshot';
export const SNAPSHOT_FORMAT = 'flynn-edge-logaggregator-snapshot';
export const SNAPSHOT_VERSION = 1;
/** Re-encoding normalises PRI and may grow a message a little past the 11,000-byte wire limit. */
const SNAPSHOT_MAX_FRAME = 65_536;
const MAX_HEADER = 16 * 1024 * 1024;
const BATCH = 1000;

/**
 * The snapshot as a sequence of chunks. The rings are copied (by reference) first, so messages
 * arriving while the chunks are written do not change what is sent.
 */
export function* snapshotChunks(agg: Aggregator): Generator<Buffer> {
  const header = { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, cursors: agg.rawCursors() };
  const apps = agg.apps().map((app) => agg.ring(app)!.toArray());
  yield Buffer.from(`${JSON.stringify(header)}\n`);
  for (const entries of apps) {
    for (let i = 0; i < entries.length; i += BATCH) {
      yield Buffer.concat(entries.slice(i, i + BATCH).map((e) => frameMessage(e.m, true)));
    }
  }
}

export interface LoadResult {
  /** Messages stored (duplicates of what is already buffered are not counted). */
  loaded: number;
  /** Frames that did not decode. */
  errors: number;
}

export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

/** Feeds a snapshot stream into `agg`. Throws SnapshotError on a bad header; bad frames are counted. */
export async function loadSnapshot(
  agg: Aggregator,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<LoadResult> {
  const result: LoadResult = { loaded: 0, errors: 0 };
  const decoder = new FrameDecoder({ maxFrame: SNAPSHOT_MAX_FRAME, newline: 'required' });
  let head: Buffer | undefined = Buffer.alloc(0);
  const feed = (buf: Buffer) => {
    for (const r of decoder.push(buf)) {
      if ('error' in r) {
        result.errors++;
        continue;
      }
      if (agg.add(ownMessage(r as LogMessage))) result.loaded++;
    }
  };
  for await (const chunk of chunks) {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (head === undefined) {
      feed(buf);
      continue;
    }
    head = Buffer.concat([head, buf]);
    const nl = head.indexOf(0x0a);
    if (nl < 0) {
      if (head.length > MAX_HEADER) throw new SnapshotError('snapshot header too long');
      continue;
    }
    applyHeader(agg, head.subarray(0, nl));
    const rest = head.subarray(nl + 1);
    head = undefined;
    feed(rest);
  }
  if (head !== undefined) {
    if (head.length === 0) throw new SnapshotError('empty snapshot');
    throw new SnapshotError('snapshot header not terminated');
  }
  if (decoder.bufferedBytes > 0) result.errors++; // a torn last frame
  return result;
}

function applyHeader(agg: Aggregator, line: Buffer): void {
  let header: unknown;
  try {
    header = JSON.parse(line.toString('utf8'));
  } catch {
    throw new SnapshotError('snapshot header is not JSON');
  }
  const h = header as { format?: unknown; version?: unknown; cursors?: unknown };
  if (h.format !== SNAPSHOT_FORMAT) throw new SnapshotError(`not a ${SNAPSHOT_FORMAT}`);
  if (h.version !== SNAPSHOT_VERSION)
    throw new SnapshotError(`unsupported snapshot version ${String(h.version)}`);
  if (typeof h.cursors === 'object' && h.cursors !== null) {
    for (const [host, c] of Object.entries(h.cursors as Record<string, unknown>)) {
      const cur = c as { time?: unknown; seq?: unknown };
      if (typeof cur.time === 'string' && Number.isInteger(cur.seq)) {
        agg.advanceCursor(host, { time: cur.time, seq: cur.seq as number });
      }
    }
  }
}

/** GETs `<baseUrl>/snapshot` and loads it. */
export async function fetchSnapshot(
  agg: Aggregator,
  baseUrl: string,
  timeoutMs = 30_000,
): Promise<LoadResult> {
  const res = await fetch(`${baseUrl}/snapshot`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    throw new SnapshotError(`GET ${baseUrl}/snapshot: status ${res.status}`);
  }
  return loadSnapshot(agg, res.body as unknown as AsyncIterable<Uint8Array>);
}

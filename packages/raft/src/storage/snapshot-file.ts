// Snapshot files: [magic "RSNP"][CRC32 u32][meta length u32][data length u64][meta JSON][data].
// The CRC covers everything after itself, so a damaged or short file is rejected as a whole.
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { ClusterConfig, Snapshot, SnapshotMeta } from '../core/types.js';
import { readU64, writeU64 } from './codec.js';
import { FILE_MODE, type Io } from './io.js';
import { hex16 } from './segment.js';

const MAGIC = 0x504e5352; // "RSNP" little-endian
const FIXED = 20;
const SNAPSHOT_RE = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

/** Index first, so names sort by index. */
export function snapshotName(index: number, term: number): string {
  return `snap-${hex16(index)}-${hex16(term)}.snap`;
}

export function parseSnapshotName(name: string): { index: number; term: number } | null {
  const m = SNAPSHOT_RE.exec(name);
  if (!m) return null;
  return { index: Number.parseInt(m[1], 16), term: Number.parseInt(m[2], 16) };
}

function encodeHeader(snap: Snapshot): Buffer {
  const meta = Buffer.from(JSON.stringify(snap.meta), 'utf8');
  const head = Buffer.allocUnsafe(FIXED + meta.length);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(meta.length, 8);
  writeU64(head, snap.data.length, 12);
  meta.copy(head, FIXED);
  head.writeUInt32LE(crc32(snap.data, crc32(head.subarray(8))), 4);
  return head;
}

/** Parses and verifies a snapshot file; throws on any damage. */
export function decodeSnapshot(buf: Buffer, expect?: { index: number; term: number }): Snapshot {
  if (buf.length < FIXED || buf.readUInt32LE(0) !== MAGIC) throw new Error('not a snapshot file');
  if (crc32(buf.subarray(8)) !== buf.readUInt32LE(4)) throw new Error('snapshot CRC mismatch');
  const metaLen = buf.readUInt32LE(8);
  const dataLen = readU64(buf, 12);
  if (FIXED + metaLen + dataLen !== buf.length) throw new Error('snapshot length mismatch');
  const meta = parseMeta(buf.toString('utf8', FIXED, FIXED + metaLen));
  if (expect && (meta.index !== expect.index || meta.term !== expect.term)) {
    throw new Error('snapshot contents do not match its file name');
  }
  return { meta, data: new Uint8Array(buf.subarray(FIXED + metaLen)) };
}

function parseMeta(json: string): SnapshotMeta {
  const m = JSON.parse(json) as Partial<SnapshotMeta>;
  const ids = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  const c = m.config as Partial<ClusterConfig> | undefined;
  if (
    !Number.isSafeInteger(m.index) ||
    !Number.isSafeInteger(m.term) ||
    !c ||
    !ids(c.voters) ||
    !ids(c.learners)
  ) {
    throw new Error('snapshot meta is malformed');
  }
  return {
    index: m.index as number,
    term: m.term as number,
    config: { voters: c.voters, learners: c.learners },
  };
}

/** Atomic: write a temp file, fsync it, rename over the final name, fsync the directory. */
export async function writeSnapshotFile(dir: string, snap: Snapshot, io: Io): Promise<string> {
  const name = snapshotName(snap.meta.index, snap.meta.term);
  const tmp = join(dir, `${name}.tmp`);
  const head = encodeHeader(snap);
  const fh = await open(tmp, 'w', FILE_MODE);
  try {
    await io.write(fh, head, 0);
    await io.write(fh, snap.data, head.length);
    await io.fsync(fh);
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  await io.syncDir(dir);
  return name;
}

export async function readSnapshotFile(dir: string, name: string): Promise<Snapshot> {
  const parsed = parseSnapshotName(name);
  if (!parsed) throw new Error(`not a snapshot file name: ${name}`);
  return decodeSnapshot(await readFile(join(dir, name)), parsed);
}

/**
 * Loads the newest snapshot among `names` whose contents verify, falling back to older ones.
 * `kept` lists the readable-looking snapshot names (oldest first) without the corrupt ones skipped.
 */
export async function loadNewestSnapshot(
  dir: string,
  names: string[],
): Promise<{ snapshot: Snapshot | null; kept: string[]; corrupt: string[] }> {
  const kept = names.filter((n) => parseSnapshotName(n) !== null).sort();
  const corrupt: string[] = [];
  while (kept.length > 0) {
    const name = kept[kept.length - 1];
    try {
      return { snapshot: await readSnapshotFile(dir, name), kept, corrupt };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code) throw err; // an I/O error, not damaged contents
      corrupt.push(name);
      kept.pop();
    }
  }
  return { snapshot: null, kept, corrupt };
}

// WAL segment files: naming, and reading one back into records.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entry, HardState } from '../core/types.js';
import { decodeEntry, decodeHardState, decodeMarker, type SnapshotMarker } from './codec.js';
import { StorageCorruptionError } from './errors.js';
import { RecordType, scanRecords } from './record.js';

export interface SegmentInfo {
  seq: number;
  firstIndex: number;
  name: string;
  /** Highest entry index written to the segment (0 if none): it may be deleted once a snapshot covers it. */
  maxIndex: number;
}

// Fixed-width hex keeps lexical order equal to numeric order.
const SEGMENT_RE = /^wal-([0-9a-f]{16})-([0-9a-f]{16})\.log$/;

export function segmentName(seq: number, firstIndex: number): string {
  return `wal-${hex16(seq)}-${hex16(firstIndex)}.log`;
}

export function parseSegmentName(name: string): { seq: number; firstIndex: number } | null {
  const m = SEGMENT_RE.exec(name);
  if (!m) return null;
  return { seq: Number.parseInt(m[1], 16), firstIndex: Number.parseInt(m[2], 16) };
}

export function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

/** The segment files among `names`, oldest first; a hole in the sequence means a file was lost. */
export function listSegments(names: string[]): SegmentInfo[] {
  const segs: SegmentInfo[] = [];
  for (const name of names) {
    const parsed = parseSegmentName(name);
    if (parsed) segs.push({ name, ...parsed, maxIndex: 0 });
  }
  segs.sort((a, b) => a.seq - b.seq);
  for (let i = 1; i < segs.length; i++) {
    if (segs[i].seq !== segs[i - 1].seq + 1) {
      throw new StorageCorruptionError(
        `WAL segment ${segs[i - 1].seq + 1} is missing (before ${segs[i].name})`,
      );
    }
  }
  return segs;
}

export interface SegmentVisitor {
  entry(e: Entry): void;
  hardState(hs: HardState): void;
  marker(m: SnapshotMarker): void;
}

export interface SegmentReadResult {
  maxIndex: number;
  size: number;
  validEnd: number;
  /** Why the tail is damaged, or null. */
  damage: string | null;
}

/** Replays one segment into `visit`, stopping at the first damaged record. */
export async function readSegment(
  dir: string,
  name: string,
  visit: SegmentVisitor,
): Promise<SegmentReadResult> {
  const buf = await readFile(join(dir, name));
  let maxIndex = 0;
  const { validEnd, error } = scanRecords(buf, (type, payload, offset) => {
    try {
      switch (type) {
        case RecordType.Entry: {
          const e = decodeEntry(payload);
          if (e.index > maxIndex) maxIndex = e.index;
          visit.entry(e);
          return;
        }
        case RecordType.HardState:
          visit.hardState(decodeHardState(payload));
          return;
        case RecordType.Snapshot:
          visit.marker(decodeMarker(payload));
          return;
        default:
          throw new Error(`unknown record type ${type}`);
      }
    } catch (err) {
      if (err instanceof StorageCorruptionError) throw err;
      // The CRC matched, so this is not a torn write but a format we do not understand: never truncate it.
      throw new StorageCorruptionError(`${name} at offset ${offset}: ${(err as Error).message}`);
    }
  });
  return { maxIndex, size: buf.length, validEnd, damage: error };
}

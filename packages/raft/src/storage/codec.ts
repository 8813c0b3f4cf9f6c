// Binary payloads of WAL records. Entries are the hot path, so they are fixed-layout binary, never JSON.
import type { Entry, EntryType, HardState } from '../core/types.js';
import { MAX_PAYLOAD, RECORD_HEADER, RecordType, sealRecord } from './record.js';

const TWO_32 = 2 ** 32;
const NO_VOTE = 0xffff;

/** Entry payload: index u64, term u64, type u8, then the data bytes. */
const ENTRY_FIXED = 17;
/** HardState payload: term u64, commit u64, vote length u16 (0xffff = none), vote UTF-8. */
const HARD_STATE_FIXED = 18;
/** Snapshot marker payload: index u64, term u64, flags u8. */
const MARKER_SIZE = 17;
const MARKER_RESET = 1;

export interface SnapshotMarker {
  index: number;
  term: number;
  /** The log was discarded (a snapshot installed from the leader); otherwise only compacted. */
  reset: boolean;
}

export function checkU53(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`${what} must be a non-negative safe integer, got ${n}`);
}

export function writeU64(buf: Buffer, n: number, off: number): void {
  // Two halves instead of BigInt: the conversion cost of BigInt would dominate small entries.
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / TWO_32), off + 4);
}

export function readU64(buf: Buffer, off: number): number {
  const hi = buf.readUInt32LE(off + 4);
  if (hi >= 2 ** 21) throw new RangeError(`u64 at offset ${off} exceeds 2^53`);
  return hi * TWO_32 + buf.readUInt32LE(off);
}

export function validateHardState(hs: HardState): number {
  checkU53(hs.term, 'hardState.term');
  checkU53(hs.commit, 'hardState.commit');
  if (hs.vote === null) return 0;
  const voteLen = Buffer.byteLength(hs.vote, 'utf8');
  if (voteLen >= NO_VOTE) throw new RangeError('hardState.vote is too long');
  return voteLen;
}

export function validateEntry(e: Entry): void {
  checkU53(e.index, 'entry.index');
  checkU53(e.term, 'entry.term');
  if (!Number.isInteger(e.type) || e.type < 0 || e.type > 255)
    throw new RangeError(`bad entry type ${e.type}`);
  // Replay treats longer records as garbage, so refuse to write one.
  if (e.data.length > MAX_PAYLOAD - ENTRY_FIXED) throw new RangeError(`entry ${e.index} is too large`);
}

/** Size of the framed records for a batch; validates as it goes so encoding cannot fail half-way. */
export function batchSize(hs: HardState | null, entries: readonly Entry[]): number {
  let size = hs ? RECORD_HEADER + HARD_STATE_FIXED + validateHardState(hs) : 0;
  for (const e of entries) {
    validateEntry(e);
    size += RECORD_HEADER + ENTRY_FIXED + e.data.length;
  }
  return size;
}

/** Encodes a HardState record (if any) followed by one record per entry into a single buffer. */
export function encodeBatch(hs: HardState | null, entries: readonly Entry[]): Buffer {
  const buf = Buffer.allocUnsafe(batchSize(hs, entries));
  let off = hs ? encodeHardStateInto(buf, 0, hs) : 0;
  for (const e of entries) {
    const p = off + RECORD_HEADER;
    writeU64(buf, e.index, p);
    writeU64(buf, e.term, p + 8);
    buf[p + 16] = e.type;
    buf.set(e.data, p + ENTRY_FIXED);
    off = sealRecord(buf, off, RecordType.Entry, ENTRY_FIXED + e.data.length);
  }
  return buf;
}

function encodeHardStateInto(buf: Buffer, off: number, hs: HardState): number {
  const p = off + RECORD_HEADER;
  writeU64(buf, hs.term, p);
  writeU64(buf, hs.commit, p + 8);
  let voteLen = 0;
  if (hs.vote === null) {
    buf.writeUInt16LE(NO_VOTE, p + 16);
  } else {
    voteLen = buf.write(hs.vote, p + HARD_STATE_FIXED, 'utf8');
    buf.writeUInt16LE(voteLen, p + 16);
  }
  return sealRecord(buf, off, RecordType.HardState, HARD_STATE_FIXED + voteLen);
}

/** The records that open every segment, so that older segments can be deleted without losing state. */
export function encodeSegmentHeader(hs: HardState, marker: SnapshotMarker): Buffer {
  const buf = Buffer.allocUnsafe(
    RECORD_HEADER + HARD_STATE_FIXED + validateHardState(hs) + RECORD_HEADER + MARKER_SIZE,
  );
  const off = encodeHardStateInto(buf, 0, hs);
  encodeMarkerInto(buf, off, marker);
  return buf;
}

export function encodeMarker(marker: SnapshotMarker): Buffer {
  const buf = Buffer.allocUnsafe(RECORD_HEADER + MARKER_SIZE);
  encodeMarkerInto(buf, 0, marker);
  return buf;
}

function encodeMarkerInto(buf: Buffer, off: number, m: SnapshotMarker): number {
  const p = off + RECORD_HEADER;
  writeU64(buf, m.index, p);
  writeU64(buf, m.term, p + 8);
  buf[p + 16] = m.reset ? MARKER_RESET : 0;
  return sealRecord(buf, off, RecordType.Snapshot, MARKER_SIZE);
}

export function decodeEntry(p: Buffer): Entry {
  if (p.length < ENTRY_FIXED) throw new RangeError('entry record too short');
  return {
    index: readU64(p, 0),
    term: readU64(p, 8),
    type: p[16] as EntryType,
    // Copy: a view would pin the whole segment buffer read at recovery.
    data: new Uint8Array(p.subarray(ENTRY_FIXED)),
  };
}

export function decodeHardState(p: Buffer): HardState {
  if (p.length < HARD_STATE_FIXED) throw new RangeError('hardState record too short');
  const voteLen = p.readUInt16LE(16);
  if (voteLen !== NO_VOTE && p.length !== HARD_STATE_FIXED + voteLen) {
    throw new RangeError('hardState record has a bad vote length');
  }
  return {
    term: readU64(p, 0),
    commit: readU64(p, 8),
    vote: voteLen === NO_VOTE ? null : p.toString('utf8', HARD_STATE_FIXED, HARD_STATE_FIXED + voteLen),
  };
}

export function decodeMarker(p: Buffer): SnapshotMarker {
  if (p.length !== MARKER_SIZE) throw new RangeError('snapshot marker record has a bad size');
  return { index: readU64(p, 0), term: readU64(p, 8), reset: (p[16] & MARKER_RESET) !== 0 };
}

// Framing of WAL records: [payload length u32][CRC32 u32][type u8][payload]. The CRC covers the type
// byte and the payload, so a torn or bit-flipped record is detected before its payload is trusted.
import { crc32 } from 'node:zlib';

export const RECORD_HEADER = 9;
/** Larger lengths can only be garbage: used to tell a torn length field from a real record. */
export const MAX_PAYLOAD = 256 * 1024 * 1024;

export enum RecordType {
  Entry = 1,
  HardState = 2,
  /** A snapshot marker: the log was compacted to, or reset at, a snapshot. */
  Snapshot = 3,
}

/** Frames a payload that the caller already placed at `off + RECORD_HEADER`; returns the end offset. */
export function sealRecord(buf: Buffer, off: number, type: RecordType, payloadLen: number): number {
  const end = off + RECORD_HEADER + payloadLen;
  buf.writeUInt32LE(payloadLen, off);
  buf[off + 8] = type;
  buf.writeUInt32LE(crc32(buf.subarray(off + 8, end)), off + 4);
  return end;
}

export interface ScanResult {
  /** Offset just past the last good record. */
  validEnd: number;
  /** Why scanning stopped early, or null when the whole buffer was valid. */
  error: string | null;
}

/** Visits each valid record in order and stops at the first damaged one. */
export function scanRecords(
  buf: Buffer,
  visit: (type: number, payload: Buffer, offset: number) => void,
): ScanResult {
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < RECORD_HEADER) {
      return { validEnd: off, error: `short record header at offset ${off}` };
    }
    const len = buf.readUInt32LE(off);
    if (len > MAX_PAYLOAD) return { validEnd: off, error: `bad record length ${len} at offset ${off}` };
    const end = off + RECORD_HEADER + len;
    if (end > buf.length) return { validEnd: off, error: `short record at offset ${off}` };
    if (crc32(buf.subarray(off + 8, end)) !== buf.readUInt32LE(off + 4)) {
      return { validEnd: off, error: `bad CRC at offset ${off}` };
    }
    visit(buf[off + 8], buf.subarray(off + RECORD_HEADER, end), off);
    off = end;
  }
  return { validEnd: off, error: null };
}

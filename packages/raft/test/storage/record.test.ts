import { describe, expect, it } from 'vitest';
import { EntryType } from '../../src/core/types.js';
import { decodeEntry, decodeHardState, encodeBatch } from '../../src/storage/codec.js';
import { RECORD_HEADER, RecordType, scanRecords } from '../../src/storage/record.js';

function scan(buf: Buffer): { types: number[]; validEnd: number; error: string | null } {
  const types: number[] = [];
  const r = scanRecords(buf, (type) => types.push(type));
  return { types, ...r };
}

describe('record framing', () => {
  const hs = { term: 7, vote: 'node-1', commit: 3 };
  const e = { index: 9, term: 7, type: EntryType.ConfChange, data: new Uint8Array([1, 2, 3]) };
  const batch = encodeBatch(hs, [e]);
  const entryStart = batch.length - (RECORD_HEADER + 17 + 3);

  it('encodes a batch as binary records that decode back', () => {
    const payloads: Buffer[] = [];
    const r = scanRecords(batch, (_t, p) => payloads.push(p));
    expect(r).toEqual({ validEnd: batch.length, error: null });
    expect(decodeHardState(payloads[0])).toEqual(hs);
    expect(decodeEntry(payloads[1])).toEqual(e);
    expect(batch.readUInt32LE(entryStart)).toBe(20); // index 8 + term 8 + type 1 + data 3
    expect(batch[entryStart + 8]).toBe(RecordType.Entry);
  });

  it('stops at a short header, a short payload, a bad length and a bad CRC', () => {
    expect(scan(batch.subarray(0, entryStart + 4))).toMatchObject({
      validEnd: entryStart,
      error: /short record header/,
    });
    expect(scan(batch.subarray(0, batch.length - 1))).toMatchObject({
      validEnd: entryStart,
      error: /short record/,
    });
    const badLen = Buffer.from(batch);
    badLen.writeUInt32LE(0xfffffff0, entryStart);
    expect(scan(badLen)).toMatchObject({ validEnd: entryStart, error: /bad record length/ });
    const flipped = Buffer.from(batch);
    flipped[flipped.length - 1] ^= 1;
    expect(scan(flipped)).toMatchObject({
      types: [RecordType.HardState],
      validEnd: entryStart,
      error: /bad CRC/,
    });
    // Zeroes (e.g. a file extended but never written) must not pass as a record.
    expect(scan(Buffer.alloc(32))).toMatchObject({ validEnd: 0, error: /bad CRC/ });
  });
});

import type { ByteReader } from './byte-reader.js';
import { BLOCK, isZeroBlock, padding, parseHeader, parsePaxRecords } from './tar-header.js';

// Walking a tar's headers one at a time, PAX `x` headers applied to the entry they precede.
// Problems come back as a TarProblem naming what went wrong; the caller words the message.

export type TarProblem =
  | { kind: 'short-header'; offset: number }
  | { kind: 'bad-checksum'; offset: number }
  | { kind: 'bad-pax'; offset: number }
  | { kind: 'lone-zero-block'; offset: number }
  | { kind: 'no-second-end-block'; offset: number };

export class TarWalkError extends Error {
  constructor(readonly problem: TarProblem) {
    super(problem.kind);
  }
}

export type TarStep =
  | {
      type: 'entry';
      name: string;
      size: number;
      typeflag: string;
      mode: number;
      uid: number;
      headerOffset: number;
      offset: number;
    }
  | { type: 'end' }
  | { type: 'eof' };

const PAX_MAX = 1 << 20;

/** The next entry's header (its data is next in `r`), the end blocks, or the end of the file. */
export async function nextTarStep(r: ByteReader): Promise<TarStep> {
  let pax: Map<string, string> | undefined;
  for (;;) {
    const headerOffset = r.offset;
    const block = await r.read(BLOCK);
    if (block.length === 0) return { type: 'eof' };
    if (block.length < BLOCK) throw new TarWalkError({ kind: 'short-header', offset: headerOffset });
    if (isZeroBlock(block)) {
      const second = await r.read(BLOCK);
      if (second.length < BLOCK) throw new TarWalkError({ kind: 'no-second-end-block', offset: r.offset });
      if (!isZeroBlock(second)) throw new TarWalkError({ kind: 'lone-zero-block', offset: headerOffset });
      return { type: 'end' };
    }
    const h = parseHeader(block);
    if (!h) throw new TarWalkError({ kind: 'bad-checksum', offset: headerOffset });
    if (h.typeflag === 'x' || h.typeflag === 'g') {
      if (h.size > PAX_MAX) throw new TarWalkError({ kind: 'bad-pax', offset: headerOffset });
      const data = await r.read(h.size + padding(h.size));
      if (data.length < h.size + padding(h.size))
        throw new TarWalkError({ kind: 'short-header', offset: headerOffset });
      const records = parsePaxRecords(data.subarray(0, h.size));
      if (!records) throw new TarWalkError({ kind: 'bad-pax', offset: headerOffset });
      if (h.typeflag === 'x') pax = records; // global headers carry nothing these formats use
      continue;
    }
    let { name, size } = h;
    const paxPath = pax?.get('path');
    const paxSize = pax?.get('size');
    if (paxPath !== undefined) name = paxPath;
    if (paxSize !== undefined) {
      if (!/^\d+$/.test(paxSize)) throw new TarWalkError({ kind: 'bad-pax', offset: headerOffset });
      size = Number(paxSize);
    }
    const typeflag = h.typeflag === '\0' ? '0' : h.typeflag;
    return { type: 'entry', name, size, typeflag, mode: h.mode, uid: h.uid, headerOffset, offset: r.offset };
  }
}

// Raw frames for shipping: every app's frames after a host cursor, from the files and the writers'
// queues, merged in cursor order and handed over in the wire form (no '\n' after a frame) in big
// chunks. Only each frame's cursor is decoded (no message object, no re-encoding), so catching up
// costs little more than copying the bytes.

import { type Cursor, compareCursor } from '@flynn-edge/syslog';
import { forwardBlocks, seekAfter } from './files.js';
import type { Snapshot, SnapshotApp } from './reader.js';
import { scanFrames } from './scan.js';

/** Wire-form frames (RFC 6587, no newline) and the cursor of the last one. */
export interface FrameChunk {
  buf: Buffer;
  count: number;
  last: Cursor;
}

/**
 * Frames of one block: frame k is buf[starts[k], ends[k]) without its '\n', its body starts at
 * bodies[k]. Cursors are decoded only where needed (merging apps, a chunk's last frame).
 */
interface Block {
  buf: Buffer;
  starts: number[];
  bodies: number[];
  ends: number[];
}

const SEQ_MARK = Buffer.from('[flynn seq="', 'latin1');

/**
 * The cursor of the frame body [s, e): `<PRI>1 TS HOST APP PROCID MSGID [flynn seq="N"] …`.
 * Undefined when the body does not have that shape (such frames are not shipped, as the parsing
 * readers skip them).
 */
export function bodyCursor(buf: Buffer, s: number, e: number): Cursor | undefined {
  let p = buf.indexOf(0x20, s); // after `<PRI>1`
  if (p < 0 || p >= e) return undefined;
  const ts = p + 1;
  const tsEnd = buf.indexOf(0x20, ts);
  if (tsEnd < 0 || tsEnd >= e) return undefined;
  p = tsEnd;
  for (let k = 0; k < 4; k++) {
    p = buf.indexOf(0x20, p + 1);
    if (p < 0 || p >= e) return undefined;
  }
  const sd = p + 1;
  if (sd + SEQ_MARK.length >= e || buf.compare(SEQ_MARK, 0, SEQ_MARK.length, sd, sd + SEQ_MARK.length) !== 0)
    return undefined;
  let i = sd + SEQ_MARK.length;
  let seq = 0;
  const d0 = i;
  while (i < e && buf[i]! >= 0x30 && buf[i]! <= 0x39 && i - d0 < 10) seq = seq * 10 + (buf[i++]! - 0x30);
  if (i === d0 || buf[i] !== 0x22) return undefined;
  return { time: buf.toString('latin1', ts, tsEnd), seq };
}

/** compareCursor with a fast path for the fixed-width timestamps this store writes. */
function cmp(at: string, as: number, bt: string, bs: number): number {
  if (at === bt) return as - bs;
  if (at.length === 27 && bt.length === 27) return at < bt ? -1 : 1;
  return compareCursor({ time: at, seq: as }, { time: bt, seq: bs });
}

/**
 * Collects the frames of `buf` after `from` into `into`; returns the offset of the first byte not
 * consumed. An app's frames are in cursor order, so once one is after `from` the rest are too.
 */
function blockOf(buf: Buffer, from: Cursor | undefined, atEof: boolean, into: Block): number {
  let after = from;
  const r = scanFrames(
    buf,
    0,
    buf.length,
    (s, e, f) => {
      if (after) {
        const c = bodyCursor(buf, s, e);
        if (!c || cmp(c.time, c.seq, after.time, after.seq) <= 0) return;
        after = undefined;
      }
      into.starts.push(f);
      into.bodies.push(s);
      into.ends.push(e);
    },
    atEof,
  );
  return r.next;
}

function emptyBlock(buf: Buffer): Block {
  return { buf, starts: [], bodies: [], ends: [] };
}

function cursorAt(b: Block, k: number): Cursor {
  // frames without a cursor were left out by blockOf only while it checked `from`; any other
  // frame of ours has one (a foreign one sorts first and is shipped as it is)
  return bodyCursor(b.buf, b.bodies[k]!, b.ends[k]!) ?? { time: '', seq: 0 };
}

/** One app's frames after `from`: its files (up to their snapshot sizes), then its queue. */
async function* appBlocks(
  app: SnapshotApp,
  from: Cursor | undefined,
): AsyncGenerator<Block, void, undefined> {
  let lastDisk: Cursor | undefined;
  for (const f of app.files) {
    const blocks = forwardBlocks(f, from ? await seekAfter(f, from) : 0, (buf, atEof) => {
      const b = emptyBlock(buf);
      const next = blockOf(buf, from, atEof, b);
      if (b.starts.length === 0) return { next, value: undefined };
      // once past `from`, the rest of the file is too
      from = undefined;
      return { next, value: b };
    });
    for await (const b of blocks) {
      lastDisk = cursorAt(b, b.starts.length - 1);
      yield b;
    }
  }
  // queued frames not on disk yet (a write in flight may already be there: skip what was seen)
  const after = lastDisk ?? from;
  for (const it of app.pendingItems) {
    const b = emptyBlock(it.buf);
    blockOf(it.buf, after, true, b);
    if (b.starts.length > 0) yield b;
  }
}

interface Head {
  it: AsyncGenerator<Block, void, undefined>;
  b: Block;
  k: number;
  /** cursor of frame k, decoded when two or more apps are merged */
  c?: Cursor;
}

/**
 * Every app's frames after `from` in cursor order, as wire-form chunks of about `chunkBytes`.
 * Reads the snapshot's files (the caller releases it).
 */
export async function* framesAfter(
  snap: Snapshot,
  from: Cursor | undefined,
  chunkBytes = 256 * 1024,
): AsyncGenerator<FrameChunk, void, undefined> {
  const heads: Head[] = [];
  for (const app of snap.apps) {
    const it = appBlocks(app, from);
    const r = await it.next();
    if (!r.done) heads.push({ it, b: r.value, k: 0 });
  }
  let out = Buffer.allocUnsafe(chunkBytes);
  let n = 0;
  let count = 0;
  // the last frame copied: its cursor is decoded when a chunk is handed over
  let lastBlock: Block | undefined;
  let lastK = 0;
  const chunk = (): FrameChunk => ({ buf: out.subarray(0, n), count, last: cursorAt(lastBlock!, lastK) });
  while (heads.length > 0) {
    let best = 0;
    if (heads.length > 1) {
      for (let h = 0; h < heads.length; h++) {
        const x = heads[h]!;
        x.c ??= cursorAt(x.b, x.k);
        const y = heads[best]!;
        if (h !== best && cmp(x.c.time, x.c.seq, y.c!.time, y.c!.seq) < 0) best = h;
      }
    }
    const h = heads[best]!;
    h.c = undefined;
    // with one source left, take the rest of its block at once
    const until = heads.length === 1 ? h.b.starts.length : h.k + 1;
    for (; h.k < until; h.k++) {
      const s = h.b.starts[h.k]!;
      const e = h.b.ends[h.k]!;
      if (n + (e - s) > out.length) {
        yield chunk();
        out = Buffer.allocUnsafe(Math.max(chunkBytes, e - s));
        n = 0;
        count = 0;
      }
      n += h.b.buf.copy(out, n, s, e);
      count++;
      lastBlock = h.b;
      lastK = h.k;
    }
    if (h.k >= h.b.starts.length) {
      const r = await h.it.next();
      if (r.done) heads.splice(best, 1);
      else {
        h.b = r.value;
        h.k = 0;
      }
    }
  }
  if (count > 0) yield chunk();
}

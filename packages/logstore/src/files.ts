// Per-app log file naming (spec §4.1) and block readers over open file descriptors. Readers work on
// fds opened in one synchronous step, so a rotation by the in-process writer cannot pull a file away
// in the middle of a read (a renamed or unlinked file stays readable through its fd).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Cursor, LogMessage } from '@flynn-edge/syslog';
import { compareCursor } from '@flynn-edge/syslog';
import { parseBody, type RawFilter, resync, scanFrames } from './scan.js';

const readAsync = promisify(fs.read);

export const APP_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;
const BACKUP_RE = /^(.+)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})\.log$/;
const CURRENT_RE = /^(.+)\.log$/;

export function validateAppId(appId: string): void {
  if (!APP_ID_RE.test(appId) || appId.includes('..'))
    throw new TypeError(`invalid app id ${JSON.stringify(appId)}: want [A-Za-z0-9][A-Za-z0-9_.-]*`);
}

/** UTC time as Go's 2006-01-02T15-04-05.000 (lumberjack's backup time format). */
export function backupTimestamp(d: Date): string {
  return d.toISOString().slice(0, 23).replace(/:/g, '-');
}

export function currentPath(dir: string, appId: string): string {
  return path.join(dir, `${appId}.log`);
}

export function backupPath(dir: string, appId: string, d: Date): string {
  return path.join(dir, `${appId}-${backupTimestamp(d)}.log`);
}

/** Parses a file name in the log dir: which app and whether it is a rotated backup. */
export function classify(name: string): { appId: string; backup: boolean } | undefined {
  const b = BACKUP_RE.exec(name);
  if (b && APP_ID_RE.test(b[1]!)) return { appId: b[1]!, backup: true };
  const c = CURRENT_RE.exec(name);
  if (c && APP_ID_RE.test(c[1]!)) return { appId: c[1]!, backup: false };
  return undefined;
}

/** The app's files, old → new: backups by name, then the current file. */
export function appFiles(dir: string, appId: string, names?: string[]): string[] {
  const all = names ?? safeReaddir(dir);
  const backups = all.filter((n) => {
    const c = classify(n);
    return c?.backup && c.appId === appId;
  });
  backups.sort();
  const out = backups.map((n) => path.join(dir, n));
  if (all.includes(`${appId}.log`)) out.push(currentPath(dir, appId));
  return out;
}

export function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** An fd opened with the size it had at that moment (bytes past it are ignored by readers). */
export interface OpenFile {
  path: string;
  fd: number;
  size: number;
}

export function openFilesSync(paths: string[]): OpenFile[] {
  const out: OpenFile[] = [];
  for (const p of paths) {
    let fd: number;
    try {
      fd = fs.openSync(p, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    out.push({ path: p, fd, size: fs.fstatSync(fd).size });
  }
  return out;
}

export function closeFiles(files: OpenFile[]): void {
  for (const f of files) {
    try {
      fs.closeSync(f.fd);
    } catch {
      // already closed
    }
  }
}

const BLOCK = 1 << 20;

async function readAt(fd: number, pos: number, len: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await readAsync(fd, buf, got, len - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === len ? buf : buf.subarray(0, got);
}

function readAtSync(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = fs.readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === len ? buf : buf.subarray(0, got);
}

/**
 * Reads [start, snapshot size) forward block by block: `scan(buf, atEof)` takes the complete
 * frames of `buf` (the rest of the previous block, then this one) and returns where the rest it
 * left starts, and a value that is yielded unless undefined.
 */
export async function* forwardBlocks<T>(
  f: OpenFile,
  start: number,
  scan: (buf: Buffer, atEof: boolean) => { next: number; value: T | undefined },
): AsyncGenerator<T, void, undefined> {
  let pos = start;
  let carry: Buffer | undefined;
  while (pos < f.size) {
    const block = await readAt(f.fd, pos, Math.min(BLOCK, f.size - pos));
    if (block.length === 0) break;
    pos += block.length;
    const buf = carry ? Buffer.concat([carry, block]) : block;
    const r = scan(buf, pos >= f.size);
    carry = r.next < buf.length ? buf.subarray(r.next) : undefined;
    if (r.value !== undefined) yield r.value;
  }
}

/**
 * Reads complete messages forward from `start` to the file's snapshot size, in batches (one per
 * block). A torn tail is ignored; garbage is skipped.
 */
export function readForward(
  f: OpenFile,
  filter: RawFilter,
  start = 0,
): AsyncGenerator<LogMessage[], void, undefined> {
  return forwardBlocks(f, start, (buf, atEof) => {
    const batch: LogMessage[] = [];
    const r = scanFrames(
      buf,
      0,
      buf.length,
      (s, e) => {
        if (!filter.matchRaw(buf, s, e)) return;
        const m = parseBody(buf, s, e);
        if (m) batch.push(m);
      },
      atEof,
    );
    return { next: r.next, value: batch.length > 0 ? batch : undefined };
  });
}

/**
 * Walks the file backwards block by block; `onBlock` gets the messages of each block (old → new
 * within the block, blocks newest first) and returns false to stop.
 */
export async function readBackward(
  f: OpenFile,
  filter: RawFilter,
  onBlock: (msgs: LogMessage[], blockStart: number) => boolean,
  blockSize = BLOCK,
): Promise<void> {
  let end = f.size;
  let carry: Buffer | undefined;
  while (end > 0) {
    const atEof = end === f.size;
    const start = Math.max(0, end - blockSize);
    const block = await readAt(f.fd, start, end - start);
    end = start;
    const buf = carry ? Buffer.concat([block, carry]) : block;
    const sync = start === 0 ? 0 : resync(buf, 0, buf.length, true);
    if (sync < 0) {
      carry = buf; // no frame boundary found yet: everything belongs to earlier data
      continue;
    }
    const msgs: LogMessage[] = [];
    scanFrames(
      buf,
      sync,
      buf.length,
      (s, e) => {
        if (!filter.matchRaw(buf, s, e)) return;
        const m = parseBody(buf, s, e);
        if (m) msgs.push(m);
      },
      atEof,
    );
    carry = sync > 0 ? buf.subarray(0, sync) : undefined;
    if (!onBlock(msgs, start + sync)) return;
  }
}

/**
 * Offset from which a forward scan finds every message newer than `from` without reading older
 * blocks: walks back until a block's first message is not newer than `from`.
 */
export async function seekAfter(f: OpenFile, from: Cursor | undefined): Promise<number> {
  if (!from || f.size === 0) return 0;
  let end = f.size;
  let carry: Buffer | undefined;
  while (end > 0) {
    const start = Math.max(0, end - BLOCK);
    const block = await readAt(f.fd, start, end - start);
    end = start;
    const buf = carry ? Buffer.concat([block, carry]) : block;
    const sync = start === 0 ? 0 : resync(buf, 0, buf.length, true);
    if (sync < 0) {
      carry = buf;
      continue;
    }
    let first: LogMessage | undefined;
    scanFrames(buf, sync, buf.length, (s, e) => {
      if (!first) first = parseBody(buf, s, e);
    });
    if (first && compareCursor({ time: first.timestamp, seq: first.seq }, from) <= 0) return start + sync;
    carry = sync > 0 ? buf.subarray(0, sync) : undefined;
  }
  return 0;
}

/**
 * Synchronously finds the end of the last complete frame near the end of a file and its message
 * (used to repair a torn tail when a writer opens the file, and to restore the seq counter).
 */
export function lastFrameSync(fd: number, size: number): { end: number; last?: LogMessage } {
  let win = 64 * 1024;
  for (;;) {
    const start = Math.max(0, size - win);
    const buf = readAtSync(fd, start, size - start);
    const sync = start === 0 ? 0 : resync(buf, 0, buf.length, true);
    if (sync >= 0) {
      let lastEnd = sync;
      let lastS = -1;
      let lastE = -1;
      scanFrames(
        buf,
        sync,
        buf.length,
        (s, e) => {
          lastS = s;
          lastE = e;
          lastEnd = e + 1;
        },
        true,
      );
      if (lastS >= 0 || start === 0) {
        return { end: start + lastEnd, last: lastS >= 0 ? parseBody(buf, lastS, lastE) : undefined };
      }
    }
    if (start === 0) return { end: 0 };
    win *= 4;
  }
}

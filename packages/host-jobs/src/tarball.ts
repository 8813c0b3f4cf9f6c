import {
  closeSync,
  createReadStream,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { posix } from 'node:path';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';

// Unpacks a gzip tarball into an empty directory, refusing what could write outside it: absolute
// or `..` member names, symbolic links pointing out of it, members under a symbolic link, hard
// links to outside names, and devices/fifos. A small reader of its own rather than GNU tar, whose
// rules (strip a leading '/', skip `..` members and go on, extract links as given) differ from
// "refuse the whole archive". It reads ustar, GNU long names (L/K) and pax headers (x/g).

/** The body is not a gzip tarball (bad gzip, bad tar header, truncated). */
export class NotATarballError extends Error {
  override readonly name = 'NotATarballError';
}

/** A member would land outside the directory, or is of a kind not unpacked. */
export class UnsafeMemberError extends Error {
  override readonly name = 'UnsafeMemberError';
}

const BLOCK = 512;
/** Long names and pax headers are read whole: no archive needs more. */
const MAX_META_BYTES = 1024 * 1024;

export interface UnpackOptions {
  /** Refuse an archive whose members add up to more (default 4 GiB): a small gzip can unpack huge. */
  maxBytes?: number;
}

/** Hands out exact byte counts from a stream of chunks. */
class ChunkReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<void> {
    while (this.buf.length < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    }
  }

  /** Exactly n bytes, or null at a clean end (nothing left); a partial block is truncation. */
  async take(n: number): Promise<Buffer | null> {
    await this.fill(n);
    if (this.buf.length === 0) return null;
    if (this.buf.length < n) throw new NotATarballError('unexpected end of archive');
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** n bytes in the chunks they arrive in. */
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      await this.fill(1);
      if (this.buf.length === 0) throw new NotATarballError('unexpected end of archive');
      const piece = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(piece.length);
      left -= piece.length;
      yield piece;
    }
  }
}

function cstring(b: Buffer, start: number, len: number): string {
  const field = b.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('utf8');
}

/** An octal field, or GNU base-256 (high bit set) for big sizes. */
function numeric(b: Buffer, start: number, len: number): number {
  const field = b.subarray(start, start + len);
  if (field[0]! & 0x80) {
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = cstring(b, start, len).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new NotATarballError(`bad numeric field ${JSON.stringify(text)}`);
  return Number.parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  const field = cstring(h, 148, 8).trim();
  return /^[0-7]+$/.test(field) && Number.parseInt(field, 8) === sum;
}

/** pax records `LEN key=value\n`. */
function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    const len = Number.parseInt(data.subarray(i, sp).toString('ascii'), 10);
    if (sp === -1 || !Number.isInteger(len) || len <= 0 || i + len > data.length) {
      throw new NotATarballError('bad pax header');
    }
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** A member name as a clean relative path ('' for the root itself); throws when it escapes. */
export function memberPath(name: string): string {
  if (name.startsWith('/')) throw new UnsafeMemberError(`absolute member name ${JSON.stringify(name)}`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafeMemberError(`member name with '..': ${JSON.stringify(name)}`);
  return parts.join('/');
}

/** Unpacks `file` (a .tar.gz) into `dest`, which must be empty or absent. */
export async function unpackTarGz(file: string, dest: string, opts: UnpackOptions = {}): Promise<void> {
  const maxBytes = opts.maxBytes ?? 4 * 1024 ** 3;
  const gunzip = createGunzip();
  const stream = pipeline(createReadStream(file), gunzip, () => {});
  const wrap = (err: unknown): never => {
    if (err instanceof NotATarballError || err instanceof UnsafeMemberError) throw err;
    const e = err as NodeJS.ErrnoException;
    // zlib's errors (Z_DATA_ERROR, unexpected end of file) mean the bytes are not gzip.
    if (typeof e.code === 'string' && e.code.startsWith('Z_')) throw new NotATarballError(e.message);
    throw err;
  };
  const reader = new ChunkReader(stream[Symbol.asyncIterator]());
  mkdirSync(dest, { recursive: true });
  /** Symbolic links made so far: nothing may be unpacked beneath one. */
  const links = new Set<string>();
  let total = 0;
  let sawHeader = false;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};

  const underLink = (rel: string): boolean => {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) if (links.has(parts.slice(0, i).join('/'))) return true;
    return false;
  };
  const target = (rel: string): string => {
    if (underLink(rel)) throw new UnsafeMemberError(`member beneath a symbolic link: ${JSON.stringify(rel)}`);
    const abs = posix.join(dest, rel);
    mkdirSync(posix.dirname(abs), { recursive: true });
    return abs;
  };
  /** Makes room for a new file or link at abs (a later member replaces an earlier one). */
  const clear = (abs: string, rel: string): void => {
    let st: ReturnType<typeof lstatSync> | undefined;
    try {
      st = lstatSync(abs);
    } catch {
      return;
    }
    if (st.isDirectory()) throw new UnsafeMemberError(`member replaces a directory: ${JSON.stringify(rel)}`);
    unlinkSync(abs);
    links.delete(rel);
  };
  const discard = async (n: number): Promise<void> => {
    for await (const c of reader.chunks(n)) void c;
  };
  const skipPadding = (size: number): Promise<void> => discard((BLOCK - (size % BLOCK)) % BLOCK);
  /** A long-name or pax member's data (held in memory, so small). */
  const readData = async (size: number): Promise<Buffer> => {
    if (size > MAX_META_BYTES) throw new NotATarballError(`a ${size}-byte name or pax header`);
    const parts: Buffer[] = [];
    for await (const c of reader.chunks(size)) parts.push(c);
    await skipPadding(size);
    return Buffer.concat(parts);
  };

  try {
    for (;;) {
      const h = await reader.take(BLOCK);
      if (h === null) {
        if (!sawHeader) throw new NotATarballError('empty archive');
        break;
      }
      if (h.every((b) => b === 0)) break; // end of archive (what follows is padding)
      if (!checksumOk(h)) throw new NotATarballError('bad tar header checksum');
      sawHeader = true;
      const type = String.fromCharCode(h[156]!);
      let size = numeric(h, 124, 12);
      const magic = cstring(h, 257, 6);
      if (type === 'L' || type === 'K') {
        const v = (await readData(size)).toString('utf8').replace(/\0+$/, '');
        if (type === 'L') longName = v;
        else longLink = v;
        continue;
      }
      if (type === 'x' || type === 'g') {
        const recs = paxRecords(await readData(size));
        if (type === 'x') pax = recs;
        continue;
      }
      const prefix = magic === 'ustar' && h[263] === 0x30 ? cstring(h, 345, 155) : '';
      const rawName =
        pax.path ?? longName ?? (prefix ? `${prefix}/${cstring(h, 0, 100)}` : cstring(h, 0, 100));
      const linkName = pax.linkpath ?? longLink ?? cstring(h, 157, 100);
      if (pax.size !== undefined) size = Number(pax.size);
      longName = longLink = undefined;
      pax = {};
      const mode = numeric(h, 100, 8) & 0o777;
      const rel = memberPath(rawName);

      if (type === '0' || type === '\0' || type === '7') {
        total += size;
        if (total > maxBytes) throw new UnsafeMemberError(`unpacks to more than ${maxBytes} bytes`);
        if (rel === '') throw new UnsafeMemberError('a file member names the root');
        const abs = target(rel);
        clear(abs, rel);
        const fd = openSync(abs, 'wx', mode | 0o600);
        try {
          for await (const c of reader.chunks(size)) writeSync(fd, c);
        } finally {
          closeSync(fd);
        }
        await skipPadding(size);
      } else if (type === '5') {
        if (rel !== '') {
          const abs = target(rel);
          mkdirSync(abs, { recursive: true, mode: mode | 0o700 });
          if (!lstatSync(abs).isDirectory())
            throw new UnsafeMemberError(`directory member over a file: ${JSON.stringify(rel)}`);
        }
        await discard(size);
        await skipPadding(size);
      } else if (type === '2') {
        if (rel === '') throw new UnsafeMemberError('a link member names the root');
        if (linkName.startsWith('/'))
          throw new UnsafeMemberError(`symbolic link ${JSON.stringify(rel)} to an absolute path`);
        const resolved = posix.normalize(posix.join(posix.dirname(rel), linkName));
        if (resolved === '..' || resolved.startsWith('../')) {
          throw new UnsafeMemberError(
            `symbolic link ${JSON.stringify(rel)} points outside: ${JSON.stringify(linkName)}`,
          );
        }
        const abs = target(rel);
        clear(abs, rel);
        symlinkSync(linkName, abs);
        links.add(rel);
      } else if (type === '1') {
        if (rel === '') throw new UnsafeMemberError('a link member names the root');
        const to = memberPath(linkName);
        if (to === '' || underLink(to) || links.has(to))
          throw new UnsafeMemberError(`hard link ${JSON.stringify(rel)} to ${JSON.stringify(linkName)}`);
        const abs = target(rel);
        clear(abs, rel);
        linkSync(posix.join(dest, to), abs);
      } else {
        throw new UnsafeMemberError(
          `member ${JSON.stringify(rel)} of unsupported type ${JSON.stringify(type)}`,
        );
      }
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // The archive's own doing (a hard link to a missing name, a file where a directory must go).
    if (code && ['ENOENT', 'EEXIST', 'EISDIR', 'ENOTDIR', 'EPERM'].includes(code)) {
      throw new UnsafeMemberError(`cannot unpack: ${(err as Error).message.replaceAll(dest, '<root>')}`);
    }
    wrap(err);
  } finally {
    stream.destroy();
  }
}

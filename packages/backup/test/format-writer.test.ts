import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveWriter } from '../src/format/archive-writer.js';
import { ByteReader } from '../src/format/byte-reader.js';
import { paths } from '../src/format/manifest.js';
import {
  encodeHeader,
  encodePaxBlock,
  encodePaxHeader,
  MAX_USTAR_SIZE,
  needsPax,
  padding,
  paxRecord,
  splitName,
} from '../src/format/tar-header.js';
import { nextTarStep } from '../src/format/tar-walk.js';
import {
  ARTIFACT_ID,
  run,
  START,
  sha256Hex,
  tempDir,
  VOLUME_ID,
  writeBackup,
  writeExport,
} from './format-helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

/** Everything written to a collecting Writable. */
function collector(): { out: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { out, bytes: () => Buffer.concat(chunks) };
}

describe('archive writer: a backup read by GNU tar and sha256sum', () => {
  it('lists the entries in order, 0600, uid/gid 0, one mtime, and sha256sum -c passes', async () => {
    const file = join(dir, 'b.tar');
    const fx = await writeBackup(file);
    const { stdout } = await run('tar', ['--numeric-owner', '--full-time', '-tvf', file], {
      env: { TZ: 'UTC' },
    });
    const lines = stdout.trim().split('\n');
    const names = [
      paths.manifest,
      paths.kv,
      paths.artifact(ARTIFACT_ID),
      paths.volume(VOLUME_ID),
      paths.sums,
    ];
    expect(lines).toHaveLength(names.length);
    lines.forEach((line, i) => {
      expect(line).toMatch(/^-rw------- 0\/0 +\d+ 2025-01-02 03:04:05 /);
      expect(line.endsWith(` ${fx.top}/${names[i]}`)).toBe(true);
    });

    const bytes = await readFile(file);
    expect(bytes.length % 512).toBe(0);
    expect(bytes.subarray(257, 265).toString('latin1')).toBe('ustar\u000000');
    expect(bytes.subarray(265, 329).every((b) => b === 0)).toBe(true); // empty user and group names
    expect(bytes.subarray(bytes.length - 1024).every((b) => b === 0)).toBe(true);

    await run('tar', ['-xf', file, '-C', dir]);
    const check = await run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: join(dir, fx.top) });
    expect(check.stdout.trim().split('\n')).toEqual(names.slice(0, -1).map((n) => `${n}: OK`));
    expect(await readFile(join(dir, fx.top, paths.volume(VOLUME_ID)))).toEqual(fx.volume);
  });

  it('splits long names into prefix + name, read back by GNU tar', async () => {
    const app = `a${'-b'.repeat(40)}-c`.slice(0, 90);
    const file = join(dir, 'e.tar');
    const { volume } = await writeExport(file, app);
    const long = `${app}/${paths.volume(VOLUME_ID)}`;
    expect(Buffer.byteLength(long)).toBeGreaterThan(100);
    const { stdout } = await run('tar', ['-tf', file]);
    expect(stdout.trim().split('\n')).toContain(long);
    await run('tar', ['-xf', file, '-C', dir]);
    expect(await readFile(join(dir, long))).toEqual(volume);
    await run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: join(dir, app) });
  });

  it('writes a name no split fits with a PAX path record GNU tar honours', async () => {
    const file = join(dir, 'p.tar');
    const c = collector();
    const w = new ArchiveWriter(c.out, { top: 'top', mtime: START });
    const path = `${'x'.repeat(120)}.json`;
    await w.addBuffer(path, Buffer.from('{}\n'));
    await w.finish();
    await writeFile(file, c.bytes());
    const { stdout } = await run('tar', ['-tf', file]);
    expect(stdout.trim().split('\n')).toEqual([`top/${path}`, 'top/SHA256SUMS']);
  });
});

describe('tar headers', () => {
  it('splits at the last / that leaves a prefix ≤ 155 and a name ≤ 100', () => {
    expect(splitName('top/short')).toEqual({ prefix: '', name: 'top/short' });
    const app = 'a'.repeat(100);
    expect(splitName(`${app}/volumes/v.zfs.gz`)).toEqual({ prefix: `${app}/volumes`, name: 'v.zfs.gz' });
    expect(splitName(`${'p'.repeat(160)}/n`)).toBeUndefined();
    expect(splitName(`top/${'n'.repeat(101)}`)).toBeUndefined();
  });

  it('needs PAX only from 8 GiB on', () => {
    expect(MAX_USTAR_SIZE).toBe(8 * 2 ** 30 - 1);
    expect(needsPax('top/volumes/v.zfs.gz', MAX_USTAR_SIZE)).toBe(false);
    expect(needsPax('top/volumes/v.zfs.gz', 8 * 2 ** 30)).toBe(true);
  });

  it('encodes PAX records with their own length (a digit more at the boundary)', () => {
    expect(paxRecord('size', '8589934592')).toBe('19 size=8589934592\n');
    const v = 'v'.repeat(91); // body 98 bytes: 98 + 2 digits = 100, which has 3 digits → 101
    const rec = paxRecord('path', v);
    expect(rec.startsWith('101 ')).toBe(true);
    expect(Buffer.byteLength(rec)).toBe(101);
  });

  it('precedes an 8 GiB entry with an x header holding size= first, the ustar size field 0', () => {
    const size = 8 * 2 ** 30 + 5;
    const block = encodePaxHeader('top/volumes/v.zfs.gz', size, 1735787045);
    expect(block.length).toBe(1024);
    expect(String.fromCharCode(block[156])).toBe('x');
    expect(block.subarray(0, 100).toString().replace(/\0+$/, '')).toBe('top/volumes/PaxHeaders.0/v.zfs.gz');
    expect(block.subarray(257, 265).toString('latin1')).toBe('ustar\u000000');
    const data = block.subarray(512, 512 + Number.parseInt(block.subarray(124, 135).toString(), 8));
    expect(data.toString()).toBe(`19 size=${size}\n`);
    const header = encodeHeader({ name: 'top/volumes/v.zfs.gz', size, mtime: 1735787045, typeflag: '0' });
    expect(header.subarray(124, 136).toString('latin1')).toBe('00000000000\0');
  });

  it('lets the writer emit the PAX header before an 8 GiB entry (stream cut short)', async () => {
    const c = collector();
    const w = new ArchiveWriter(c.out, { top: 'top', mtime: START });
    const size = 8 * 2 ** 30;
    await expect(w.addStream('volumes/v.zfs.gz', size, Readable.from([Buffer.alloc(10)]))).rejects.toThrow(
      /ended after 10 of the declared 8589934592 bytes/,
    );
    const out = c.bytes();
    expect(String.fromCharCode(out[156])).toBe('x');
    expect(out.subarray(1024 + 156, 1024 + 157).toString()).toBe('0');
    const r = new ByteReader(Readable.from([out])[Symbol.asyncIterator]());
    expect(await nextTarStep(r)).toMatchObject({ type: 'entry', name: 'top/volumes/v.zfs.gz', size });
  });

  it('GNU tar and our reader take a size from a PAX header over the ustar field', async () => {
    const data = Buffer.from('hello');
    const header = encodeHeader({ name: 'top/f', size: 0, mtime: 1, typeflag: '0' });
    const tar = Buffer.concat([
      encodePaxBlock('top/f', paxRecord('size', '5'), 1),
      header,
      data,
      Buffer.alloc(padding(5)),
      Buffer.alloc(1024),
    ]);
    const file = join(dir, 'x.tar');
    await writeFile(file, tar);
    const { stdout } = await run('tar', ['--numeric-owner', '-tvf', file]);
    expect(stdout).toMatch(/^-rw------- 0\/0 +5 .* top\/f\n$/);
    await mkdir(join(dir, 'out'));
    await run('tar', ['-xf', file, '-C', join(dir, 'out')]);
    expect(await readFile(join(dir, 'out/top/f'), 'utf8')).toBe('hello');
    const r = new ByteReader(Readable.from([tar])[Symbol.asyncIterator]());
    expect(await nextTarStep(r)).toMatchObject({ type: 'entry', name: 'top/f', size: 5, offset: 1536 });
  });
});

describe('archive writer: streams', () => {
  it('fails when a stream yields fewer or more bytes than declared, and refuses entries after', async () => {
    const w = new ArchiveWriter(collector().out, { top: 't', mtime: START });
    await expect(w.addStream('a', 10, Readable.from([Buffer.alloc(4)]))).rejects.toThrow(
      'archive entry a: the stream ended after 4 of the declared 10 bytes',
    );
    await expect(w.addBuffer('b', Buffer.alloc(1))).rejects.toThrow(/ended after 4/);
    const w2 = new ArchiveWriter(collector().out, { top: 't', mtime: START });
    await expect(w2.addStream('a', 10, Readable.from([Buffer.alloc(6), Buffer.alloc(6)]))).rejects.toThrow(
      'archive entry a: the stream has more than the declared 10 bytes',
    );
  });

  it('refuses duplicate, reserved and escaping paths', async () => {
    const w = new ArchiveWriter(collector().out, { top: 't', mtime: START });
    await w.addBuffer('a', Buffer.alloc(1));
    await expect(w.addBuffer('a', Buffer.alloc(1))).rejects.toThrow(/duplicate entry a/);
    await expect(w.addBuffer(paths.sums, Buffer.alloc(1))).rejects.toThrow(/written by finish/);
    for (const bad of ['', '/abs', 'x/../y', 'x//y']) {
      await expect(w.addBuffer(bad, Buffer.alloc(1))).rejects.toThrow(/invalid entry path/);
    }
    expect(() => new ArchiveWriter(collector().out, { top: 'a/b', mtime: START })).toThrow(/top directory/);
  });

  it('waits for drain: a slow destination never buffers more than its high-water mark + a chunk', async () => {
    let maxBuffered = 0;
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(_chunk, _enc, cb) {
        setImmediate(cb);
      },
    });
    const chunk = Buffer.alloc(64 * 1024, 7);
    let produced = 0;
    const source = new Readable({
      objectMode: true, // keeps the 64 KiB chunks apart
      read() {
        maxBuffered = Math.max(maxBuffered, slow.writableLength);
        if (produced === 8 * 1024 * 1024) return this.push(null);
        produced += chunk.length;
        this.push(chunk);
      },
    });
    const w = new ArchiveWriter(slow, { top: 't', mtime: START });
    await w.addStream('big', 8 * 1024 * 1024, source);
    await w.finish();
    expect(maxBuffered).toBeLessThanOrEqual(16 * 1024 + 64 * 1024 + 1024);
    expect(w.bytesWritten).toBe(512 + 8 * 1024 * 1024 + 512 + 512 + 1024);
  });

  it('hashes each entry as it writes and reports progress', async () => {
    const c = collector();
    const seen: number[] = [];
    const w = new ArchiveWriter(c.out, { top: 't', mtime: START, onProgress: (b) => seen.push(b) });
    const data = Buffer.from('abc');
    await w.addStream('a', 3, new PassThrough().end(data));
    await w.finish();
    expect(w.entries[0]).toEqual({ path: 'a', sha256: sha256Hex(data) });
    expect(seen.at(-1)).toBe(c.bytes().length);
    expect(c.bytes().toString()).toContain(`${sha256Hex(data)}  a\n`);
  });

  it('rejects when the destination fails', async () => {
    const broken = new Writable({
      write(_c, _e, cb) {
        cb(new Error('disk full'));
      },
    });
    const w = new ArchiveWriter(broken, { top: 't', mtime: START });
    await expect(
      (async () => {
        await w.addBuffer('a', Buffer.alloc(100));
        await w.finish();
      })(),
    ).rejects.toThrow('disk full');
  });
});

import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openEntry, readEntry, verifyBackup, verifyExport } from '../src/format/archive-reader.js';
import { ArchiveWriter } from '../src/format/archive-writer.js';
import { writeFileAtomically } from '../src/format/atomic-file.js';
import { ArchiveError } from '../src/format/errors.js';
import { paths, prettyJson } from '../src/format/manifest.js';
import { ARTIFACT_ID, run, START, tempDir, VOLUME_ID, writeBackup, writeExport } from './format-helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ArchiveError);
  const msg = (err as Error).message;
  expect(msg).not.toContain('\n');
  return msg;
}

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function flipByte(file: string, offset: number): Promise<void> {
  const fh = await open(file, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, offset);
  b[0] ^= 0x01;
  await fh.write(b, 0, 1, offset);
  await fh.close();
}

describe('verifyBackup', () => {
  it('round-trips a backup: manifest, kv, entries by offset', async () => {
    const file = join(dir, 'b.tar');
    const fx = await writeBackup(file);
    const progress: number[] = [];
    const v = await verifyBackup(file, { onProgress: (b) => progress.push(b) });
    expect(v.top).toBe(fx.top);
    expect(v.manifest).toEqual(fx.manifest);
    expect(v.kv).toEqual([...fx.kv].reverse()); // written sorted
    expect([...v.entries.keys()]).toEqual([
      paths.manifest,
      paths.kv,
      paths.artifact(ARTIFACT_ID),
      paths.volume(VOLUME_ID),
    ]);
    expect(await readAll(openEntry(v, paths.volume(VOLUME_ID)))).toEqual(fx.volume);
    expect(await readEntry(v, paths.artifact(ARTIFACT_ID))).toEqual(fx.artifact);
    expect(JSON.parse((await readEntry(v, paths.manifest)).toString())).toEqual(fx.manifest);
    expect(progress.at(-1)).toBe((await readFile(file)).length);
  });

  it('refuses one flipped byte inside a volume entry', async () => {
    const file = join(dir, 'b.tar');
    await writeBackup(file);
    const e = (await verifyBackup(file)).entries.get(paths.volume(VOLUME_ID));
    await flipByte(file, (e?.offset ?? 0) + 1234);
    expect(await refusal(verifyBackup(file))).toBe(
      `backup is corrupt: ${paths.volume(VOLUME_ID)}: sha256 mismatch`,
    );
  });

  it('refuses a file truncated anywhere', async () => {
    const file = join(dir, 'b.tar');
    await writeBackup(file);
    const good = await readFile(file);
    const v = await verifyBackup(file);
    const vol = v.entries.get(paths.volume(VOLUME_ID)) as { offset: number; size: number };
    const sumsHeader = vol.offset + vol.size + ((512 - (vol.size % 512)) % 512);
    const cases: [number, RegExp][] = [
      [100, /^backup is truncated: unexpected end of file in the tar header at byte 0$/],
      [vol.offset + 100, /^backup is truncated: unexpected end of file in volumes\/.*\.zfs\.gz$/],
      [vol.offset - 512, /^backup is truncated: SHA256SUMS missing at the end$/],
      [vol.offset - 200, /^backup is truncated: unexpected end of file in the tar header at byte \d+$/],
      [sumsHeader, /^backup is truncated: SHA256SUMS missing at the end$/],
      [good.length - 1024, /^backup is truncated: end-of-archive blocks missing$/],
      [good.length - 512, /^backup is truncated: end-of-archive blocks missing$/],
      [good.length - 1, /^backup is truncated: end-of-archive blocks missing$/],
    ];
    for (const [at, want] of cases) {
      const cut = join(dir, `cut-${at}.tar`);
      await writeFile(cut, good.subarray(0, at));
      expect(await refusal(verifyBackup(cut)), `cut at ${at}`).toMatch(want);
    }
  });

  it('refuses a corrupted tar header as truncated', async () => {
    const file = join(dir, 'b.tar');
    await writeBackup(file);
    const vol = (await verifyBackup(file)).entries.get(paths.volume(VOLUME_ID)) as { offset: number };
    await flipByte(file, vol.offset - 512 + 20);
    expect(await refusal(verifyBackup(file))).toBe(
      `backup is truncated: invalid tar header checksum at byte ${vol.offset - 512}`,
    );
  });

  it("refuses Flynn's (Go) backup, made by GNU tar", async () => {
    const top = 'flynn-backup-2020-01-02_030405';
    await mkdir(join(dir, top));
    await writeFile(join(dir, top, 'flynn.json'), '{"controller":{}}\n');
    await writeFile(join(dir, top, 'postgres.sql.gz'), gzipSync('select 1;\n'));
    const file = join(dir, 'flynn.tar');
    await run('tar', ['-cf', file, '-C', dir, top]);
    expect(await refusal(verifyBackup(file))).toBe(
      'this is a Flynn (Go) backup; flynn-edge cannot restore Postgres-based backups',
    );
  });

  it('refuses version 2, a missing file, the wrong format, a non-tar', async () => {
    const b2 = join(dir, 'b2.tar');
    await writeBackup(b2, { manifest: { version: 2 } });
    expect(await refusal(verifyBackup(b2))).toBe(
      'backup format version 2 is newer than this flynn-host supports (1); upgrade flynn-host',
    );
    const missing = join(dir, 'nope.tar');
    expect(await refusal(verifyBackup(missing))).toBe(
      `error opening backup file: open ${missing}: no such file or directory`,
    );
    const exp = join(dir, 'e.tar');
    await writeExport(exp, 'web');
    expect(await refusal(verifyBackup(exp))).toBe(
      'not a flynn-edge backup: flynn-edge.json has format "flynn-edge-app-export"',
    );
    const junk = join(dir, 'junk');
    await writeFile(junk, randomBytes(4096));
    expect(await refusal(verifyBackup(junk))).toBe('not a flynn-edge backup: flynn-edge.json not found');
    await writeFile(junk, '');
    expect(await refusal(verifyBackup(junk))).toBe('not a flynn-edge backup: flynn-edge.json not found');
    await mkdir(join(dir, 'other'));
    await writeFile(join(dir, 'other', 'readme.txt'), 'hi');
    await run('tar', ['-cf', junk, '-C', dir, 'other']);
    expect(await refusal(verifyBackup(junk))).toBe('not a flynn-edge backup: flynn-edge.json not found');
  });

  it('refuses an archive missing an entry named by SHA256SUMS or by the manifest', async () => {
    const file = join(dir, 'b.tar');
    await writeBackup(file);
    const good = await readFile(file);
    const vol = (await verifyBackup(file)).entries.get(paths.volume(VOLUME_ID)) as {
      offset: number;
      size: number;
    };
    const end = vol.offset + vol.size + ((512 - (vol.size % 512)) % 512);
    const cut = join(dir, 'cut.tar');
    await writeFile(cut, Buffer.concat([good.subarray(0, vol.offset - 512), good.subarray(end)]));
    expect(await refusal(verifyBackup(cut))).toBe(`backup is incomplete: ${paths.volume(VOLUME_ID)} missing`);

    const noVol = join(dir, 'novol.tar');
    await writeBackup(noVol, { skipVolume: true });
    expect(await refusal(verifyBackup(noVol))).toBe(
      `backup is incomplete: ${paths.volume(VOLUME_ID)} missing`,
    );
    await writeBackup(noVol, { skipVolume: true, manifest: { volumes_included: false } });
    expect((await verifyBackup(noVol)).manifest.volumes_included).toBe(false);
  });

  it('checks kv.ndjson.gz against the manifest: count, order, uniqueness', async () => {
    const file = join(dir, 'b.tar');
    await writeBackup(file, { manifest: { kv: { revision: 1, count: 49, excluded_prefixes: [] } } });
    expect(await refusal(verifyBackup(file))).toBe(
      'backup is corrupt: kv.ndjson.gz: 50 keys, flynn-edge.json says 49',
    );
    const unsorted = gzipSync('{"key":"b","value":"1"}\n{"key":"a","value":"2"}\n');
    await writeBackup(file, {
      kvGz: unsorted,
      manifest: { kv: { revision: 1, count: 2, excluded_prefixes: [] } },
    });
    expect(await refusal(verifyBackup(file))).toBe('backup is corrupt: kv.ndjson.gz: key "a" out of order');
  });

  it('refuses an artifact whose bytes are not the manifest sha256', async () => {
    const file = join(dir, 'b.tar');
    await writeBackup(file, {
      manifest: { artifacts: [{ id: ARTIFACT_ID, sha256: '0'.repeat(64), size: 1 }] },
    });
    expect(await refusal(verifyBackup(file))).toBe(
      `backup is corrupt: ${paths.artifact(ARTIFACT_ID)}: sha256 mismatch`,
    );
  });

  it('verifies a large volume streaming, in constant memory', async () => {
    const file = join(dir, 'big.tar');
    const size = 192 * 1024 * 1024;
    const block = randomBytes(1024 * 1024);
    await writeFileAtomically(file, async (out) => {
      const w = new ArchiveWriter(out, { top: 'flynn-backup-2025-01-02_030405', mtime: START });
      await w.addBuffer(paths.manifest, prettyJson(bigManifest(size)));
      await w.addBuffer(paths.kv, gzipSync(''));
      const chunks = (function* () {
        for (let i = 0; i < size / block.length; i++) yield block;
      })();
      await w.addStream(paths.volume(VOLUME_ID), size, Readable.from(chunks));
      await w.finish();
    });
    const before = process.memoryUsage().rss;
    let peak = before;
    const v = await verifyBackup(file, {
      onProgress: () => {
        peak = Math.max(peak, process.memoryUsage().rss);
      },
    });
    expect(v.entries.get(paths.volume(VOLUME_ID))?.size).toBe(size);
    expect(peak - before).toBeLessThan(64 * 1024 * 1024);
  }, 120_000);
});

function bigManifest(size: number) {
  return {
    format: 'flynn-edge-backup',
    version: 1,
    created_at: START.toISOString(),
    flynn_edge_version: '0.3.0',
    cluster: { domain: 'example.com', hosts: [], discoverd_peers: '' },
    kv: { revision: 1, count: 0, excluded_prefixes: [] },
    artifacts: [],
    volumes: [{ id: VOLUME_ID, stream_bytes: size }],
    volumes_included: true,
    future_member: { ignored: true },
  };
}

describe('verifyExport', () => {
  it('round-trips an export with a long app name (ustar prefix)', async () => {
    const app = `app-${'x'.repeat(70)}`;
    const file = join(dir, 'e.tar');
    const { volume, manifest } = await writeExport(file, app);
    const v = await verifyExport(file);
    expect(v.top).toBe(app);
    expect(v.manifest).toEqual(manifest);
    expect(await readAll(openEntry(v, paths.volume(VOLUME_ID)))).toEqual(volume);
    expect(JSON.parse((await readEntry(v, 'app.json')).toString())).toEqual({ id: 'a1', name: app });
  });

  it("refuses Flynn's (Go) app export, version 2, a backup, a missing file, a flipped byte", async () => {
    await mkdir(join(dir, 'web'));
    await writeFile(join(dir, 'web', 'app.json'), '{"name":"web"}\n');
    await writeFile(join(dir, 'web', 'postgres.dump'), 'PGDMP');
    const flynn = join(dir, 'flynn-export.tar');
    await run('tar', ['-cf', flynn, '-C', dir, 'web/app.json', 'web/postgres.dump']);
    expect(await refusal(verifyExport(flynn))).toBe(
      'this is a Flynn (Go) app export; flynn-edge cannot import Postgres/MySQL dumps or image layers',
    );
    await writeFile(join(dir, 'web', 'abc.layer'), 'layer');
    await run('tar', ['-cf', flynn, '-C', dir, 'web/abc.layer']);
    expect(await refusal(verifyExport(flynn))).toMatch(/^this is a Flynn \(Go\) app export/);

    const e2 = join(dir, 'e2.tar');
    await writeExport(e2, 'web', { manifest: { version: 2 } });
    expect(await refusal(verifyExport(e2))).toBe(
      'app export format version 2 is newer than this flynn-host supports (1); upgrade flynn-host',
    );
    const b = join(dir, 'b.tar');
    await writeBackup(b);
    expect(await refusal(verifyExport(b))).toBe(
      'not a flynn-edge app export: flynn-edge.json has format "flynn-edge-backup"',
    );
    const missing = join(dir, 'nope.tar');
    expect(await refusal(verifyExport(missing))).toBe(
      `error opening export file: open ${missing}: no such file or directory`,
    );
    const e = join(dir, 'e.tar');
    await writeExport(e, 'web');
    const vol = (await verifyExport(e)).entries.get(paths.volume(VOLUME_ID)) as { offset: number };
    await flipByte(e, vol.offset + 10);
    expect(await refusal(verifyExport(e))).toBe(
      `app export is corrupt: ${paths.volume(VOLUME_ID)}: sha256 mismatch`,
    );
    const junk = join(dir, 'junk');
    await writeFile(junk, randomBytes(2048));
    expect(await refusal(verifyExport(junk))).toBe('not a flynn-edge app export: flynn-edge.json not found');
  });
});

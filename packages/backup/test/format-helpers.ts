import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { ArchiveWriter } from '../src/format/archive-writer.js';
import { writeFileAtomically } from '../src/format/atomic-file.js';
import { encodeKvNdjsonGz, type KvPair } from '../src/format/kv-ndjson.js';
import {
  BACKUP_FORMAT,
  type BackupManifest,
  backupTopDir,
  EXPORT_FORMAT,
  type ExportManifest,
  paths,
  prettyJson,
  type VolumeEntry,
} from '../src/format/manifest.js';

export const run = promisify(execFile);

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'backup-format-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const START = new Date('2025-01-02T03:04:05.678Z');
export const ARTIFACT_ID = '6f1c2b1e-0d55-4a4e-9d69-0a7ad1b0c001';
export const VOLUME_ID = '9b2f4c3d-1e66-4b5f-8e7a-1b8be2c1d002';

export function volumeEntry(id = VOLUME_ID, streamBytes = 4096): VolumeEntry {
  return {
    id,
    app_id: 'a1',
    app: 'web',
    process_type: 'db',
    path: '/data',
    host_id: 'host2',
    snapshot_id: 's1',
    created_at: START.toISOString(),
    stream_bytes: streamBytes,
  };
}

export function kvPairs(n = 50): KvPair[] {
  const pairs: KvPair[] = [];
  for (let i = n - 1; i >= 0; i--)
    pairs.push({ key: `router/routes/r${String(i).padStart(4, '0')}`, value: `{"n":${i}}` });
  return pairs;
}

export interface BackupFixture {
  file: string;
  top: string;
  kv: KvPair[];
  artifact: Buffer;
  volume: Buffer;
  manifest: BackupManifest;
}

/**
 * A backup-shaped archive written with the real writer: manifest, kv, one artifact, one volume
 * (random bytes gzipped: the format does not care what the stream holds), SHA256SUMS.
 */
export async function writeBackup(
  file: string,
  opts: {
    manifest?: Partial<BackupManifest>;
    volumeBytes?: number;
    kvGz?: Buffer;
    skipVolume?: boolean;
  } = {},
): Promise<BackupFixture> {
  const kv = kvPairs();
  const artifact = gzipSync(randomBytes(3000));
  const volume = gzipSync(randomBytes(opts.volumeBytes ?? 20_000), { level: 1 });
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    version: 1,
    created_at: START.toISOString(),
    flynn_edge_version: '0.3.0',
    cluster: {
      domain: 'example.com',
      bootstrap_id: 'b1',
      hosts: ['10.0.0.1'],
      discoverd_peers: '10.0.0.1:1111,',
    },
    kv: { revision: 4711, count: kv.length, excluded_prefixes: ['deployments/', 'cluster/restore'] },
    artifacts: [{ id: ARTIFACT_ID, sha256: sha256Hex(artifact), size: artifact.length }],
    volumes: [volumeEntry()],
    volumes_included: true,
    ...opts.manifest,
  };
  const top = backupTopDir(START);
  await writeFileAtomically(file, async (out) => {
    const w = new ArchiveWriter(out, { top, mtime: START });
    await w.addBuffer(paths.manifest, prettyJson(manifest));
    await w.addBuffer(paths.kv, opts.kvGz ?? (await encodeKvNdjsonGz(kv)));
    await w.addStream(paths.artifact(ARTIFACT_ID), artifact.length, Readable.from([artifact]));
    if (!opts.skipVolume) await w.addStream(paths.volume(VOLUME_ID), volume.length, chunked(volume, 7000));
    await w.finish();
  });
  return { file, top, kv, artifact, volume, manifest };
}

export async function writeExport(
  file: string,
  app: string,
  opts: { manifest?: Partial<ExportManifest> } = {},
): Promise<{ volume: Buffer; manifest: ExportManifest }> {
  const volume = gzipSync(randomBytes(5000));
  const manifest: ExportManifest = {
    format: EXPORT_FORMAT,
    version: 1,
    created_at: START.toISOString(),
    flynn_edge_version: '0.3.0',
    app,
    app_id: 'a1',
    cluster_domain: 'example.com',
    kv_revision: 12,
    volumes: [volumeEntry()],
    ...opts.manifest,
  };
  await writeFileAtomically(file, async (out) => {
    const w = new ArchiveWriter(out, { top: app, mtime: START });
    await w.addBuffer(paths.manifest, prettyJson(manifest));
    await w.addBuffer('app.json', prettyJson({ id: 'a1', name: app }));
    await w.addBuffer('routes.json', prettyJson([]));
    await w.addBuffer(paths.volume(VOLUME_ID), volume);
    await w.finish();
  });
  return { volume, manifest };
}

/** A stream of `buf` in chunks of `size` bytes. */
export function chunked(buf: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

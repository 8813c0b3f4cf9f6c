import type { Readable } from 'node:stream';
import type { KvPair } from './kv-ndjson.js';
import type { BackupManifest, ExportManifest } from './manifest.js';

// STUB (seam): reading and verifying archives (§9.2 step 1, §10.2), owned by the format helper.

export interface ArchiveEntry {
  /** Path below the top directory. */
  path: string;
  size: number;
  /** Byte offset of the entry's data in the file. */
  offset: number;
}

export interface VerifiedArchive<M> {
  file: string;
  top: string;
  manifest: M;
  /** Every entry but SHA256SUMS, by path below the top directory, in tar order. */
  entries: Map<string, ArchiveEntry>;
}

/**
 * Reads the whole file once: the first entry must be `<top>/flynn-edge.json` of the backup
 * format (Flynn's `flynn.json`/`postgres.sql.gz` → "this is a Flynn (Go) backup; …"), version
 * ≤ 1, every entry hashed against SHA256SUMS, kv.ndjson.gz parsed to `kv.count` sorted keys,
 * every artifact and volume of the manifest present. Throws ArchiveError with the spec's texts.
 */
export async function verifyBackup(
  _file: string,
): Promise<VerifiedArchive<BackupManifest> & { kv: KvPair[] }> {
  throw new Error('not implemented');
}

/** The same for an app export (§10.2; Flynn's exports refused with their own message). */
export async function verifyExport(_file: string): Promise<VerifiedArchive<ExportManifest>> {
  throw new Error('not implemented');
}

/** One entry's bytes (already verified), streamed from the file. */
export function openEntry(_archive: VerifiedArchive<unknown>, _path: string): Readable {
  throw new Error('not implemented');
}

/** A small entry whole (JSON files). */
export async function readEntry(_archive: VerifiedArchive<unknown>, _path: string): Promise<Buffer> {
  throw new Error('not implemented');
}

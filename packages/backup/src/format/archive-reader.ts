import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { ByteReader } from './byte-reader.js';
import { ArchiveError } from './errors.js';
import { decodeKvNdjsonGz, type KvPair } from './kv-ndjson.js';
import {
  BACKUP_FORMAT,
  type BackupManifest,
  EXPORT_FORMAT,
  type ExportManifest,
  FORMAT_VERSION,
  paths,
} from './manifest.js';
import { padding } from './tar-header.js';
import { nextTarStep, type TarStep, TarWalkError } from './tar-walk.js';

// Reading and verifying archives (§9.2 step 1, §10.2): one streaming pass over the file that
// hashes every entry, then the checks against SHA256SUMS and the manifest. Entries are read
// afterwards by offset.

export interface ArchiveEntry {
  /** Path below the top directory. */
  path: string;
  size: number;
  /** Byte offset of the entry's data in the file. */
  offset: number;
  /** sha256 (hex) of the entry's data, checked against SHA256SUMS. */
  sha256: string;
}

export interface VerifiedArchive<M> {
  file: string;
  top: string;
  manifest: M;
  /** Every entry but SHA256SUMS, by path below the top directory, in tar order. */
  entries: Map<string, ArchiveEntry>;
}

export interface VerifyOptions {
  /** Called with the bytes read so far (a progress bar for multi-GB files). */
  onProgress?: (bytes: number) => void;
}

/** What differs between the two formats' checks and messages. */
interface Kind {
  format: string;
  /** "backup" / "app export", as in "backup is corrupt: …". */
  noun: string;
  /** "error opening <what>: …" (Flynn's texts). */
  fileNoun: string;
  notOurs: string;
  /** The Flynn (Go) message when `names` (entry paths, in tar order) look like Flynn's archive. */
  flynn: (names: string[]) => string | undefined;
}

const BACKUP: Kind = {
  format: BACKUP_FORMAT,
  noun: 'backup',
  fileNoun: 'backup file',
  notOurs: 'not a flynn-edge backup',
  flynn: (names) =>
    names.some((n) => ['flynn.json', 'postgres.sql.gz'].includes(posix.basename(n)))
      ? 'this is a Flynn (Go) backup; flynn-edge cannot restore Postgres-based backups'
      : undefined,
};

const EXPORT: Kind = {
  format: EXPORT_FORMAT,
  noun: 'app export',
  fileNoun: 'export file',
  notOurs: 'not a flynn-edge app export',
  flynn: (names) => {
    const base = names.map((n) => posix.basename(n));
    const flynnish =
      base[0] === 'app.json' ||
      base.some((b) => b === 'postgres.dump' || b === 'mysql.dump' || b.endsWith('.layer'));
    return flynnish
      ? 'this is a Flynn (Go) app export; flynn-edge cannot import Postgres/MySQL dumps or image layers'
      : undefined;
  },
};

/** Small entries read whole while verifying; anything bigger is refused as corrupt. */
const MANIFEST_MAX = 16 << 20;
const SUMS_MAX = 64 << 20;
const KV_MAX = 1 << 30;

/**
 * Reads the whole file once: the first entry must be `<top>/flynn-edge.json` of the backup
 * format (Flynn's `flynn.json`/`postgres.sql.gz` → "this is a Flynn (Go) backup; …"), version
 * ≤ 1, every entry hashed against SHA256SUMS, kv.ndjson.gz parsed to `kv.count` sorted keys,
 * every artifact and volume of the manifest present. Throws ArchiveError with the spec's texts.
 */
export async function verifyBackup(
  file: string,
  opts: VerifyOptions = {},
): Promise<VerifiedArchive<BackupManifest> & { kv: KvPair[] }> {
  const { archive, kvData } = await verifyArchive<BackupManifest>(file, BACKUP, opts);
  const m = archive.manifest;
  const corrupt = (why: string) => new ArchiveError(`backup is corrupt: ${why}`);
  if (!isObject(m.kv) || !Number.isSafeInteger(m.kv.count) || !Number.isSafeInteger(m.kv.revision)) {
    throw corrupt(`${paths.manifest}: kv must hold a revision and a count`);
  }
  if (!Array.isArray(m.artifacts)) throw corrupt(`${paths.manifest}: artifacts must be a list`);
  const need = [paths.kv];
  for (const a of m.artifacts) {
    if (!isObject(a) || typeof a.id !== 'string') throw corrupt(`${paths.manifest}: an artifact has no id`);
    need.push(paths.artifact(a.id));
  }
  if (m.volumes_included !== false) for (const v of m.volumes) need.push(paths.volume(v.id));
  requireEntries(archive, need, BACKUP);
  for (const a of m.artifacts) {
    const e = archive.entries.get(paths.artifact(a.id)) as ArchiveEntry;
    if (e.sha256 !== a.sha256) throw corrupt(`${e.path}: sha256 mismatch`);
    if (e.size !== a.size) throw corrupt(`${e.path}: ${e.size} bytes, ${paths.manifest} says ${a.size}`);
  }
  const kv = await decodeKvNdjsonGz(kvData as Buffer, BACKUP.noun);
  if (kv.length !== m.kv.count) {
    throw corrupt(`${paths.kv}: ${kv.length} keys, ${paths.manifest} says ${m.kv.count}`);
  }
  return { ...archive, kv };
}

/** The same for an app export (§10.2; Flynn's exports refused with their own message). */
export async function verifyExport(
  file: string,
  opts: VerifyOptions = {},
): Promise<VerifiedArchive<ExportManifest>> {
  const { archive } = await verifyArchive<ExportManifest>(file, EXPORT, opts);
  const need = ['app.json', 'routes.json', ...archive.manifest.volumes.map((v) => paths.volume(v.id))];
  requireEntries(archive, need, EXPORT);
  return archive;
}

/** One entry's bytes (already verified), streamed from the file. */
export function openEntry(archive: VerifiedArchive<unknown>, path: string): Readable {
  const e = entryOf(archive, path);
  if (e.size === 0) return Readable.from([]);
  return createReadStream(archive.file, {
    start: e.offset,
    end: e.offset + e.size - 1,
    highWaterMark: 1 << 20,
  });
}

/** A small entry whole (JSON files). */
export async function readEntry(archive: VerifiedArchive<unknown>, path: string): Promise<Buffer> {
  const e = entryOf(archive, path);
  const fh = await open(archive.file, 'r');
  try {
    const buf = Buffer.alloc(e.size);
    let got = 0;
    while (got < e.size) {
      const { bytesRead } = await fh.read(buf, got, e.size - got, e.offset + got);
      if (bytesRead === 0)
        throw new ArchiveError(`${archive.file}: ${path} was cut short since it was verified`);
      got += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

function entryOf(archive: VerifiedArchive<unknown>, path: string): ArchiveEntry {
  const e = archive.entries.get(path);
  if (!e) throw new ArchiveError(`${archive.file}: no entry ${path}`);
  return e;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function requireEntries(archive: VerifiedArchive<unknown>, need: string[], kind: Kind): void {
  for (const p of need) {
    if (!archive.entries.has(p)) throw new ArchiveError(`${kind.noun} is incomplete: ${p} missing`);
  }
}

/** Go's texts for the usual open(2) failures ("open <file>: no such file or directory"). */
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
};

async function openArchive(file: string, kind: Kind): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const text = (e.code && ERRNO_TEXT[e.code]) ?? e.message;
    throw new ArchiveError(`error opening ${kind.fileNoun}: open ${file}: ${text}`);
  }
  if ((await fh.stat()).isDirectory()) {
    await fh.close();
    throw new ArchiveError(`error opening ${kind.fileNoun}: read ${file}: is a directory`);
  }
  return fh;
}

async function verifyArchive<M extends { format: string; version: number; volumes: { id: string }[] }>(
  file: string,
  kind: Kind,
  opts: VerifyOptions,
): Promise<{ archive: VerifiedArchive<M>; kvData?: Buffer }> {
  const fh = await openArchive(file, kind);
  const stream = fh.createReadStream({ highWaterMark: 1 << 20 });
  try {
    return await walk<M>(file, kind, new ByteReader(stream[Symbol.asyncIterator](), opts.onProgress));
  } finally {
    stream.destroy();
    await fh.close().catch(() => {});
  }
}

async function walk<M extends { format: string; version: number; volumes: { id: string }[] }>(
  file: string,
  kind: Kind,
  r: ByteReader,
): Promise<{ archive: VerifiedArchive<M>; kvData?: Buffer }> {
  const corrupt = (why: string) => new ArchiveError(`${kind.noun} is corrupt: ${why}`);
  const truncated = (why: string) => new ArchiveError(`${kind.noun} is truncated: ${why}`);
  const notFound = () => new ArchiveError(`${kind.notOurs}: ${paths.manifest} not found`);
  const step = async (): Promise<TarStep> => {
    try {
      return await nextTarStep(r);
    } catch (err) {
      if (err instanceof TarWalkError) throw truncated(describe(err));
      throw err;
    }
  };

  // The first entry decides whose archive this is.
  let first: TarStep;
  try {
    first = await nextTarStep(r);
  } catch (err) {
    // Not a tar at all (or cut inside its first header).
    if (err instanceof TarWalkError && err.problem.kind === 'short-header') throw truncated(describe(err));
    throw notFound();
  }
  if (first.type !== 'entry') throw notFound();
  const slash = first.name.indexOf('/');
  const top = slash > 0 ? first.name.slice(0, slash) : '';
  if (!top || first.name.slice(slash + 1) !== paths.manifest || first.typeflag !== '0') {
    throw (await recogniseForeign(r, first, kind)) ?? notFound();
  }

  const entries = new Map<string, ArchiveEntry>();
  let kvData: Buffer | undefined;
  let sums: Buffer | undefined;
  let manifest: M | undefined;
  let e: TarStep = first;
  for (;;) {
    if (e.type === 'eof') throw truncated(`${paths.sums} missing at the end`);
    if (e.type === 'end') throw truncated(`${paths.sums} missing at the end`);
    if (!e.name.startsWith(`${top}/`)) throw corrupt(`entry ${e.name} is outside ${top}/`);
    const path = e.name.slice(top.length + 1);
    if (e.typeflag !== '0') throw corrupt(`${path}: not a regular file (tar type ${e.typeflag})`);
    if (entries.has(path) || path === '' || path.endsWith('/'))
      throw corrupt(`duplicate or empty entry ${e.name}`);
    const limit =
      path === paths.manifest
        ? MANIFEST_MAX
        : path === paths.sums
          ? SUMS_MAX
          : path === paths.kv
            ? KV_MAX
            : -1;
    if (limit >= 0 && e.size > limit) throw corrupt(`${path}: ${e.size} bytes is too big`);
    const keep: Buffer[] | undefined = limit >= 0 ? [] : undefined;
    const hash = createHash('sha256');
    const got = await r.pipe(e.size, (b) => {
      hash.update(b);
      keep?.push(Buffer.from(b));
    });
    if (got < e.size || (await r.pipe(padding(e.size), () => {})) < padding(e.size)) {
      throw truncated(`unexpected end of file in ${path}`);
    }
    const data = keep ? Buffer.concat(keep) : undefined;
    if (path === paths.sums) {
      sums = data;
      break;
    }
    entries.set(path, { path, size: e.size, offset: e.offset, sha256: hash.digest('hex') });
    if (path === paths.manifest) manifest = checkManifest<M>(data as Buffer, kind);
    if (path === paths.kv) kvData = data;
    e = await step();
  }

  const end = await step();
  if (end.type === 'eof') throw truncated('end-of-archive blocks missing');
  if (end.type === 'entry') throw corrupt(`entry ${end.name} after ${paths.sums}`);

  const listed = parseSums(sums as Buffer, corrupt);
  for (const entry of entries.values()) {
    const want = listed.get(entry.path);
    if (want === undefined) throw corrupt(`${entry.path}: not listed in ${paths.sums}`);
    if (want !== entry.sha256) throw corrupt(`${entry.path}: sha256 mismatch`);
  }
  for (const p of listed.keys()) {
    if (!entries.has(p)) throw new ArchiveError(`${kind.noun} is incomplete: ${p} missing`);
  }
  return { archive: { file, top, manifest: manifest as M, entries }, kvData };
}

function describe(err: TarWalkError): string {
  const p = err.problem;
  switch (p.kind) {
    case 'short-header':
      return `unexpected end of file in the tar header at byte ${p.offset}`;
    case 'bad-checksum':
      return `invalid tar header checksum at byte ${p.offset}`;
    case 'bad-pax':
      return `invalid PAX header at byte ${p.offset}`;
    case 'lone-zero-block':
      return `a lone zero block at byte ${p.offset}`;
    case 'no-second-end-block':
      return 'end-of-archive blocks missing';
  }
}

/** Scans a foreign archive's names (stopping at the first sign) for Flynn's own formats. */
async function recogniseForeign(
  r: ByteReader,
  first: Extract<TarStep, { type: 'entry' }>,
  kind: Kind,
): Promise<ArchiveError | undefined> {
  const names: string[] = [];
  let e: TarStep = first;
  try {
    while (e.type === 'entry') {
      if (e.typeflag === '0') names.push(e.name);
      const msg = kind.flynn(names);
      if (msg) return new ArchiveError(msg);
      const skip = e.size + padding(e.size);
      if ((await r.pipe(skip, () => {})) < skip) break;
      e = await nextTarStep(r);
    }
  } catch {
    // a damaged foreign tar: judge by the names seen so far
  }
  return undefined;
}

function checkManifest<M extends { format: string; version: number; volumes: { id: string }[] }>(
  data: Buffer,
  kind: Kind,
): M {
  let m: unknown;
  try {
    m = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new ArchiveError(`${kind.noun} is corrupt: ${paths.manifest}: ${(err as Error).message}`);
  }
  if (!isObject(m)) throw new ArchiveError(`${kind.noun} is corrupt: ${paths.manifest} is not an object`);
  if (m.format !== kind.format) {
    throw new ArchiveError(
      `${kind.notOurs}: ${paths.manifest} has format ${JSON.stringify(m.format ?? null)}`,
    );
  }
  const v = m.version;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ArchiveError(
      `${kind.noun} is corrupt: ${paths.manifest}: invalid version ${JSON.stringify(v ?? null)}`,
    );
  }
  if (v > FORMAT_VERSION) {
    throw new ArchiveError(
      `${kind.noun} format version ${v} is newer than this flynn-host supports (${FORMAT_VERSION}); upgrade flynn-host`,
    );
  }
  if (!Array.isArray(m.volumes) || !m.volumes.every((x) => isObject(x) && typeof x.id === 'string')) {
    throw new ArchiveError(`${kind.noun} is corrupt: ${paths.manifest}: volumes must be a list of {id, …}`);
  }
  return m as unknown as M;
}

/** SHA256SUMS lines `<64 hex>  <path>` → path → hex. */
function parseSums(data: Buffer, corrupt: (why: string) => ArchiveError): Map<string, string> {
  const out = new Map<string, string>();
  const text = data.toString('utf8');
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  lines.forEach((line, i) => {
    if (line === '' && text === '') return;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw corrupt(`${paths.sums}: line ${i + 1} is malformed`);
    if (out.has(m[2])) throw corrupt(`${paths.sums}: ${m[2]} listed twice`);
    out.set(m[2], m[1]);
  });
  return out;
}

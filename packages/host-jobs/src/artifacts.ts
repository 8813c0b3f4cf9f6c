import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { NotATarballError, UnsafeMemberError, unpackTarGz } from './tarball.js';
import { JobSpecError } from './types.js';

// The host's tar artifacts (spec flynn-ops §1.2): gzip tarballs of a directory, content-addressed
// by sha256, kept as `<dir>/<sha256>.tar.gz` (what other hosts fetch) next to the unpacked
// `<dir>/<sha256>/` (what jobs run from). Both appear by rename once complete, so a reader never
// sees half an artifact; a crash leaves only `.tmp-*` entries, removed when a store opens.

export const SHA256_RE = /^[0-9a-f]{64}$/;

/** The default PUT limit: 512 MiB of tarball. */
export const MAX_ARTIFACT_BYTES = 512 * 1024 * 1024;

export type ArtifactErrorKind = 'invalid_id' | 'mismatch' | 'not_tarball' | 'unsafe' | 'too_big';

export class ArtifactError extends Error {
  override readonly name = 'ArtifactError';
  constructor(
    readonly kind: ArtifactErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface PutResult {
  /** False when the store had it already (the body was still checked). */
  created: boolean;
  size: number;
}

export function checkSha256(sha256: string): void {
  if (!SHA256_RE.test(sha256)) {
    throw new ArtifactError(
      'invalid_id',
      `invalid artifact id ${JSON.stringify(sha256)}: want a sha256 (64 lowercase hex digits)`,
    );
  }
}

export class ArtifactStore {
  /** One unpack per artifact at a time (two hosts may push the same one). */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir)) {
      if (name.startsWith('.tmp-')) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }

  /** Where the unpacked artifact lives (whether or not it does yet). */
  rootOf(sha256: string): string {
    return join(this.dir, sha256);
  }

  tarballOf(sha256: string): string {
    return join(this.dir, `${sha256}.tar.gz`);
  }

  has(sha256: string): boolean {
    return SHA256_RE.test(sha256) && existsSync(this.rootOf(sha256)) && existsSync(this.tarballOf(sha256));
  }

  /** The tarball's size, or undefined when the artifact is not here. */
  size(sha256: string): number | undefined {
    return this.has(sha256) ? statSync(this.tarballOf(sha256)).size : undefined;
  }

  /**
   * Stores a tarball from `body` (streamed to disk while hashed, never held whole), checks its
   * sha256, and unpacks it. Throws ArtifactError for an unusable body.
   */
  async put(
    sha256: string,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    opts: { maxBytes?: number } = {},
  ): Promise<PutResult> {
    checkSha256(sha256);
    const tmp = join(this.dir, `.tmp-${randomUUID()}`);
    const tmpTar = `${tmp}.tar.gz`;
    try {
      const { digest, size } = await receive(body, tmpTar, opts.maxBytes ?? MAX_ARTIFACT_BYTES);
      if (digest !== sha256) {
        throw new ArtifactError('mismatch', `artifact sha256 mismatch: got ${digest}, want ${sha256}`);
      }
      return await this.locked(sha256, async () => {
        if (this.has(sha256)) return { created: false, size };
        try {
          await unpackTarGz(tmpTar, tmp);
        } catch (err) {
          if (err instanceof NotATarballError) {
            throw new ArtifactError('not_tarball', `artifact is not a gzip tarball: ${err.message}`);
          }
          if (err instanceof UnsafeMemberError) {
            throw new ArtifactError('unsafe', `artifact refused: ${err.message}`);
          }
          throw err;
        }
        // Tarball first: has() wants both, and a crash between leaves a tarball a new PUT replaces.
        renameSync(tmpTar, this.tarballOf(sha256));
        rmSync(this.rootOf(sha256), { recursive: true, force: true });
        renameSync(tmp, this.rootOf(sha256));
        return { created: true, size };
      });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      rmSync(tmpTar, { force: true });
    }
  }

  private async locked<T>(key: string, f: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const next = prev.then(f, f);
    const settled = next.catch(() => {});
    this.locks.set(key, settled);
    try {
      return await next;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }
}

/** Streams body into file (fsynced), hashing it; refuses more than maxBytes. */
async function receive(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  file: string,
  maxBytes: number,
): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  const fh = await open(file, 'wx', 0o644);
  let size = 0;
  try {
    for await (const chunk of body) {
      size += chunk.length;
      if (size > maxBytes) throw new ArtifactError('too_big', `artifact is larger than ${maxBytes} bytes`);
      hash.update(chunk);
      await fh.write(chunk);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { digest: hash.digest('hex'), size };
}

/** The same chunks, calling `onChunk` as each arrives. */
async function* watched(body: AsyncIterable<Uint8Array>, onChunk: () => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    onChunk();
    yield chunk;
  }
}

export interface FetchFromHostsOptions {
  /** Headers for the other hosts' APIs (the cluster key). */
  headers?: Record<string, string>;
  /** How long a host may take to start answering, or leave the body idle (default 10 s). */
  idleTimeoutMs?: number;
  /** Told why a host could not give it (the next one is tried). */
  warn?: (url: string, err: Error) => void;
}

/**
 * Copies a tar artifact from the first of `hostUrls` (other hosts' API base URLs) that has it,
 * checking its sha256 as it lands. Throws JobSpecError (field `artifact`) when none could.
 */
export async function fetchArtifactFromHosts(
  store: ArtifactStore,
  sha256: string,
  hostUrls: readonly string[],
  opts: FetchFromHostsOptions = {},
): Promise<void> {
  checkSha256(sha256);
  for (const base of hostUrls) {
    if (store.has(sha256)) return;
    const url = `${base.replace(/\/+$/, '')}/host/artifacts/${sha256}`;
    const ac = new AbortController();
    const idleMs = opts.idleTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    // A host that stops sending (or never answers) must not hold the job's start forever.
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => ac.abort(new Error(`nothing received for ${idleMs} ms`)), idleMs);
    };
    idle();
    try {
      const res = await fetch(url, { headers: opts.headers, signal: ac.signal });
      if (res.status !== 200 || !res.body) {
        await res.body?.cancel();
        if (res.status !== 404) opts.warn?.(url, new Error(`answered ${res.status}`));
        continue;
      }
      await store.put(sha256, watched(res.body as unknown as AsyncIterable<Uint8Array>, idle));
      return;
    } catch (err) {
      opts.warn?.(url, err as Error);
    } finally {
      clearTimeout(timer);
    }
  }
  if (!store.has(sha256)) {
    throw new JobSpecError(`artifact ${sha256} is not available on any host`, 'artifact');
  }
}

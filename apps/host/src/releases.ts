import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { mkdir, readdir, readlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';

// The release trees of an installed host (packaging/install.sh's layout): <base>/releases/<version>
// each checked against its SHA256SUMS, <base>/current a relative link to the one in use. A new
// release arrives as the tarball `npm run release` makes (one folder, flynn-edge-<version>/), is
// unpacked beside its final place, checked, asked for its version and renamed into place. `current`
// moves (a new link renamed over the old one) only once a daemon of that release serves: an update
// that stops after distributing leaves every host as it was, and a restart runs the old release.

const run = promisify(execFile);

/** What install.sh accepts as a VERSION. */
const VERSION_RE = /^[A-Za-z0-9._+-]+$/;
/** How long the new tree's `flynn-host version` may take (a cold disk, a slow machine). */
const SELF_CHECK_MS = 60_000;

export class ReleaseError extends Error {
  override readonly name = 'ReleaseError';
  constructor(
    message: string,
    /** 400: the request's fault; 409: this host cannot take releases; 500: ours. */
    readonly status: 400 | 409 | 500,
  ) {
    super(message);
  }
}

/**
 * The install base (the folder holding releases/ and current) of the tree at `tree`, or undefined
 * for a source checkout: an installed tree has a VERSION and sits at <base>/releases/<v> (or is
 * reached through <base>/current).
 */
export function installBase(tree: string): string | undefined {
  const t = resolve(tree);
  if (!existsSync(join(t, 'VERSION'))) return undefined;
  if (basename(dirname(t)) === 'releases') return dirname(dirname(t));
  if (basename(t) === 'current') return dirname(t);
  return undefined;
}

export function checkVersion(version: string): void {
  if (!VERSION_RE.test(version) || version.startsWith('.'))
    throw new ReleaseError(`bad release version ${JSON.stringify(version)}`, 400);
}

/** Writes `body` to `file`, hashing it on the way; resolves with the sha256 (hex). */
export async function receiveFile(body: NodeJS.ReadableStream, file: string): Promise<string> {
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(body, tap, createWriteStream(file, { mode: 0o600 }));
  return hash.digest('hex');
}

async function tar(args: string[], cwd?: string): Promise<string> {
  try {
    return (await run('tar', args, { cwd, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new ReleaseError(`not a flynn-edge release tarball: ${(e.stderr || e.message).trim()}`, 400);
  }
}

/** `flynn-host version` of the tree at `dir`, run with this Node. */
async function treeVersion(dir: string): Promise<string> {
  const bin = join(dir, 'apps/cli/bin/flynn-host.js');
  try {
    const r = await run(process.execPath, [bin, 'version'], { timeout: SELF_CHECK_MS, encoding: 'utf8' });
    return r.stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new ReleaseError(
      `the new release's flynn-host version failed: ${(e.stderr || e.message).trim()}`,
      400,
    );
  }
}

/** The tree at `dir` against its SHA256SUMS (every listed file present with that hash). */
async function checkSums(dir: string): Promise<void> {
  try {
    await run('sha256sum', ['-c', '--quiet', '--strict', 'SHA256SUMS'], {
      cwd: dir,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const first = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n')[0] || e.message;
    throw new ReleaseError(`checksum mismatch in the release tree: ${first}`, 400);
  }
}

/** Points <base>/current at releases/<version>: a new link renamed over the old one. */
export async function switchCurrent(base: string, version: string): Promise<void> {
  const target = `releases/${version}`;
  const current = join(base, 'current');
  if ((await readlink(current).catch(() => undefined)) === target) return;
  const next = join(base, `.current.${randomBytes(4).toString('hex')}`);
  symlinkSync(target, next);
  try {
    renameSync(next, current);
  } catch (err) {
    rmSync(next, { force: true });
    throw err;
  }
}

export interface InstalledRelease {
  version: string;
  path: string;
}

/**
 * Installs the release tarball `file` (already sha256-checked) as <base>/releases/<version>;
 * `current` is left alone. A release already there with the same SHA256SUMS is kept as it is.
 */
export async function installRelease(base: string, version: string, file: string): Promise<InstalledRelease> {
  checkVersion(version);
  const releases = join(base, 'releases');
  const dest = join(releases, version);
  const top = `flynn-edge-${version}`;
  const sums = await tar(['-xzOf', file, `${top}/SHA256SUMS`]);
  const same =
    existsSync(join(dest, 'SHA256SUMS')) && readFileSync(join(dest, 'SHA256SUMS'), 'utf8') === sums;
  if (
    !same &&
    existsSync(dest) &&
    (await readlink(join(base, 'current')).catch(() => '')) === `releases/${version}`
  )
    throw new ReleaseError(
      `release ${version} is the one in use here, with other contents: give the new build another version`,
      409,
    );
  if (!same) {
    const tmp = join(releases, `.unpack.${randomBytes(6).toString('hex')}`);
    await mkdir(tmp, { recursive: true });
    try {
      await tar(['-xzf', file, '--no-same-owner', '-C', tmp]);
      const entries = await readdir(tmp);
      if (entries.length !== 1 || entries[0] !== top)
        throw new ReleaseError(
          `the tarball must hold one folder, ${top}/ (it holds ${entries.join(', ')})`,
          400,
        );
      const tree = join(tmp, top);
      const stated = readFileSync(join(tree, 'VERSION'), 'utf8').trim();
      if (stated !== version) throw new ReleaseError(`the tarball is release ${stated}, not ${version}`, 400);
      await checkSums(tree);
      await selfCheck(tree, version);
      if (existsSync(dest)) {
        rmSync(`${dest}.old`, { recursive: true, force: true });
        renameSync(dest, `${dest}.old`);
      }
      renameSync(tree, dest);
      rmSync(`${dest}.old`, { recursive: true, force: true });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  } else {
    await selfCheck(dest, version);
  }
  return { version, path: dest };
}

/**
 * The release a daemon at `path` belongs to, when `path` is (inside) <base>/releases/<version>:
 * what `current` moves to once that daemon serves.
 */
export function releaseOf(base: string | undefined, path: string): string | undefined {
  if (!base) return undefined;
  const rel = relative(join(base, 'releases'), resolve(path));
  const version = rel.split(sep)[0];
  if (!version || rel.startsWith('..') || isAbsolute(rel) || version.startsWith('.')) return undefined;
  return version;
}

async function selfCheck(tree: string, version: string): Promise<void> {
  const says = await treeVersion(tree);
  if (says !== version)
    throw new ReleaseError(
      `the new release's flynn-host version prints ${JSON.stringify(says)}, not ${version}`,
      400,
    );
}

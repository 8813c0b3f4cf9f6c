import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { UpdateError } from './versions.js';

// The release `flynn-host update --from` installs: a tarball made by scripts/release.mjs (one top
// folder holding VERSION, package.json, SHA256SUMS and the tree), or a directory packed here first:
// an unpacked release tree (it has VERSION and SHA256SUMS) is tarred as the release script tars
// one; a built source checkout goes through the release script itself (`--no-build`).

export interface ReleaseFile {
  /** The tarball to send. */
  file: string;
  /** What the tree's `flynn-host version` prints: its VERSION file. */
  version: string;
  sha256: string;
  size: number;
  /** `min_update_from` of the tree's package.json, when set. */
  minUpdateFrom?: string;
  /** Removes a tarball packed on the fly. */
  dispose(): void;
}

const TAR_BUFFER = 256 * 1024 * 1024;

function tar(args: string[], cwd?: string): string {
  try {
    return execFileSync('tar', args, { cwd, encoding: 'utf8', maxBuffer: TAR_BUFFER, stdio: 'pipe' });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new UpdateError(`tar ${args[0]}: ${(e.stderr || e.message).trim().split('\n')[0]}`);
  }
}

function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function minUpdateFrom(pkgText: string | undefined): string | undefined {
  if (!pkgText) return undefined;
  try {
    const v = (JSON.parse(pkgText) as { min_update_from?: unknown }).min_update_from;
    return typeof v === 'string' && v !== '' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a release tarball's version (as install.sh does: `<top>/VERSION`). */
export function readTarball(file: string, dispose: () => void = () => {}): ReleaseFile {
  if (!existsSync(file)) throw new UpdateError(`${file}: no such file`);
  const top = tar(['-tzf', file]).split('\n')[0]?.split('/')[0];
  if (!top) throw new UpdateError(`${file} is empty`);
  let version: string;
  try {
    version = tar(['-xzOf', file, `${top}/VERSION`]).trim();
  } catch {
    throw new UpdateError(`${file} has no VERSION (not a release tarball: npm run release makes one)`);
  }
  if (!version) throw new UpdateError(`${file}: VERSION is empty`);
  let pkg: string | undefined;
  try {
    pkg = tar(['-xzOf', file, `${top}/package.json`]);
  } catch {
    pkg = undefined;
  }
  return {
    file,
    version,
    sha256: sha256Of(file),
    size: statSync(file).size,
    minUpdateFrom: minUpdateFrom(pkg),
    dispose,
  };
}

/** A regular expression matching `s` literally (for tar's --transform). */
const literal = (s: string) => s.replace(/[\\^$.*[\]|,]/g, '\\$&');

/** An unpacked release tree, tarred with the release script's flags under `flynn-edge-<version>/`. */
function packTree(dir: string, version: string): ReleaseFile {
  const out = mkdtempSync(join(tmpdir(), 'flynn-update-'));
  const dispose = () => rmSync(out, { recursive: true, force: true });
  const file = join(out, `flynn-edge-${version}.tar.gz`);
  const base = basename(dir);
  try {
    tar(
      [
        '-czf',
        file,
        '--sort=name',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        `--transform=s,^${literal(base)},flynn-edge-${version},`,
        base,
      ],
      dirname(dir),
    );
    return readTarball(file, dispose);
  } catch (err) {
    dispose();
    throw err;
  }
}

/** A built source checkout: the release script packs it (`--no-build`: its dist/ as they are). */
function packCheckout(dir: string): ReleaseFile {
  const out = mkdtempSync(join(tmpdir(), 'flynn-update-'));
  const dispose = () => rmSync(out, { recursive: true, force: true });
  try {
    execFileSync(process.execPath, [join(dir, 'scripts/release.mjs'), '--no-build', '--out', out], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    dispose();
    const e = err as { stderr?: Buffer; message: string };
    const why = (e.stderr?.toString() || e.message).trim().split('\n').pop();
    throw new UpdateError(`packing ${dir} failed: ${why}`);
  }
  const made = readdirSync(out).find((f) => f.endsWith('.tar.gz'));
  if (!made) {
    dispose();
    throw new UpdateError(`packing ${dir} made no tarball`);
  }
  return readTarball(join(out, made), dispose);
}

/** `--from`: a tarball, an unpacked release tree or a built checkout. */
export function openRelease(from: string): ReleaseFile {
  let isDir: boolean;
  try {
    isDir = statSync(from).isDirectory();
  } catch {
    throw new UpdateError(`${from}: no such file or directory`);
  }
  if (!isDir) return readTarball(from);
  const versionFile = join(from, 'VERSION');
  if (existsSync(versionFile)) {
    if (!existsSync(join(from, 'SHA256SUMS')))
      throw new UpdateError(`${from} has a VERSION but no SHA256SUMS: not a release tree`);
    const version = readFileSync(versionFile, 'utf8').trim();
    if (!version) throw new UpdateError(`${versionFile} is empty`);
    return packTree(from, version);
  }
  if (existsSync(join(from, 'scripts/release.mjs'))) return packCheckout(from);
  throw new UpdateError(
    `${from} is neither a release tree (VERSION, SHA256SUMS) nor a flynn-edge checkout (scripts/release.mjs)`,
  );
}

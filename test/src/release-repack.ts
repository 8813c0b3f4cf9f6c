import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// A second build of the tree for the update tests: the `npm run release` tarball repacked under
// another version — its folder renamed, VERSION rewritten, SHA256SUMS made again the way
// scripts/release.mjs makes them — so build B differs from build A in its version only.

export interface RepackOptions {
  /** Folder for the new tarball (and a scratch folder removed again). */
  dir: string;
  /** Changes one file after the sums are made: a tree that fails its SHA256SUMS. */
  tamper?: boolean;
}

/** `0.1.0-abc1234` → `0.1.1-abc1234`: the next patch release of the same commit. */
export function nextPatch(version: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)(.*)$/.exec(version);
  if (!m) throw new Error(`not a release version: ${version}`);
  return `${m[1]}.${m[2]}.${Number(m[3]) + 1}${m[4]}`;
}

/** The release tarball `tarball` as release `version`; returns the new tarball's path. */
export function repackRelease(tarball: string, version: string, opts: RepackOptions): string {
  const work = mkdtempSync(join(opts.dir, 'repack-'));
  try {
    execFileSync('tar', ['-xzf', tarball, '-C', work]);
    const [from] = readdirSync(work);
    if (!from?.startsWith('flynn-edge-')) throw new Error(`${tarball}: not a release tarball`);
    const top = `flynn-edge-${version}`;
    renameSync(join(work, from), join(work, top));
    const tree = join(work, top);
    writeFileSync(join(tree, 'VERSION'), `${version}\n`);
    execFileSync(
      'sh',
      ['-c', "find . -type f ! -path ./SHA256SUMS | LC_ALL=C sort | xargs -d '\\n' sha256sum > SHA256SUMS"],
      { cwd: tree },
    );
    if (opts.tamper) writeFileSync(join(tree, 'packaging/install.sh'), '#!/bin/sh\nexit 0\n');
    const out = join(opts.dir, `${top}${opts.tamper ? '-tampered' : ''}.tar.gz`);
    execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', out, top], {
      cwd: work,
    });
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

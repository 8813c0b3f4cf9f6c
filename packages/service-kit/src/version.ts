import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The version of the installed flynn-edge tree. A release tarball carries a
 * VERSION file at its root (`<version>-<short sha>`); a source checkout uses
 * the root package.json "version". Found by walking up from this module, so
 * it works both from packages/service-kit/dist and from an installed copy.
 */
export function readEdgeVersion(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const versionFile = join(dir, 'VERSION');
    if (existsSync(versionFile)) {
      const v = readFileSync(versionFile, 'utf8').trim();
      if (v) return v;
    }
    const pkgFile = join(dir, 'package.json');
    if (existsSync(pkgFile)) {
      try {
        const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as {
          name?: string;
          version?: string;
          workspaces?: unknown;
        };
        // The tree's root is the workspaces package (named flynn-edge), not a workspace member.
        if (pkg.workspaces !== undefined && typeof pkg.version === 'string') return pkg.version;
      } catch {
        // An unreadable package.json is not the root; keep walking.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

export const FLYNN_EDGE_VERSION: string = readEdgeVersion();

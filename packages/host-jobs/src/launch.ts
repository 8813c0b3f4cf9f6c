import { existsSync } from 'node:fs';
import { isAbsolute, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Job, type JobArtifact, JobSpecError } from './types.js';

// What a job's process is, given its artifact (spec flynn-ops §1.2): the artifact root is the
// installed tree's `apps/<name>` for a builtin, `<state>/artifacts/<sha256>` for a tarball. With
// one, `cwd` defaults to that root, a cmd with a '/' names a file inside it (as a container's
// image root would: '/bin/x' is `<root>/bin/x`, and nothing may climb out), a .js/.mjs/.cjs file
// runs under this Node and a bare `node` is this Node. Resolved at every spawn, so a restarted
// builtin runs the code installed now.

/** The installed tree (the repo root): this file is `packages/host-jobs/{src,dist}/launch.*`. */
export const INSTALL_DIR = fileURLToPath(new URL('../../..', import.meta.url));

export const BUILTIN_NAME_RE = /^[a-z][a-z0-9-]*$/;

const SCRIPT_RE = /\.[mc]?js$/;

export interface ArtifactRoots {
  /** The installed tree holding `apps/<name>`. */
  installDir: string;
  /** The unpacked directory of a tar artifact. */
  tarRoot(sha256: string): string;
}

export interface Launch {
  file: string;
  args: string[];
  cwd?: string;
}

export function artifactRoot(a: JobArtifact, roots: ArtifactRoots): string {
  return a.type === 'builtin' ? posix.join(roots.installDir, 'apps', a.name) : roots.tarRoot(a.sha256);
}

/** `cmd` inside `root`, or a JobSpecError when it climbs out. */
export function cmdInRoot(root: string, cmd: string): string {
  const file = posix.join(root, cmd);
  const rel = posix.relative(root, file);
  if (rel === '' || rel === '..' || rel.startsWith('../') || isAbsolute(rel)) {
    throw new JobSpecError(`cmd ${JSON.stringify(cmd)} is outside the artifact`, 'cmd');
  }
  return file;
}

/** A builtin artifact must be one of the installed apps (it has a bin/). */
export function checkBuiltin(name: string, installDir: string): void {
  if (!existsSync(posix.join(installDir, 'apps', name, 'bin'))) {
    throw new JobSpecError(`no builtin artifact ${JSON.stringify(name)} in ${installDir}`, 'artifact');
  }
}

export function resolveLaunch(job: Job, roots: ArtifactRoots): Launch {
  if (!job.artifact) return { file: job.cmd, args: job.args, cwd: job.cwd };
  const root = artifactRoot(job.artifact, roots);
  const cwd = job.cwd === undefined ? root : posix.resolve(root, job.cwd);
  const cmd = job.cmd;
  if (cmd === 'node') return { file: process.execPath, args: job.args, cwd };
  const script = SCRIPT_RE.test(cmd);
  // A bare `server.js` is the artifact's too, not something on PATH.
  const file = cmd.includes('/') || script ? cmdInRoot(root, cmd) : cmd;
  if (script) return { file: process.execPath, args: [file, ...job.args], cwd };
  return { file, args: job.args, cwd };
}

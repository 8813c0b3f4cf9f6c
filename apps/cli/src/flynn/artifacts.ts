import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Artifact, HostRef, ProcessType } from '@flynn-edge/app-model';
import { expectOk, request } from '../discoverd-http.js';
import { CliError } from '../output.js';
import type { ClusterTarget } from './target.js';

// A user app's code: a gzip tarball of a directory, checked here, content-addressed by its
// sha256, uploaded to a couple of hosts (the others fetch it from them when they run it).

export interface Tarball {
  bytes: Buffer;
  sha256: string;
}

export function readTarball(file: string, wantSha256?: string): Tarball {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new CliError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const list = spawnSync('tar', ['-tzf', '-'], { input: bytes, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (list.status !== 0) {
    throw new CliError(
      `${file} is not a gzip tarball: ${(list.stderr || 'tar failed').trim().split('\n')[0]}`,
    );
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (wantSha256 !== undefined && wantSha256.toLowerCase() !== sha256) {
    throw new CliError(
      `sha256 mismatch for ${file}: the file has ${sha256}, --sha256 says ${wantSha256.toLowerCase()}`,
    );
  }
  return { bytes, sha256 };
}

/** `release.json` (or `./release.json`) inside the tarball, when there is one. */
export function manifestInTarball(t: Tarball): string | undefined {
  for (const name of ['release.json', './release.json']) {
    const r = spawnSync('tar', ['-xzOf', '-', name], {
      input: t.bytes,
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    });
    if (r.status === 0) return r.stdout;
  }
  return undefined;
}

export interface ReleaseManifest {
  env: Record<string, string>;
  processes: Record<string, ProcessType>;
  meta?: Record<string, string>;
}

const isStringMap = (v: unknown): v is Record<string, string> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.values(v).every((x) => typeof x === 'string');

/** The release configuration (Flynn's `release add -f` file): `env` and `processes`. */
export function parseManifest(text: string, source: string): ReleaseManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${source}: invalid JSON: ${(err as Error).message}`);
  }
  const bad = (why: string) => new CliError(`${source}: ${why}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw bad('want a JSON object with "processes"');
  const m = raw as Record<string, unknown>;
  const env = m.env ?? {};
  if (!isStringMap(env)) throw bad('"env" must map names to strings');
  if (m.meta !== undefined && !isStringMap(m.meta)) throw bad('"meta" must map names to strings');
  const processes = m.processes;
  if (typeof processes !== 'object' || processes === null || Array.isArray(processes)) {
    throw bad('"processes" must be an object of process types');
  }
  for (const [type, p] of Object.entries(processes as Record<string, unknown>)) {
    if (!/^[a-z][a-z0-9_-]{0,62}$/.test(type))
      throw bad(`process type ${JSON.stringify(type)} is not a valid name`);
    const args = (p as { args?: unknown })?.args;
    if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string')) {
      throw bad(`process ${JSON.stringify(type)}: "args" must be a non-empty list of strings`);
    }
  }
  return {
    env,
    processes: processes as Record<string, ProcessType>,
    meta: m.meta as Record<string, string> | undefined,
  };
}

export function tarArtifact(t: Tarball): Artifact {
  return {
    id: randomUUID(),
    type: 'tar',
    uri: `sha256:${t.sha256}`,
    sha256: t.sha256,
    size: t.bytes.length,
    meta: {},
    created_at: new Date().toISOString(),
  };
}

/** PUT /host/artifacts/<sha256> on up to `copies` hosts; at least one must take it. */
export async function uploadTarball(
  target: ClusterTarget,
  hosts: HostRef[],
  t: Tarball,
  copies = 2,
): Promise<HostRef[]> {
  const done: HostRef[] = [];
  const failures: string[] = [];
  for (const host of hosts) {
    if (done.length >= copies) break;
    try {
      const answer = await request('PUT', `${target.hostUrl(host)}/host/artifacts/${t.sha256}`, {
        clusterKey: target.clusterKey,
        rawBody: t.bytes,
        timeoutMs: 120_000,
      });
      expectOk('PUT', answer);
      done.push(host);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      failures.push(`${host.id}: ${err.message}`);
    }
  }
  if (done.length === 0) throw new CliError(`no host took the tarball: ${failures.join('; ') || 'no hosts'}`);
  return done;
}

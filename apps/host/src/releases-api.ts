import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { HttpError } from '@flynn-edge/service-kit';
import type { FastifyInstance } from 'fastify';
import { checkVersion, installRelease, ReleaseError, receiveFile } from './releases.js';

// PUT /host/releases/:version (flynn-ops.md §5.2 step 3): body the release tarball, header
// Flynn-Release-SHA256 its sha256. The host unpacks it to <base>/releases/<version>, checks it and
// runs its `flynn-host version`; 200 {"version","path"}. `current` stays: it moves when a daemon
// of the release takes over (POST /host/update with a path inside it). The same
// release again is fine. Only an installed tree (install.sh's layout) takes releases: a daemon run
// from a source checkout answers 409. One upload at a time.

export interface ReleasesApiOptions {
  /** The install base (holding releases/ and current), or undefined when not installed. */
  base: string | undefined;
}

const SHA256_RE = /^[0-9a-f]{64}$/;
/** How often a `102 Processing` goes out while a release is unpacked and checked. */
const PROCESSING_EVERY_MS = 5000;

function httpError(err: unknown): unknown {
  if (err instanceof HttpError) return err;
  // A full disk, a permission: the operator needs the reason, not a bare 500.
  if (!(err instanceof ReleaseError))
    return new HttpError('unknown_error', `installing the release failed: ${(err as Error).message}`);
  if (err.status === 409) return new HttpError('conflict', err.message);
  if (err.status === 400) return new HttpError('validation_error', err.message);
  return new HttpError('unknown_error', err.message);
}

export async function releasesApiPlugin(app: FastifyInstance, opts: ReleasesApiOptions): Promise<void> {
  // In this plugin's context only: the body is the raw stream, whatever its type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  let queue: Promise<unknown> = Promise.resolve();
  // Uploads, unpacks and links a stopped daemon left half done.
  if (opts.base) removeLeftovers(opts.base);

  app.put<{ Params: { version: string } }>('/host/releases/:version', async (req, reply) => {
    const body = (req.body as Readable | undefined) ?? req.raw;
    const refuse = (err: unknown): never => {
      // A refused upload may still be arriving: answer, then drop the connection.
      if (!body.readableEnded) {
        reply.header('connection', 'close');
        body.resume();
      }
      throw httpError(err);
    };
    const { version } = req.params;
    const want = String(req.headers['flynn-release-sha256'] ?? '').toLowerCase();
    if (!opts.base) refuse(new ReleaseError('not an installed tree', 409));
    const base = opts.base as string;
    try {
      checkVersion(version);
    } catch (err) {
      refuse(err);
    }
    if (!SHA256_RE.test(want))
      refuse(new ReleaseError('Flynn-Release-SHA256 must be a sha256 (64 hex digits)', 400));

    const releases = join(base, 'releases');
    mkdirSync(releases, { recursive: true });
    const file = join(releases, `.upload.${randomBytes(6).toString('hex')}.tar.gz`);
    try {
      const got = await receiveFile(body, file);
      if (got !== want)
        throw new ReleaseError(`the body's sha256 is ${got}, not ${want} (Flynn-Release-SHA256)`, 400);
      const run = queue.then(() => installRelease(base, version, file));
      queue = run.catch(() => {});
      // Unpacking and the self-check take seconds: interim answers tell the sender we are alive.
      const processing = setInterval(() => {
        if (!reply.raw.headersSent && !reply.raw.destroyed) reply.raw.writeProcessing();
      }, PROCESSING_EVERY_MS);
      const installed = await run.finally(() => clearInterval(processing));
      req.log.info({ version, path: installed.path }, 'release installed');
      return reply.code(200).send(installed);
    } catch (err) {
      throw httpError(err);
    } finally {
      rmSync(file, { force: true });
    }
  });
}

/** `releases/.upload.*`, `releases/.unpack.*`, `releases/<v>.old` and `.current.*` links. */
function removeLeftovers(base: string): void {
  const releases = join(base, 'releases');
  const found = [
    ...(existsSync(releases) ? readdirSync(releases).map((f) => join(releases, f)) : []),
    ...readdirSync(base).map((f) => join(base, f)),
  ];
  for (const path of found) {
    const name = basename(path);
    if (/^\.(upload|unpack|current)\./.test(name) || (dirname(path) === releases && name.endsWith('.old')))
      rmSync(path, { recursive: true, force: true });
  }
}

import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { ArtifactError, type ArtifactStore, checkSha256, MAX_ARTIFACT_BYTES } from '@flynn-edge/host-jobs';
import { HttpError } from '@flynn-edge/service-kit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

// The host's tar artifacts (spec flynn-ops §1.2), which hosts copy between them:
//   PUT  /host/artifacts/:sha256   body: the gzip tarball of a directory; 201 stored, 200 already here
//   GET  /host/artifacts/:sha256   the tarball (HEAD: its size); 404 object_not_found when absent
// The body streams to disk (never held whole) under its own limit, whatever its Content-Type.

export interface ArtifactsApiOptions {
  store: ArtifactStore;
  /** Largest tarball taken (default 512 MiB). */
  maxBytes?: number;
}

function toHttpError(err: unknown): unknown {
  if (err instanceof ArtifactError) {
    return err.kind === 'too_big'
      ? new HttpError('request_body_too_big', err.message)
      : new HttpError('validation_error', err.message, { detail: { field: 'artifact' } });
  }
  return err;
}

function sha256Param(sha256: string): string {
  try {
    checkSha256(sha256);
  } catch (err) {
    throw toHttpError(err);
  }
  return sha256;
}

export async function artifactsApiPlugin(app: FastifyInstance, opts: ArtifactsApiOptions): Promise<void> {
  const { store } = opts;
  const maxBytes = opts.maxBytes ?? MAX_ARTIFACT_BYTES;
  // In this plugin's context only: the body is the raw stream, for every type (none included).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  app.put<{ Params: { sha256: string } }>('/host/artifacts/:sha256', async (req, reply) => {
    const sha256 = sha256Param(req.params.sha256);
    const body = (req.body as Readable | undefined) ?? req.raw;
    try {
      // Not destroyed when put() stops reading early: the error answer still has a socket.
      const r = await store.put(sha256, body.iterator({ destroyOnReturn: false }), { maxBytes });
      return reply.code(r.created ? 201 : 200).send({ sha256, size: r.size });
    } catch (err) {
      // A refused upload may still be arriving: answer, then drop the connection.
      if (!body.readableEnded) {
        reply.header('connection', 'close');
        body.resume();
      }
      throw toHttpError(err);
    }
  });

  // HEAD answers the size without reading the file (fastify's own HEAD would read it through).
  const serve = async (req: FastifyRequest<{ Params: { sha256: string } }>, reply: FastifyReply) => {
    const sha256 = sha256Param(req.params.sha256);
    const size = store.size(sha256);
    if (size === undefined) throw new HttpError('object_not_found', `artifact ${sha256} not found`);
    reply.header('content-type', 'application/gzip').header('content-length', String(size));
    if (req.method === 'HEAD') return reply.send();
    return reply.send(createReadStream(store.tarballOf(sha256)));
  };
  app.get('/host/artifacts/:sha256', { exposeHeadRoute: false }, serve);
  app.head('/host/artifacts/:sha256', serve);
}

// Spec §4.5: the volume API mounted on the host API under /storage/…, as an encapsulated fastify
// plugin. Without a manager (no ZFS here) every route answers 503 with the reason.

import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errors, HttpError, openSse, sendError, sendJson } from '@flynn-edge/service-kit';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ZfsUnavailableError } from './exec.js';
import { type Have, VolumeError, type VolumeEvent, type VolumeManager } from './manager.js';

export const SNAPSHOT_CONTENT_TYPE = 'application/vnd.zfs.snapshot-stream';

/** Asks another host for a snapshot stream (GET /storage/volumes/:id/send there). */
export type FetchSnapshot = (hostId: string, snapshotId: string, haves: Have[]) => Promise<Readable>;

export interface VolumeApiOptions {
  /** The volume manager; absent when ZFS is not usable here. */
  manager?: VolumeManager;
  /** Why volumes are disabled (shown in the 503 message) when there is no manager. */
  unavailableReason?: string;
  /** Reaches the host named in a pull_snapshot request. Without it pull_snapshot answers 503. */
  fetchSnapshot?: FetchSnapshot;
  /** Largest haves body accepted by /send; default 1 MiB. */
  maxHavesBytes?: number;
}

/** Flynn's httphelper.ValidationError: "<field> <message>" with {"field"} as detail. */
function validation(field: string, message: string): HttpError {
  return field ? errors.validation(`${field} ${message}`, { detail: { field } }) : errors.validation(message);
}

/** Receives tried per pull_snapshot before its error is returned. */
const PULL_ATTEMPTS = 3;

function toApiError(err: unknown): unknown {
  if (err instanceof VolumeError) {
    switch (err.code) {
      case 'not_found':
      case 'provider_not_found':
        return errors.objectNotFound(err.message);
      case 'provider_exists':
        return errors.objectExists(err.message);
      case 'invalid':
        return errors.validation(err.message);
      case 'has_children':
        return errors.conflict(err.message);
      case 'busy':
        return errors.conflict(err.message, { retry: true });
    }
  }
  if (err instanceof ZfsUnavailableError) return errors.serviceUnavailable(err.message);
  if (err instanceof HttpError) return err;
  // fastify's own errors (bad JSON, body too large, …) are mapped by service-kit's sendError.
  const e = err as { statusCode?: unknown; code?: unknown } | null;
  if (typeof e?.statusCode === 'number' || (typeof e?.code === 'string' && e.code.startsWith('FST_')))
    return err;
  // Show the real reason (zfs stderr) instead of "Something went wrong".
  if (err instanceof Error) return errors.unknown(err.message, { cause: err });
  return err;
}

function wantsEventStream(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('text/event-stream');
}

/** Reads a request body that fastify did not parse (GET bodies), up to `limit` bytes. */
async function readRawBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw errors.bodyTooBig();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  if (text.trim() === '') throw errors.syntax();
  try {
    return JSON.parse(text);
  } catch {
    throw errors.syntax();
  }
}

function requireJsonContentType(request: FastifyRequest): void {
  if (!(request.headers['content-type'] ?? '').includes('application/json')) {
    throw errors.validation('Content-Type must be application/json');
  }
}

function requireSnapshotContentType(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: (err?: Error) => void,
) {
  done(
    (request.headers['content-type'] ?? '').includes(SNAPSHOT_CONTENT_TYPE)
      ? undefined
      : errors.validation(`Content-Type must be ${SNAPSHOT_CONTENT_TYPE}`),
  );
}

export const volumeApiPlugin: FastifyPluginAsync<VolumeApiOptions> = async (app, options) => {
  const { manager } = options;
  const maxHaves = options.maxHavesBytes ?? 1024 * 1024;

  app.setErrorHandler((err, _request, reply) => {
    sendError(reply, toApiError(err));
  });

  // A snapshot stream is never buffered: this plugin's context hands the raw request stream on.
  app.addContentTypeParser(SNAPSHOT_CONTENT_TYPE, (_request, payload, done) => done(null, payload));

  if (!manager) {
    const reason =
      options.unavailableReason ??
      'ZFS is not available (run as root with zfs-fuse installed and running: apt-get install zfs-fuse)';
    const disabled = async (_request: FastifyRequest, reply: FastifyReply) =>
      sendError(reply, errors.serviceUnavailable(`volumes are disabled: ${reason}`));
    for (const url of [
      '/storage/providers',
      '/storage/providers/*',
      '/storage/volumes',
      '/storage/volumes/*',
    ]) {
      app.all(url, disabled);
    }
    return;
  }

  app.post('/storage/providers', { config: { decodeJson: 'strict' } }, async (request, reply) => {
    const body = request.body as Record<string, unknown> | null;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw errors.syntax();
    const id = typeof body.id === 'string' ? body.id : '';
    const kind = typeof body.kind === 'string' ? body.kind : '';
    if (kind === '') throw validation('kind', 'must not be blank');
    if (kind !== 'zfs') throw validation('kind', `"${kind}" is not known`);
    const metadata = (
      typeof body.metadata === 'object' && body.metadata !== null ? body.metadata : {}
    ) as Record<string, unknown>;
    const spec = await manager.addProvider({
      id,
      kind,
      metadata: {
        dataset: typeof metadata.dataset === 'string' ? metadata.dataset : undefined,
        working_dir: typeof metadata.working_dir === 'string' ? metadata.working_dir : undefined,
      },
    });
    return sendJson(reply, 200, { ...body, id: spec.id, kind: spec.kind, metadata: spec.metadata });
  });

  app.post<{ Params: { provider_id: string } }>(
    '/storage/providers/:provider_id/volumes',
    async (request, reply) => {
      const body = request.body as { meta?: unknown } | null | undefined;
      let meta: Record<string, string> | undefined;
      if (body !== undefined && body !== null) {
        if (typeof body !== 'object' || Array.isArray(body)) throw errors.syntax();
        if (body.meta !== undefined && body.meta !== null) {
          if (typeof body.meta !== 'object' || Array.isArray(body.meta))
            throw validation('meta', 'must be an object');
          meta = {};
          for (const [k, v] of Object.entries(body.meta)) {
            if (typeof v !== 'string') throw validation('meta', 'values must be strings');
            meta[k] = v;
          }
        }
      }
      const info = await manager.create({ provider: request.params.provider_id, meta });
      return sendJson(reply, 200, info);
    },
  );

  app.get('/storage/volumes', async (request, reply) => {
    if (!wantsEventStream(request)) return sendJson(reply, 200, manager.list());
    const stream = openSse(reply);
    const listener = (event: VolumeEvent) => {
      stream.send(undefined, JSON.stringify(event));
    };
    manager.on('event', listener);
    // Current volumes first, as create events, then changes as they happen.
    for (const volume of manager.list()) stream.send(undefined, JSON.stringify({ type: 'create', volume }));
    await new Promise<void>((resolve) => {
      reply.raw.once('close', () => resolve());
    });
    manager.off('event', listener);
    stream.close();
    return reply;
  });

  app.get<{ Params: { id: string } }>('/storage/volumes/:id', async (request, reply) => {
    const info = manager.get(request.params.id);
    if (!info) throw errors.objectNotFound(`no volume with id "${request.params.id}"`);
    return sendJson(reply, 200, info);
  });

  app.delete<{ Params: { id: string } }>('/storage/volumes/:id', async (request, reply) => {
    await manager.destroy(request.params.id);
    return reply.code(200).send();
  });

  app.put<{ Params: { id: string } }>('/storage/volumes/:id/snapshot', async (request, reply) => {
    return sendJson(reply, 200, await manager.snapshot(request.params.id));
  });

  // Restores and imports (flynn-ops §9.2 step 6): `zfs recv -F` of a full stream into an existing
  // data volume; 200 with the received snapshot's info. A stream zfs refuses is a 400 with zfs's
  // message, and recv leaves the volume as it was.
  app.put<{ Params: { id: string } }>(
    '/storage/volumes/:id/receive',
    { onRequest: requireSnapshotContentType },
    async (request, reply) => {
      const { id } = request.params;
      const body = (request.body as Readable | undefined) ?? request.raw;
      try {
        if (!manager.get(id)) throw errors.objectNotFound(`no volume with id "${id}"`);
        return sendJson(reply, 200, await manager.receive(id, body));
      } catch (err) {
        // The refused stream may still be arriving: answer, then drop the connection.
        if (!body.readableEnded) {
          reply.header('connection', 'close');
          body.resume();
        }
        if (err instanceof VolumeError || err instanceof ZfsUnavailableError || err instanceof HttpError)
          throw err;
        throw errors.validation((err as Error).message);
      }
    },
  );

  app.post<{ Params: { id: string } }>(
    '/storage/volumes/:id/pull_snapshot',
    { config: { decodeJson: 'strict' } },
    async (request, reply) => {
      const body = request.body as Record<string, unknown> | null;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw errors.syntax();
      const hostId = body.host_id;
      const snapshotId = body.snapshot_id;
      if (typeof hostId !== 'string' || hostId === '') throw validation('host_id', 'must not be blank');
      if (typeof snapshotId !== 'string' || snapshotId === '')
        throw validation('snapshot_id', 'must not be blank');
      if (!options.fetchSnapshot)
        throw errors.serviceUnavailable('pull_snapshot: no way to reach other hosts');
      const { id } = request.params;
      if (!manager.get(id)) throw errors.objectNotFound(`no volume with id "${id}"`);
      // zfs-fuse fails a receive now and then under load (an I/O error from recv, or the dataset
      // still busy from a write); `recv -F` rolls back a half-received stream, so asking the other
      // host for the stream again is safe. Validation errors (VolumeError) are not retried.
      for (let attempt = 1; ; attempt++) {
        const haves = await manager.listHaves(id);
        const remote = await options.fetchSnapshot(hostId, snapshotId, haves);
        try {
          const info = await manager.receive(id, remote);
          return sendJson(reply, 200, info);
        } catch (err) {
          remote.destroy();
          if (err instanceof VolumeError || attempt >= PULL_ATTEMPTS) throw err;
        }
      }
    },
  );

  app.get<{ Params: { id: string } }>('/storage/volumes/:id/send', async (request, reply) => {
    if (!(request.headers.accept ?? '').includes(SNAPSHOT_CONTENT_TYPE)) {
      throw validation('', `must be prepared to accept a content type of "${SNAPSHOT_CONTENT_TYPE}"`);
    }
    // GET bodies are not parsed by fastify: apply DecodeJSON's rules by hand.
    requireJsonContentType(request);
    const raw =
      request.body !== undefined ? JSON.stringify(request.body) : await readRawBody(request.raw, maxHaves);
    const haves = parseJson(raw);
    if (haves !== null && !Array.isArray(haves)) throw errors.syntax();
    const { id } = request.params;
    const { stream } = await manager.send(id, haves ?? []);
    reply.hijack();
    const res = reply.raw;
    // Wait for the first bytes (or the failure) so that an immediate zfs error still gets a
    // proper error answer instead of a 200 with an empty body.
    const first = await new Promise<Buffer | null | Error>((resolve) => {
      const onReadable = () => {
        cleanup();
        resolve((stream.read() as Buffer | null) ?? null);
      };
      const onError = (err: Error) => {
        cleanup();
        resolve(err);
      };
      const onEnd = () => {
        cleanup();
        resolve(null);
      };
      const cleanup = () => {
        stream.off('readable', onReadable);
        stream.off('error', onError);
        stream.off('end', onEnd);
      };
      stream.once('readable', onReadable);
      stream.once('error', onError);
      stream.once('end', onEnd);
    });
    if (first instanceof Error) {
      const mapped = toApiError(first);
      const httpErr = mapped instanceof HttpError ? mapped : errors.unknown(first.message);
      res.writeHead(httpErr.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(httpErr.toJSON()));
      return;
    }
    res.writeHead(200, { 'content-type': SNAPSHOT_CONTENT_TYPE });
    if (first) res.write(first);
    try {
      await pipeline(stream, res);
    } catch (err) {
      // The stream failed midway: the client sees a truncated body and a reset, never a clean end.
      request.log.error({ err }, 'zfs send failed');
      res.destroy(err as Error);
    }
  });
};

/**
 * A FetchSnapshot for hosts reachable over HTTP: `GET <baseUrl>/storage/volumes/<id>/send` with the
 * haves as a JSON body. (fetch cannot send a GET body, so this uses node:http.) Non-200 answers
 * reject with Flynn's error envelope decoded.
 */
export function httpFetchSnapshot(
  resolveBaseUrl: (hostId: string) => string | Promise<string>,
  /** Extra request headers, e.g. the cluster key other hosts' APIs require. */
  headers: Record<string, string> = {},
): FetchSnapshot {
  return async (hostId, snapshotId, haves) => {
    const base = new URL(await resolveBaseUrl(hostId));
    const { request } = await import(base.protocol === 'https:' ? 'node:https' : 'node:http');
    const body = Buffer.from(JSON.stringify(haves));
    const url = new URL(
      `storage/volumes/${encodeURIComponent(snapshotId)}/send`,
      base.href.endsWith('/') ? base : `${base.href}/`,
    );
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'GET',
          headers: {
            ...headers,
            accept: SNAPSHOT_CONTENT_TYPE,
            'content-type': 'application/json',
            'content-length': String(body.length),
          },
        },
        (res: IncomingMessage) => {
          if (res.statusCode === 200) {
            resolve(res);
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let err: Error | undefined;
            try {
              err = HttpError.fromEnvelope(JSON.parse(text));
            } catch {
              // not JSON
            }
            reject(
              err ??
                new Error(`host ${hostId}: send snapshot ${snapshotId}: HTTP ${res.statusCode}: ${text}`),
            );
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };
}

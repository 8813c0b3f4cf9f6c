import { existsSync } from 'node:fs';
import { errors, sendJson } from '@flynn-edge/service-kit';
import type { FastifyInstance } from 'fastify';

// POST /host/update (Flynn's host/update.go, flynn-ops.md §5.2 step 4): body {"path": the new
// flynn-host (its bin, a .js entry or a release tree), "args": its arguments}. `args` may be the
// daemon's flags alone (as /host/status lists them) or Flynn's full list starting with "daemon";
// absent, this daemon's own flags. 200 {"path","args","pid"} once the new daemon serves (this
// one exits shortly after); 500 with the reason when it failed (this one serves on).

export interface UpdateApiOptions {
  /** This daemon's flags (argv after `daemon`). */
  defaultArgs: () => string[];
  /** The flags as /host/status shows them (secrets masked): given back, they mean defaultArgs. */
  masked: (flags: string[]) => string[];
  handOver: (path: string, args: string[]) => Promise<{ pid: number }>;
}

export async function updateApiPlugin(app: FastifyInstance, opts: UpdateApiOptions): Promise<void> {
  app.post('/host/update', { config: { decodeJson: 'lenient' } }, async (req, reply) => {
    const body = req.body as { path?: unknown; args?: unknown } | null;
    if (typeof body?.path !== 'string' || body.path === '')
      throw errors.validation('path must be the new flynn-host', { detail: { field: 'path' } });
    if (!existsSync(body.path))
      throw errors.validation(`no such file: ${body.path}`, { detail: { field: 'path' } });
    const given = body.args;
    if (given !== undefined && (!Array.isArray(given) || !given.every((a) => typeof a === 'string')))
      throw errors.validation('args must be a list of strings', { detail: { field: 'args' } });
    const own = opts.defaultArgs();
    let flags = (given as string[] | undefined) ?? own;
    // `flynn-host update` sends back /host/status's masked flags: the daemon's own, key included.
    const bare = flags[0] === 'daemon' ? flags.slice(1) : flags;
    if (JSON.stringify(bare) === JSON.stringify(opts.masked(own))) flags = own;
    const args = flags[0] === 'daemon' ? flags : ['daemon', ...flags];
    const { pid } = await opts.handOver(body.path, args);
    // The next request on this connection would reach the old daemon: close it.
    reply.header('connection', 'close');
    return sendJson(reply, 200, { path: body.path, args: opts.masked(args), pid });
  });
}

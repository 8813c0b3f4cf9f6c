import {
  type Job,
  type JobManager,
  JobNotFoundError,
  type JobSpec,
  JobSpecError,
} from '@flynn-edge/host-jobs';
import { HttpError, sendJson } from '@flynn-edge/service-kit';
import type { FastifyInstance } from 'fastify';

// The job part of the host API: list, inspect, run and stop jobs.
//   GET    /host/jobs          every job this host knows, newest first
//   GET    /host/jobs/:id      one job
//   PUT    /host/jobs/:id      run a job with this id (body: a job spec)
//   POST   /host/jobs          run a job, id assigned (`<host id>-<uuid>`)
//   DELETE /host/jobs/:id      stop it: SIGTERM, then SIGKILL after `?grace=<ms>` (default 10 s)

export interface JobsApiOptions {
  jobs: JobManager;
  /** Called with every spec before it runs (the daemon records the app in the cluster store). */
  beforeRun?: (spec: JobSpec) => Promise<void>;
}

function newestFirst(a: Job, b: Job): number {
  return b.createdAt.localeCompare(a.createdAt);
}

function toHttpError(err: unknown): unknown {
  if (err instanceof JobSpecError) {
    return new HttpError('validation_error', err.message, {
      detail: err.field ? { field: err.field } : undefined,
    });
  }
  if (err instanceof JobNotFoundError) return new HttpError('object_not_found', err.message);
  return err;
}

async function answer<T>(f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw toHttpError(err);
  }
}

function specFrom(body: unknown, id?: string): JobSpec {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError('validation_error', 'the job spec must be a JSON object');
  }
  const spec = { ...(body as JobSpec) };
  if (id !== undefined) spec.id = id;
  return spec;
}

export async function jobsApiPlugin(app: FastifyInstance, opts: JobsApiOptions): Promise<void> {
  const { jobs } = opts;
  const run = async (spec: JobSpec) => {
    await opts.beforeRun?.(spec);
    return jobs.run(spec);
  };
  app.get('/host/jobs', async (_req, reply) => sendJson(reply, 200, jobs.list().sort(newestFirst)));
  app.get<{ Params: { id: string } }>('/host/jobs/:id', async (req, reply) => {
    const job = jobs.get(req.params.id);
    if (!job) throw new HttpError('object_not_found', `job ${JSON.stringify(req.params.id)} not found`);
    return sendJson(reply, 200, job);
  });
  app.put<{ Params: { id: string } }>(
    '/host/jobs/:id',
    { config: { decodeJson: 'lenient' } },
    async (req, reply) => sendJson(reply, 200, await answer(() => run(specFrom(req.body, req.params.id)))),
  );
  app.post('/host/jobs', { config: { decodeJson: 'lenient' } }, async (req, reply) =>
    sendJson(reply, 200, await answer(() => run(specFrom(req.body)))),
  );
  app.delete<{ Params: { id: string }; Querystring: { grace?: string } }>(
    '/host/jobs/:id',
    async (req, reply) => {
      const grace = req.query.grace === undefined ? undefined : Number(req.query.grace);
      if (grace !== undefined && (!Number.isFinite(grace) || grace < 0)) {
        throw new HttpError('validation_error', 'grace must be a number of milliseconds');
      }
      return sendJson(reply, 200, await answer(() => jobs.stop(req.params.id, { graceMs: grace })));
    },
  );
}

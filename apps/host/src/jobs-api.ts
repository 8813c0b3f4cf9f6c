import { constants as osConstants } from 'node:os';
import {
  isSameProcessAlive,
  type Job,
  type JobManager,
  JobNotFoundError,
  type JobSpec,
  JobSpecError,
  maskJob,
} from '@flynn-edge/host-jobs';
import { HttpError, sendJson } from '@flynn-edge/service-kit';
import type { FastifyInstance } from 'fastify';

// The job part of the host API: list, inspect, run and stop jobs.
//   GET    /host/jobs          every job this host knows, newest first
//   GET    /host/jobs/:id      one job
//   PUT    /host/jobs/:id      run a job with this id (body: a job spec)
//   POST   /host/jobs          run a job, id assigned (`<host id>-<uuid>`)
//   DELETE /host/jobs/:id      stop it: SIGTERM, then SIGKILL after `?grace=<ms>` (default 10 s);
//                              `?drain=<ms>`: out of discoverd first, SIGTERM that much later
// Every answer masks secret env values and flag values (packages/host-jobs/src/secrets.ts): the
// cluster key already guards the API, but listings end up in terminals, debug tarballs and logs.
// `?reveal=true` on GET answers them as they are, for an operator who asks for one.

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

/** A `?name=<ms>` query value (absent: undefined). */
function msParam(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = Number(v);
  if (v === '' || !Number.isFinite(ms) || ms < 0) {
    throw new HttpError('validation_error', `${name} must be a number of milliseconds`);
  }
  return ms;
}

/** `reveal=true` (or 1): the real values; absent, false or 0: masked. */
function revealOf(query: { reveal?: string }): boolean {
  const v = query.reveal;
  if (v === undefined || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw new HttpError('validation_error', 'reveal must be true or false');
}

export async function jobsApiPlugin(app: FastifyInstance, opts: JobsApiOptions): Promise<void> {
  const { jobs } = opts;
  const run = async (spec: JobSpec) => {
    await opts.beforeRun?.(spec);
    return jobs.run(spec);
  };
  app.get<{ Querystring: { reveal?: string } }>('/host/jobs', async (req, reply) => {
    const list = jobs.list().sort(newestFirst);
    return sendJson(reply, 200, revealOf(req.query) ? list : list.map(maskJob));
  });
  app.get<{ Params: { id: string }; Querystring: { reveal?: string } }>(
    '/host/jobs/:id',
    async (req, reply) => {
      const job = jobs.get(req.params.id);
      if (!job) throw new HttpError('object_not_found', `job ${JSON.stringify(req.params.id)} not found`);
      return sendJson(reply, 200, revealOf(req.query) ? job : maskJob(job));
    },
  );
  app.put<{ Params: { id: string } }>(
    '/host/jobs/:id',
    { config: { decodeJson: 'lenient' } },
    async (req, reply) =>
      sendJson(reply, 200, maskJob(await answer(() => run(specFrom(req.body, req.params.id))))),
  );
  app.post('/host/jobs', { config: { decodeJson: 'lenient' } }, async (req, reply) =>
    sendJson(reply, 200, maskJob(await answer(() => run(specFrom(req.body))))),
  );
  // Flynn's PUT /host/jobs/:id/signal/:signal: e.g. SIGHUP makes a router replace its workers.
  app.put<{ Params: { id: string; signal: string } }>('/host/jobs/:id/signal/:signal', async (req, reply) => {
    const signal = signalOf(req.params.signal);
    const job = jobs.get(req.params.id);
    if (!job) throw new HttpError('object_not_found', `job ${JSON.stringify(req.params.id)} not found`);
    if (job.state !== 'running' || !job.pid || !isSameProcessAlive(job.pid, job.procStartTime))
      throw new HttpError('validation_error', `job ${job.id} is ${job.state}, not running`);
    process.kill(job.pid, signal);
    return sendJson(reply, 200, { id: job.id, pid: job.pid, signal });
  });
  app.delete<{ Params: { id: string }; Querystring: { grace?: string; drain?: string } }>(
    '/host/jobs/:id',
    async (req, reply) => {
      const graceMs = msParam(req.query.grace, 'grace');
      const drainMs = msParam(req.query.drain, 'drain');
      return sendJson(
        reply,
        200,
        maskJob(await answer(() => jobs.stop(req.params.id, { graceMs, drainMs }))),
      );
    },
  );
}

/** A signal by name (`SIGHUP`, `HUP`) or number (`1`), as Flynn's signal endpoint takes it. */
function signalOf(given: string): NodeJS.Signals {
  const name = /^\d+$/.test(given)
    ? Object.entries(osConstants.signals).find(([, n]) => n === Number(given))?.[0]
    : `SIG${given.toUpperCase().replace(/^SIG/, '')}`;
  if (!name || !(name in osConstants.signals))
    throw new HttpError('validation_error', `unknown signal ${JSON.stringify(given)}`);
  return name as NodeJS.Signals;
}

import { isUtf8 } from 'node:buffer';
import type { JobManager } from '@flynn-edge/host-jobs';
import { cursorOf, type LogStore } from '@flynn-edge/logstore';
import { HttpError } from '@flynn-edge/service-kit';
import type { LogMessage } from '@flynn-edge/syslog';
import type { FastifyInstance } from 'fastify';

// GET /host/jobs/:id/log — a job's log from this host's files, as NDJSON lines
// {"timestamp","stream","msg"}: `lines=N` the last N lines (else all the history), `follow=true`
// then live lines until the job has finished, `init=true` adds the init stream (the daemon's notes).
// `format=text`: the messages alone, one per line (text/plain), for a reader that prints them as
// they are (flynn-host log without --init/--split-stderr).
// The CLI's `flynn-host log` reads it; Flynn's binary attach protocol is not copied (issue 5).

const STREAM_OF: Record<string, string> = { ID1: 'stdout', ID2: 'stderr', ID3: 'init' };
/** After the job finished, lines still in its spool reach the file within a tail interval. */
const FINISH_GRACE_MS = 1000;

export interface LogApiOptions {
  jobs: JobManager;
  store: LogStore;
}

/**
 * One NDJSON line, the same text as JSON.stringify({timestamp, stream, msg}) gives: the timestamp
 * (checked RFC 3339 or '-') and the stream name need no escaping, so only msg goes through JSON.
 */
function ndjsonLine(m: LogMessage): string {
  return `{"timestamp":"${m.timestamp}","stream":"${STREAM_OF[m.msgId] ?? 'unknown'}","msg":${JSON.stringify(m.msg.toString('utf8'))}}\n`;
}

/** The message alone (decoded as the NDJSON form decodes it: invalid UTF-8 becomes U+FFFD). */
function textLine(m: LogMessage): string {
  return `${m.msg.toString('utf8')}\n`;
}

/** Many messages as text: their bytes as they are when valid UTF-8 (else decoded line by line). */
function textBody(ms: LogMessage[]): Buffer | string {
  let size = 0;
  for (const m of ms) size += m.msg.length + 1;
  const out = Buffer.allocUnsafe(size);
  let p = 0;
  for (const m of ms) {
    p += m.msg.copy(out, p);
    out[p++] = 0x0a;
  }
  return isUtf8(out) ? out : ms.map(textLine).join('');
}

function finished(state: string): boolean {
  return state === 'done' || state === 'crashed' || state === 'failed';
}

export async function logApiPlugin(app: FastifyInstance, opts: LogApiOptions): Promise<void> {
  app.get<{
    Params: { id: string };
    Querystring: { lines?: string; follow?: string; init?: string; format?: string };
  }>('/host/jobs/:id/log', async (req, reply) => {
    const job = opts.jobs.get(req.params.id);
    if (!job) throw new HttpError('object_not_found', `job ${JSON.stringify(req.params.id)} not found`);
    const lines = req.query.lines === undefined ? undefined : Number(req.query.lines);
    if (lines !== undefined && (!Number.isInteger(lines) || lines < 0)) {
      throw new HttpError('validation_error', 'lines must be a non-negative integer');
    }
    const filter = {
      jobId: job.id,
      streams: req.query.init === 'true' ? ['ID1', 'ID2', 'ID3'] : ['ID1', 'ID2'],
    };
    const follow = req.query.follow === 'true';
    const format = req.query.format ?? 'ndjson';
    if (format !== 'ndjson' && format !== 'text') {
      throw new HttpError('validation_error', 'format must be ndjson or text');
    }
    const line = format === 'text' ? textLine : ndjsonLine;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': format === 'text' ? 'text/plain; charset=utf-8' : 'application/x-ndjson',
      'cache-control': 'no-cache',
    });
    let from: ReturnType<typeof cursorOf> | undefined;
    if (lines !== undefined) {
      // lines=0: nothing from the history; with follow, only lines newer than what is on disk.
      const last = await opts.store.tail(job.app.id, Math.max(lines, 1), filter);
      // One write for the whole history: 10,000 small writes cost more than the read.
      if (lines > 0 && last.length > 0)
        res.write(format === 'text' ? textBody(last) : last.map(line).join(''));
      from = last.length > 0 ? cursorOf(last[last.length - 1]!) : undefined;
      if (!follow) {
        res.end();
        return;
      }
    }
    const stream = opts.store.stream({ appIds: [job.app.id], filter, from, follow });
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (timer) clearTimeout(timer);
      stream.close();
    };
    res.on('close', stop);
    if (follow) {
      const onState = (j: { id: string; state: string }) => {
        if (j.id === job.id && finished(j.state)) timer = setTimeout(stop, FINISH_GRACE_MS);
      };
      opts.jobs.on('state', onState);
      res.on('close', () => opts.jobs.off('state', onState as never));
      if (finished(opts.jobs.get(job.id)?.state ?? 'done')) timer = setTimeout(stop, FINISH_GRACE_MS);
    }
    try {
      for await (const m of stream) {
        if (!res.write(line(m))) await new Promise((r) => res.once('drain', r));
      }
    } finally {
      stop();
      res.end();
    }
  });
}

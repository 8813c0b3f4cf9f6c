import type { IncomingMessage } from 'node:http';
import { hostOfJob } from '../hosts.js';
import { eachChunk, ndjsonLines, openStream } from '../ndjson.js';

// `flynn-host log [-f] [--lines N] [--init] [--split-stderr] JOB_ID`: the job's log from the
// files on its host (the host is the job id's prefix), then, with -f, new lines until the job ends.
// stdout lines go to stdout; stderr lines too unless --split-stderr; init lines to stderr.

export interface LogOptions {
  servers: string[];
  clusterKey?: string;
  jobId: string;
  follow?: boolean;
  lines?: number;
  init?: boolean;
  splitStderr?: boolean;
}

interface LogLine {
  stream: string;
  msg: string;
}

export async function logCommand(opts: LogOptions): Promise<void> {
  const host = await hostOfJob(opts.jobId, opts.servers, opts.clusterKey);
  const q = new URLSearchParams();
  if (opts.follow) q.set('follow', 'true');
  if (opts.lines !== undefined) q.set('lines', String(opts.lines));
  if (opts.init) q.set('init', 'true');
  // Everything goes to stdout: the host sends the lines as plain text, printed as they come
  // (nothing to decode). Otherwise NDJSON tells the streams apart.
  const plain = !opts.init && !opts.splitStderr;
  if (plain) q.set('format', 'text');
  const url = `${host.url}/host/jobs/${encodeURIComponent(opts.jobId)}/log?${q}`;
  if (plain) {
    const res = await openStream(url, opts.clusterKey, true);
    if (!/^text\/plain/.test(res.headers['content-type'] ?? '')) {
      // a host that does not know format=text answers NDJSON
      res.setEncoding('utf8');
      await printNdjson(url, res, opts);
      return;
    }
    // The bytes as they come, in writes of up to 1 MiB (history) or per chunk (live lines).
    let held: Buffer[] = [];
    let size = 0;
    const flush = () => {
      if (size > 0) process.stdout.write(held.length === 1 ? held[0]! : Buffer.concat(held, size));
      held = [];
      size = 0;
    };
    await eachChunk<Buffer>(url, res, (chunk) => {
      held.push(chunk);
      size += chunk.length;
      if (opts.follow || size >= 1 << 20) flush();
    });
    flush();
    return;
  }
  await printNdjson(url, await openStream(url, opts.clusterKey), opts);
}

/** NDJSON lines: stdout lines to stdout, init (and with --split-stderr stderr) lines to stderr. */
async function printNdjson(url: string, res: IncomingMessage, opts: LogOptions): Promise<void> {
  // Output is gathered per network chunk: one write per chunk, not one per line.
  let out = '';
  let err = '';
  await ndjsonLines<LogLine>(url, res, {
    onLine: (l) => {
      if (l.stream === 'init' || (l.stream === 'stderr' && opts.splitStderr)) err += `${l.msg}\n`;
      else out += `${l.msg}\n`;
    },
    onBatchEnd: () => {
      if (out) process.stdout.write(out);
      if (err) process.stderr.write(err);
      out = '';
      err = '';
    },
  });
}

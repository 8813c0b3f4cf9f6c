import { hostOfJob } from '../hosts.js';
import { streamNdjson } from '../ndjson.js';

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
  const url = `${host.url}/host/jobs/${encodeURIComponent(opts.jobId)}/log?${q}`;
  // Output is gathered per network chunk: one write per chunk, not one per line.
  let out = '';
  let err = '';
  await streamNdjson<LogLine>(url, {
    clusterKey: opts.clusterKey,
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

import { maskJob } from '@flynn-edge/host/secrets';
import { getJson } from '../discoverd-http.js';
import { type HostJob, hostOfJob } from '../hosts.js';
import { CliError, formatTable, printJson, println } from '../output.js';

// `flynn-host inspect [--json] [--reveal] [--env-value NAME] JOB_ID`: one job as its host knows
// it. Secret env values (and secret flag values) are masked unless asked for: --env-value NAME
// prints that one value alone, --reveal shows them all.

export interface InspectOptions {
  servers: string[];
  clusterKey?: string;
  jobId: string;
  json?: boolean;
  reveal?: boolean;
  envValue?: string;
}

/** What `GET /host/jobs/:id` adds to the listing's fields. */
interface InspectedJob extends HostJob {
  cmd: string;
  pid?: number;
  ports: number[];
  startedAt?: string;
  endedAt?: string;
  exitStatus?: number | null;
  signal?: string | null;
  restarts: number;
}

export async function inspectCommand(opts: InspectOptions): Promise<void> {
  const host = await hostOfJob(opts.jobId, opts.servers, opts.clusterKey);
  const reveal = opts.reveal === true || opts.envValue !== undefined;
  const url = `${host.url}/host/jobs/${encodeURIComponent(opts.jobId)}${reveal ? '?reveal=true' : ''}`;
  const { value } = await getJson<InspectedJob>(url, { clusterKey: opts.clusterKey });
  if (opts.envValue !== undefined) {
    const v = value.env?.[opts.envValue];
    if (v === undefined) throw new CliError(`job ${opts.jobId} has no env variable ${opts.envValue}`);
    println(v);
    return;
  }
  const job = reveal ? value : maskJob(value);
  if (opts.json) return printJson(job);
  const rows: [string, string][] = [
    ['ID', job.id],
    ['App', `${job.app.name} (${job.app.id})`],
    ['Type', job.processType],
    ['Cmd', [job.cmd, ...(job.args ?? [])].join(' ').replace(/\s*\n\s*/g, ' ')],
    ['State', job.state],
    ['Pid', job.pid === undefined ? '' : String(job.pid)],
    ['Ports', (job.ports ?? []).join(', ')],
    ['CreatedAt', job.createdAt],
    ['StartedAt', job.startedAt ?? ''],
    ['EndedAt', job.endedAt ?? ''],
    ['ExitStatus', job.exitStatus == null ? (job.signal ?? '') : String(job.exitStatus)],
    ['Restarts', String(job.restarts ?? 0)],
    ['Error', job.error ?? ''],
    ...Object.entries(job.env ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]): [string, string] => [`ENV[${k}]`, v]),
  ];
  // No header row: Flynn's inspect prints name/value pairs.
  println(formatTable(rows[0]!, rows.slice(1)));
}

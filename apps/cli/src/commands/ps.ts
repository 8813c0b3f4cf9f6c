import { type HostJob, hostJobs, JOB_COLUMNS, listHosts } from '../hosts.js';
import { formatTable, printJson, println } from '../output.js';

// `flynn-host ps [-a] [-q] [--json]`: the jobs of every host (GET /host/jobs on each), newest
// first; without -a only starting and running ones. Flynn's columns.

export interface PsOptions {
  servers: string[];
  clusterKey?: string;
  all?: boolean;
  quiet?: boolean;
  json?: boolean;
  now?: number;
}

/** "N minutes ago", as Flynn's ps printed ages (go-humanize). */
export function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  const unit = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'} ago`;
  if (s < 60) return unit(s, 'second');
  if (s < 3600) return unit(Math.floor(s / 60), 'minute');
  if (s < 86400) return unit(Math.floor(s / 3600), 'hour');
  return unit(Math.floor(s / 86400), 'day');
}

export async function psCommand(opts: PsOptions): Promise<void> {
  const hosts = await listHosts(opts.servers, opts.clusterKey);
  const jobs: HostJob[] = [];
  for (const h of hosts) jobs.push(...(await hostJobs(h, opts.clusterKey)));
  const shown = jobs
    .filter((j) => opts.all || j.state === 'starting' || j.state === 'running')
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (opts.json) return printJson(shown);
  if (opts.quiet) {
    for (const j of shown) println(j.id);
    return;
  }
  const now = opts.now ?? Date.now();
  println(
    formatTable(
      JOB_COLUMNS,
      shown.map((j) => [j.id, j.state, ago(j.createdAt, now), j.app.name, j.processType, j.error ?? '']),
    ),
  );
}

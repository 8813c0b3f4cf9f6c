import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { maskArgs, maskEnv } from '@flynn-edge/host/secrets';
import { getJson, request } from '../discoverd-http.js';
import { type HostRef, hostJobs, JOB_COLUMNS, listHosts } from '../hosts.js';
import { CliError, formatTable, note, println } from '../output.js';
import { type TarEntry, tar } from '../tar.js';
import { fetchRaftView } from './raft.js';

// `flynn-host collect-debug-info`: Flynn's contents (spec §4.7) in a gzip tarball. There is no
// gist upload (no internet): the tarball is always written, and its path printed. Secrets stay
// out: job descriptions, `ps` command lines and --include-env are masked (host-jobs' secrets.ts).
// The daemons' own logs are read from each host's log directory as its API reports it (or
// --log-dir); one that is not there is said so, on stderr and in 0-debug-output.log.

export interface DebugInfoOptions {
  servers: string[];
  clusterKey?: string;
  /** Default: each host's, from GET /host/status; /var/log/flynn when no host answers. */
  logDir?: string;
  filename?: string;
  includeEnv?: boolean;
  version: string;
}

const DEFAULT_LOG_DIR = '/var/log/flynn';

const COMMANDS: string[][] = [
  ['ps', 'faux'],
  ['ip', 'addr'],
  ['uname', '-a'],
  ['lsb_release', '-a'],
  ['date'],
  ['free', '-m'],
  ['df', '-h'],
  ['ip', 'route'],
  ['iptables', '-L', '-v', '-n', '--line-numbers'],
];

function runCommand(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (r.error)
    return `(${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : r.error.message})\n`;
  const out = `${r.stdout}${r.stderr}`;
  // Command lines may carry a secret flag (`--cluster-key K`).
  return argv[0] === 'ps'
    ? out
        .split('\n')
        .map((l) => maskArgs(l.split(' ')).join(' '))
        .join('\n')
    : out;
}

function debugOutput(version: string, logNotes: string[]): string {
  let out = '';
  for (const argv of COMMANDS) out += `===> ${argv.join(' ')}\n${runCommand(argv)}\n`;
  out += `===> flynn-host version\n${version}\n`;
  out += `\n===> flynn-host logs\n${logNotes.join('\n')}\n`;
  return out;
}

function text(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** A daemon's log directory: where to look, and the tarball name of its flynn-host.log. */
interface LogDir {
  dir: string;
  name: string;
  /** Which host reported it, for the notes. */
  host?: string;
}

/** Every host's log directory, as its /host/status reports it. */
async function hostLogDirs(hosts: HostRef[], clusterKey?: string): Promise<LogDir[]> {
  const dirs: LogDir[] = [];
  for (const h of hosts) {
    try {
      const { value } = await getJson<{ log_dir?: string }>(`${h.url}/host/status`, { clusterKey });
      if (value.log_dir) dirs.push({ dir: value.log_dir, name: `flynn-host-${h.id}.log`, host: h.id });
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      note(`host ${h.id}: no log directory: ${err.message}`);
    }
  }
  return dirs;
}

export async function collectDebugInfo(opts: DebugInfoOptions): Promise<string> {
  const entries: TarEntry[] = [];
  const logNotes: string[] = [];
  /** Said on stderr and kept in 0-debug-output.log: nothing is left out silently. */
  const missing = (line: string) => {
    note(line);
    logNotes.push(line);
  };

  // The cluster as discoverd sees it, then every host's jobs with their logs.
  let hosts: HostRef[] | undefined;
  try {
    entries.push({
      name: 'raft.json',
      data: text(JSON.stringify(await fetchRaftView(opts.servers, opts.clusterKey), null, 2)),
    });
    hosts = await listHosts(opts.servers, opts.clusterKey);
    const rows: string[][] = [];
    for (const h of hosts) {
      for (const j of await hostJobs(h, opts.clusterKey)) {
        rows.push([j.id, j.state, j.createdAt, j.app.name, j.processType, j.error ?? '']);
        const log = await request('GET', `${h.url}/host/jobs/${encodeURIComponent(j.id)}/log?init=true`, {
          clusterKey: opts.clusterKey,
          timeoutMs: 30_000,
        });
        const lines = log.text
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const m = JSON.parse(l) as { timestamp: string; stream: string; msg: string };
            return `${m.timestamp} ${m.stream}: ${m.msg}`;
          });
        const name = `${j.app.name}-${j.processType || 'job'}-${j.id}.log`.replace(/[^A-Za-z0-9_.-]/g, '_');
        entries.push({
          name: name.slice(-100),
          data: text(`${JSON.stringify(j, null, 2)}\n\n${lines.join('\n')}\n`),
        });
      }
    }
    entries.push({
      name: '1-jobs.log',
      data: text(`${formatTable(JOB_COLUMNS, rows)}\n`),
    });
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    note(`cluster state not collected: ${err.message}`);
    // Flynn's fallback: the raw log files.
    const dir = opts.logDir ?? DEFAULT_LOG_DIR;
    if (existsSync(dir)) {
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.log') && n !== 'flynn-host.log')) {
        entries.push({ name: `logs-${f}`.slice(-100), data: readFileSync(join(dir, f)) });
      }
    } else missing(`no log directory ${dir}: job log files not collected (pass --log-dir)`);
  }

  // The daemons' own logs: --log-dir, else each host's own directory, else Flynn's default.
  let dirs: LogDir[] = opts.logDir ? [{ dir: opts.logDir, name: 'flynn-host.log' }] : [];
  if (!opts.logDir && hosts) dirs = await hostLogDirs(hosts, opts.clusterKey);
  if (dirs.length === 0) dirs = [{ dir: DEFAULT_LOG_DIR, name: 'flynn-host.log' }];
  for (const d of dirs) {
    const file = join(d.dir, 'flynn-host.log');
    const whose = d.host ? `host ${d.host}'s log directory` : 'log directory';
    if (existsSync(file)) {
      entries.push({ name: d.name, data: readFileSync(file) });
      logNotes.push(`${d.name}: ${file}`);
    } else if (!existsSync(d.dir)) {
      missing(
        `${whose} ${d.dir} is not on this machine: its flynn-host.log is not collected (pass --log-dir)`,
      );
    } else missing(`no ${file}: the daemon's log is not collected`);
  }

  if (opts.includeEnv) {
    const env = Object.entries(maskEnv(process.env as Record<string, string>))
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join('\n');
    entries.push({ name: 'env.log', data: text(`${env}\n`) });
  }
  entries.unshift({ name: '0-debug-output.log', data: text(debugOutput(opts.version, logNotes)) });
  const path =
    opts.filename ?? join(mkdtempSync(join(tmpdir(), 'flynn-host-debug')), 'flynn-host-debug.tar.gz');
  writeFileSync(path, gzipSync(tar(entries), { level: 9 }));
  println(path);
  return path;
}

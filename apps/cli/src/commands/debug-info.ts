import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { request } from '../discoverd-http.js';
import { hostJobs, JOB_COLUMNS, listHosts } from '../hosts.js';
import { CliError, formatTable, note, println } from '../output.js';
import { type TarEntry, tar } from '../tar.js';
import { fetchRaftView } from './raft.js';

// `flynn-host collect-debug-info`: Flynn's contents (spec §4.7) in a gzip tarball. There is no
// gist upload (no internet): the tarball is always written, and its path printed.

export interface DebugInfoOptions {
  servers: string[];
  clusterKey?: string;
  logDir: string;
  filename?: string;
  includeEnv?: boolean;
  version: string;
}

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
  return `${r.stdout}${r.stderr}`;
}

function debugOutput(version: string): string {
  let out = '';
  for (const argv of COMMANDS) out += `===> ${argv.join(' ')}\n${runCommand(argv)}\n`;
  out += `===> flynn-host version\n${version}\n`;
  return out;
}

function text(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

export async function collectDebugInfo(opts: DebugInfoOptions): Promise<string> {
  const entries: TarEntry[] = [{ name: '0-debug-output.log', data: text(debugOutput(opts.version)) }];
  const hostLog = join(opts.logDir, 'flynn-host.log');
  if (existsSync(hostLog)) entries.push({ name: 'flynn-host.log', data: readFileSync(hostLog) });
  else note(`no ${hostLog} (pass --log-dir)`);

  // The cluster as discoverd sees it, then every host's jobs with their logs.
  try {
    entries.push({
      name: 'raft.json',
      data: text(JSON.stringify(await fetchRaftView(opts.servers, opts.clusterKey), null, 2)),
    });
    const hosts = await listHosts(opts.servers, opts.clusterKey);
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
    if (existsSync(opts.logDir)) {
      for (const f of readdirSync(opts.logDir).filter((n) => n.endsWith('.log') && n !== 'flynn-host.log')) {
        entries.push({ name: `logs-${f}`.slice(-100), data: readFileSync(join(opts.logDir, f)) });
      }
    }
  }
  if (opts.includeEnv) {
    const env = Object.entries(process.env)
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join('\n');
    entries.push({ name: 'env.log', data: text(`${env}\n`) });
  }
  const path =
    opts.filename ?? join(mkdtempSync(join(tmpdir(), 'flynn-host-debug')), 'flynn-host-debug.tar.gz');
  writeFileSync(path, gzipSync(tar(entries), { level: 9 }));
  println(path);
  return path;
}

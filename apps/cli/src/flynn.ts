import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { exitQuietlyOnClosedPipe } from './closed-pipe.js';
import { discoverdUrls, getJson } from './discoverd-http.js';
import { streamNdjson } from './ndjson.js';
import { CliError, printError } from './output.js';

// `flynn`: the app-level commands. Today only `flynn -a APP log`: an app's last lines from the
// cluster-wide log aggregator, then with -f new ones. `-a NAME` resolves through the app record
// `apps/<name>` in the cluster store (a UUID is taken as the app id when there is no record).

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Globals {
  app?: string;
  discoverd?: string[];
  clusterKey?: string;
}

interface AggregatorLine {
  host_id?: string;
  job_id?: string;
  msg?: string;
  process_type?: string;
  stream?: string;
  timestamp?: string;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 10_000)
    throw new InvalidArgumentError('want an integer from 0 to 10000');
  return n;
}

/** The app id for `-a`: the record's id, or the argument itself when it is a UUID. */
export async function resolveApp(name: string, servers: string[], clusterKey?: string): Promise<string> {
  for (const server of servers) {
    try {
      const { value } = await getJson<{ value: string }>(`${server}/kv/apps/${encodeURIComponent(name)}`, {
        clusterKey,
      });
      return (JSON.parse(value.value) as { id: string }).id;
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      if (/ 404/.test(err.message)) break;
      if (/ 401/.test(err.message)) throw err;
    }
  }
  if (UUID.test(name)) return name;
  throw new CliError(`no app named ${JSON.stringify(name)} (no record apps/${name} in the cluster store)`);
}

async function aggregatorUrl(servers: string[], clusterKey?: string): Promise<string> {
  for (const server of servers) {
    try {
      const { value } = await getJson<{ addr: string }[]>(`${server}/services/logaggregator-api/instances`, {
        clusterKey,
      });
      if (value[0]) return `http://${value[0].addr}`;
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
    }
  }
  throw new CliError('no logaggregator-api instance is registered in discoverd');
}

export function buildFlynn(): Command {
  const program = new Command('flynn')
    .description('App commands for a flynn-edge cluster.')
    .addOption(new Option('-a, --app <name>', 'the app (name, or id)').env('FLYNN_APP'))
    .addOption(
      new Option('--discoverd <list>', 'discoverd servers, comma-separated')
        .env('DISCOVERD')
        .argParser((v) => discoverdUrls(v)),
    )
    .addOption(new Option('--cluster-key <key>', 'the cluster key').env('CLUSTER_KEY'))
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, 'flynn: ')) });

  program
    .command('log')
    .description("print the app's last log lines from the aggregator; with -f, follow")
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <n>', 'how many of the last lines (up to 10000)', parseCount, 100)
    .option('-j, --job <id>', 'only this job')
    .option('-t, --type <type>', 'only this process type')
    .option('-r, --raw-output', 'print the messages only')
    .option('--json', 'print the aggregator lines as JSON')
    .action(async (opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<Globals>();
      if (!g.app) throw new CliError('flynn log needs an app: -a NAME', 2);
      const servers = g.discoverd ?? discoverdUrls(undefined);
      const appId = await resolveApp(g.app, servers, g.clusterKey);
      const base = await aggregatorUrl(servers, g.clusterKey);
      const q = new URLSearchParams({ lines: String(opts.lines) });
      if (opts.follow) q.set('follow', 'true');
      if (opts.job) q.set('job_id', opts.job);
      if (opts.type !== undefined) q.set('process_type', opts.type);
      await streamNdjson<AggregatorLine>(`${base}/log/${encodeURIComponent(appId)}?${q}`, {
        onLine: (l) => {
          if (opts.json) return void process.stdout.write(`${JSON.stringify(l)}\n`);
          if (opts.rawOutput) return void process.stdout.write(`${l.msg ?? ''}\n`);
          const who = l.process_type ? `${l.process_type}.${l.job_id}` : l.job_id;
          process.stdout.write(`${l.timestamp} ${g.app}[${who}]: ${l.msg ?? ''}\n`);
        },
      });
    });
  return program;
}

export async function runFlynn(argv: string[]): Promise<number> {
  try {
    await buildFlynn().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof CliError) {
      process.stderr.write(`flynn: ${err.message}\n`);
      return err.exitCode;
    }
    printError(`unexpected error: ${(err as Error)?.message ?? String(err)}`);
    return 1;
  }
}

exitQuietlyOnClosedPipe('flynn');
process.exitCode = await runFlynn(process.argv.slice(2));

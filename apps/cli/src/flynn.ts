import { AppModelError } from '@flynn-edge/app-model';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { exitQuietlyOnClosedPipe } from './closed-pipe.js';
import { discoverdUrls, getJson } from './discoverd-http.js';
import { registerAppCommands } from './flynn/apps.js';
import { registerClusterCommands, resolveTarget } from './flynn/cluster.js';
import { contextOf, type FlynnContext, setTargetResolver } from './flynn/context.js';
import { registerEnvCommands } from './flynn/env.js';
import { registerExportCommand } from './flynn/export.js';
import { registerImportCommand } from './flynn/import.js';
import { registerKvCommands } from './flynn/kv.js';
import { registerPsCommands } from './flynn/ps.js';
import { registerReleaseCommands } from './flynn/release.js';
import { type FlynnRequestContext, registerRouteCommands } from './flynn/route.js';
import { registerRunCommand } from './flynn/run.js';
import { registerScaleCommand } from './flynn/scale.js';
import { streamNdjson } from './ndjson.js';
import { registerFlynnVersion } from './ops/version-command.js';
import { CliError, printError } from './output.js';

// `flynn`: the app commands (Flynn's cli/*.go): apps, create, delete, info, release, scale, ps,
// kill, run, env, route, kv, log, cluster. `-a NAME` resolves through `apps/<name>` in the
// cluster store; the requests go where the target says (flynn/target.ts).

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
async function resolveAppId(ctx: FlynnContext, name: string): Promise<string> {
  const rec = await ctx.store.findApp(name);
  if (rec) return rec.value.id;
  if (UUID.test(name)) return name;
  throw new CliError(`no app named ${JSON.stringify(name)} (no record apps/${name} in the cluster store)`);
}

async function aggregatorUrl(ctx: FlynnContext): Promise<string> {
  for (const server of ctx.target.discoverd) {
    try {
      const { value } = await getJson<{ addr: string }[]>(`${server}/services/logaggregator-api/instances`, {
        clusterKey: ctx.target.clusterKey,
      });
      if (value[0]) return ctx.target.serviceUrl('logaggregator-api', value[0].addr);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
    }
  }
  throw new CliError('no logaggregator-api instance is registered in discoverd');
}

function registerLogCommand(program: Command): void {
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
      const app = cmd.optsWithGlobals<{ app?: string }>().app;
      if (!app) throw new CliError('flynn log needs an app: -a NAME', 2);
      const ctx = await contextOf(cmd);
      const appId = await resolveAppId(ctx, app);
      const base = await aggregatorUrl(ctx);
      const q = new URLSearchParams({ lines: String(opts.lines) });
      if (opts.follow) q.set('follow', 'true');
      if (opts.job) q.set('job_id', opts.job);
      if (opts.type !== undefined) q.set('process_type', opts.type);
      await streamNdjson<AggregatorLine>(`${base}/log/${encodeURIComponent(appId)}?${q}`, {
        clusterKey: ctx.target.clusterKey,
        onLine: (l) => {
          if (opts.json) return void process.stdout.write(`${JSON.stringify(l)}\n`);
          if (opts.rawOutput) return void process.stdout.write(`${l.msg ?? ''}\n`);
          const who = l.process_type ? `${l.process_type}.${l.job_id}` : l.job_id;
          process.stdout.write(`${l.timestamp} ${app}[${who}]: ${l.msg ?? ''}\n`);
        },
      });
    });
}

export function buildFlynn(): Command {
  const program = new Command('flynn')
    .description('App commands for a flynn-edge cluster.')
    .addOption(new Option('-a, --app <name>', 'the app (name, or id)').env('FLYNN_APP'))
    .addOption(new Option('-c, --cluster <name>', 'the cluster (from ~/.flynnrc)').env('FLYNN_CLUSTER'))
    .addOption(
      new Option('--discoverd <list>', 'discoverd servers, comma-separated')
        .env('DISCOVERD')
        .argParser((v) => discoverdUrls(v)),
    )
    .addOption(new Option('--cluster-key <key>', 'the cluster key').env('CLUSTER_KEY'))
    // Global options go before the command, as in Flynn: `route add -c CERT` is the certificate.
    .enablePositionalOptions();
  setTargetResolver(resolveTarget);
  registerClusterCommands(program);
  registerAppCommands(program);
  registerReleaseCommands(program);
  registerScaleCommand(program);
  registerPsCommands(program);
  registerRunCommand(program);
  registerEnvCommands(program);
  registerExportCommand(program);
  registerImportCommand(program);
  registerLogCommand(program);
  registerFlynnVersion(program);
  const requestContext = async (cmd: Command): Promise<FlynnRequestContext> => {
    const c = await contextOf(cmd);
    const app = cmd.optsWithGlobals<{ app?: string }>().app;
    return { target: c.target, app: app ? (await c.app()).value : undefined };
  };
  registerRouteCommands(program, requestContext);
  registerKvCommands(program, requestContext);
  // exitOverride reaches every subcommand (commander copies settings when they are created only).
  const override = (c: Command) => {
    c.exitOverride().configureOutput({
      outputError: (str, write) => write(str.replace(/^error: /, 'flynn: ')),
    });
    for (const sub of c.commands) override(sub);
  };
  override(program);
  return program;
}

export async function runFlynn(argv: string[]): Promise<number> {
  try {
    await buildFlynn().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof CliError || err instanceof AppModelError) {
      if (err.message !== '') process.stderr.write(`flynn: ${err.message.replace(/\s*\n\s*/g, ' ')}\n`);
      return err.exitCode;
    }
    printError(`unexpected error: ${(err as Error)?.message ?? String(err)}`);
    return 1;
  }
}

exitQuietlyOnClosedPipe('flynn');
process.exitCode = await runFlynn(process.argv.slice(2));

import { FLYNN_EDGE_VERSION } from '@flynn-edge/service-kit';
import { Command, InvalidArgumentError, Option } from 'commander';
import { discoverdUrls, hostPort } from './discoverd-http.js';
import { registerBootstrapCommand } from './ops/bootstrap-command.js';
import { registerFixCommand } from './ops/fix-command.js';
import { registerInitCommand } from './ops/init-command.js';
import { registerUpdateCommand } from './ops/update-command.js';
import { registerVersionCommand } from './ops/version-command.js';
import { PROG } from './output.js';

// flynn-host's commander wiring. Exit codes: 0 done, 1 the operation failed (network, server
// answer), 2 bad usage. Each command's module is imported when that command runs: a short-lived
// CLI should not load (and compile) the code of every other command first.

interface GlobalOptions {
  discoverd?: string[];
  clusterKey?: string;
}

function parseAddr(value: string): string {
  try {
    return hostPort(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('want a non-negative integer');
  return n;
}

function parseServers(value: string): string[] {
  try {
    return discoverdUrls(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function globals(cmd: Command): { servers: string[]; clusterKey?: string } {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  return { servers: g.discoverd ?? discoverdUrls(undefined), clusterKey: g.clusterKey || undefined };
}

export function buildProgram(): Command {
  const program = new Command(PROG)
    .description(
      'Operator commands for a flynn-edge cluster: the host daemon, jobs, discoverd Raft membership.',
    )
    .addOption(
      new Option(
        '--discoverd <list>',
        'discoverd servers, comma-separated host[:port] or URLs ("none" or empty: 127.0.0.1:1111)',
      )
        .env('DISCOVERD')
        .argParser(parseServers),
    )
    .addOption(
      new Option('--cluster-key <key>', 'cluster key, sent as "Authorization: Bearer <key>"').env(
        'CLUSTER_KEY',
      ),
    )
    .showHelpAfterError(`(run "${PROG} --help" for usage)`)
    .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, `${PROG}: `)) })
    .exitOverride()
    .addHelpText(
      'after',
      '\nADDR is host[:port]; the port defaults to 1111.\n' +
        'Exit codes: 0 done, 1 the operation failed, 2 bad usage.',
    );

  // The hosts lifecycle (issue 14): each module registers its command.
  registerInitCommand(program);
  registerBootstrapCommand(program);
  registerFixCommand(program);
  registerVersionCommand(program);
  registerUpdateCommand(program);

  program
    .command('promote')
    .description('turn the discoverd proxy at ADDR into a Raft peer (learner, then voter once caught up)')
    .argument('<addr>', 'host[:port] of the proxy', parseAddr)
    .action(async (addr: string, _opts: unknown, cmd: Command) => {
      const { promoteCommand } = await import('./commands/promote.js');
      await promoteCommand({ addr, clusterKey: globals(cmd).clusterKey });
    });

  program
    .command('demote')
    .description('turn the Raft peer at ADDR into a proxy; with --force, remove a dead peer via the leader')
    .option('-f, --force', 'if ADDR does not answer, have the Raft leader remove it')
    .argument('<addr>', 'host[:port] of the peer', parseAddr)
    .action(async (addr: string, opts: { force?: boolean }, cmd: Command) => {
      const { demoteCommand } = await import('./commands/demote.js');
      await demoteCommand({ addr, force: opts.force === true, ...globals(cmd) });
    });

  /** A listing whose only option is --json; `run` loads its module when the command runs. */
  const listing = (
    name: string,
    description: string,
    run: (opts: { json: boolean } & ReturnType<typeof globals>) => Promise<void>,
  ) =>
    program
      .command(name)
      .description(description)
      .option('--json', 'print JSON instead of a table')
      .action((opts: { json?: boolean }, cmd: Command) => run({ json: opts.json === true, ...globals(cmd) }));

  listing('raft', 'list the Raft voters, learners and leader as discoverd sees them', async (opts) =>
    (await import('./commands/raft.js')).raftCommand(opts),
  );

  program
    .command('ps')
    .description('list the jobs of every host (starting and running ones; -a for all)')
    .option('-a, --all', 'also finished jobs (done, crashed, failed)')
    .option('-q, --quiet', 'print job ids only')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { all?: boolean; quiet?: boolean; json?: boolean }, cmd: Command) => {
      const { psCommand } = await import('./commands/ps.js');
      await psCommand({ ...opts, ...globals(cmd) });
    });

  program
    .command('inspect')
    .description('print one job as its host knows it; secret env values are masked unless asked for')
    .argument('<job-id>', 'the job id (<host id>-<uuid>)')
    .option('--json', 'print JSON')
    .option('--reveal', 'show secret values too')
    .option('--env-value <name>', 'print the value of this env variable alone (secret or not)')
    .action(
      async (jobId: string, opts: { json?: boolean; reveal?: boolean; envValue?: string }, cmd: Command) => {
        const { inspectCommand } = await import('./commands/inspect.js');
        await inspectCommand({ jobId, ...opts, ...globals(cmd) });
      },
    );

  program
    .command('log')
    .description("print a job's log from its host's files; with -f, follow it until the job ends")
    .argument('<job-id>', 'the job id (<host id>-<uuid>)')
    .option('-f, --follow', 'keep printing new lines')
    .option('-n, --lines <n>', 'only the last N lines', parseCount)
    .option('--init', "include the init log (the daemon's notes on the job)")
    .option('--split-stderr', "send the job's stderr to stderr")
    .action(
      async (
        jobId: string,
        opts: { follow?: boolean; lines?: number; init?: boolean; splitStderr?: boolean },
        cmd: Command,
      ) => {
        const { logCommand } = await import('./commands/log.js');
        await logCommand({ jobId, ...opts, ...globals(cmd) });
      },
    );

  listing(
    'list',
    'list the hosts registered in discoverd with their discoverd role (peer, peer (leader), learner, proxy, none)',
    async (opts) => (await import('./commands/list.js')).listCommand(opts),
  );

  const volume = program
    .command('volume')
    .description("manage a host's ZFS volumes (--host ADDR, default 127.0.0.1:1113)");
  const volumeOpts = (c: Command) =>
    c
      .option('--host <addr>', "host:port of the host's API (default $FLYNN_HOST_ADDR or 127.0.0.1:1113)")
      .option('--json', 'print JSON');
  volumeOpts(volume.command('list').description('list the volumes')).action(async (opts, cmd: Command) => {
    const { volumeList } = await import('./commands/volume.js');
    await volumeList({ ...opts, clusterKey: globals(cmd).clusterKey });
  });
  volumeOpts(volume.command('create').description('create a data volume; prints its id'))
    .option('--provider <id>', 'storage provider', 'default')
    .action(async (opts, cmd: Command) => {
      const { volumeCreate } = await import('./commands/volume.js');
      await volumeCreate({ ...opts, clusterKey: globals(cmd).clusterKey });
    });
  volumeOpts(
    volume.command('delete').description('destroy volumes').argument('<ids...>', 'volume ids'),
  ).action(async (ids: string[], opts, cmd: Command) => {
    const { volumeDelete } = await import('./commands/volume.js');
    await volumeDelete(ids, { ...opts, clusterKey: globals(cmd).clusterKey });
  });
  volumeOpts(
    volume
      .command('snapshot')
      .description('snapshot a volume; prints the snapshot id')
      .argument('<id>', 'volume id'),
  ).action(async (id: string, opts, cmd: Command) => {
    const { volumeSnapshot } = await import('./commands/volume.js');
    await volumeSnapshot(id, { ...opts, clusterKey: globals(cmd).clusterKey });
  });

  program
    .command('collect-debug-info')
    .description(
      'gather logs, jobs and system state into a gzip tarball and print its path (no upload: this cluster has no internet)',
    )
    .option('--tarball', 'write a tarball (always: there is no gist upload)')
    .option('--include-env', 'include the environment variables (secret values masked)')
    .option(
      '--log-dir <dir>',
      "the host's log directory (default: each host's, as its API reports it; else /var/log/flynn)",
    )
    .option('--filename <path>', 'where to write the tarball (default: a new temp dir)')
    .action(async (opts: { includeEnv?: boolean; logDir?: string; filename?: string }, cmd: Command) => {
      const { collectDebugInfo } = await import('./commands/debug-info.js');
      await collectDebugInfo({ ...opts, ...globals(cmd), version: FLYNN_EDGE_VERSION });
    });

  program
    .command('daemon')
    .description('run the flynn-host daemon (Go-style flags: flynn-host daemon -help)')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action(async (_opts: unknown, cmd: Command) => {
      await startDaemon(cmd.args);
    });

  // Subcommands inherit exitOverride, the output settings and the help hint: they are created
  // after those are set.
  return program;
}

/** The daemon takes Go-style flags (-id x), which commander would misread: hand them over whole. */
export async function startDaemon(args: string[]): Promise<void> {
  const { runDaemon } = await import('@flynn-edge/host');
  await runDaemon(args);
}

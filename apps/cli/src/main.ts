import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { demoteCommand } from './commands/demote.js';
import { promoteCommand } from './commands/promote.js';
import { raftCommand } from './commands/raft.js';
import { discoverdUrls, hostPort } from './discoverd-http.js';
import { CliError, PROG, printError } from './output.js';

// flynn-host: commander wiring only. Exit codes: 0 done, 1 the operation failed (network, server
// answer), 2 bad usage.

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
    .description('Operator commands for a flynn-edge cluster: discoverd Raft membership.')
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

  program
    .command('promote')
    .description('turn the discoverd proxy at ADDR into a Raft peer (learner, then voter once caught up)')
    .argument('<addr>', 'host[:port] of the proxy', parseAddr)
    .action(async (addr: string, _opts: unknown, cmd: Command) => {
      await promoteCommand({ addr, clusterKey: globals(cmd).clusterKey });
    });

  program
    .command('demote')
    .description('turn the Raft peer at ADDR into a proxy; with --force, remove a dead peer via the leader')
    .option('-f, --force', 'if ADDR does not answer, have the Raft leader remove it')
    .argument('<addr>', 'host[:port] of the peer', parseAddr)
    .action(async (addr: string, opts: { force?: boolean }, cmd: Command) => {
      await demoteCommand({ addr, force: opts.force === true, ...globals(cmd) });
    });

  program
    .command('raft')
    .description('list the Raft voters, learners and leader as discoverd sees them')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await raftCommand({ json: opts.json === true, ...globals(cmd) });
    });

  // Subcommands inherit exitOverride, the output settings and the help hint: they are created
  // after those are set.
  return program;
}

export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help that was asked for exits 0; a missing command (help on stderr), an unknown command or
      // option, a bad argument: 2.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CliError) {
      printError(err.message);
      return err.exitCode;
    }
    printError(`unexpected error: ${(err as Error)?.message ?? String(err)}`);
    return 1;
  }
}

process.exitCode = await run(process.argv.slice(2));

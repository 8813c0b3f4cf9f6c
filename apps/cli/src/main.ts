import { exitQuietlyOnClosedPipe } from './closed-pipe.js';
import { CliError, PROG, printError } from './output.js';

// flynn-host's entry point. `flynn-host log …` (run often, and timed: issue 5 wants the last
// 10,000 lines in under 150 ms end to end) takes a fast path that loads neither commander nor any
// other command; anything unusual in its arguments (help, an unknown option, a bad value) goes
// through commander like every other command, so usage errors read the same.

interface LogArgs {
  jobId: string;
  follow?: boolean;
  lines?: number;
  init?: boolean;
  splitStderr?: boolean;
  discoverd?: string;
  clusterKey?: string;
}

/** `log`'s own arguments in their plain forms, or undefined for commander to handle. */
export function parseLogArgs(args: string[]): LogArgs | undefined {
  const out: Partial<LogArgs> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string | undefined => (eq > 0 ? a.slice(eq + 1) : args[++i]);
    switch (name) {
      case '-f':
      case '--follow':
        if (eq > 0) return undefined;
        out.follow = true;
        break;
      case '--init':
        if (eq > 0) return undefined;
        out.init = true;
        break;
      case '--split-stderr':
        if (eq > 0) return undefined;
        out.splitStderr = true;
        break;
      case '-n':
      case '--lines': {
        const v = value();
        if (v === undefined || !/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) return undefined;
        out.lines = Number(v);
        break;
      }
      case '--discoverd':
        out.discoverd = value();
        if (out.discoverd === undefined) return undefined;
        break;
      case '--cluster-key':
        out.clusterKey = value();
        if (out.clusterKey === undefined) return undefined;
        break;
      default:
        if (a.startsWith('-') || out.jobId !== undefined) return undefined;
        out.jobId = a;
    }
  }
  return out.jobId === undefined ? undefined : (out as LogArgs);
}

async function fastLog(args: LogArgs): Promise<boolean> {
  const { discoverdUrls } = await import('./discoverd-http.js');
  let servers: string[];
  try {
    servers = discoverdUrls(args.discoverd ?? process.env.DISCOVERD);
  } catch {
    return false; // commander reports the bad address
  }
  const clusterKey = (args.clusterKey ?? process.env.CLUSTER_KEY) || undefined;
  const { logCommand } = await import('./commands/log.js');
  const { discoverd: _d, ...opts } = args;
  await logCommand({ ...opts, servers, clusterKey });
  return true;
}

export async function run(argv: string[]): Promise<number> {
  try {
    if (argv[0] === 'log') {
      const args = parseLogArgs(argv.slice(1));
      if (args && (await fastLog(args))) return 0;
    }
    const { buildProgram, startDaemon } = await import('./program.js');
    if (argv[0] === 'daemon') {
      await startDaemon(argv.slice(1));
      return 0;
    }
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    const { CommanderError } = await import('commander');
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

const argv = process.argv.slice(2);
// The daemon is not a pipeline's writer: its log also goes to a file, and it keeps its own rules.
if (argv[0] !== 'daemon') exitQuietlyOnClosedPipe(PROG);
process.exitCode = await run(argv);

import type { Command } from 'commander';

// `flynn-host update` (issue 16, flynn-ops.md §5.2): registered by buildProgram; the command's code
// (commands/update.ts, @flynn-edge/cluster-ops update/) is imported when it runs.

export interface UpdateFlags {
  from?: string;
  yes?: boolean;
  skipApps?: boolean;
  timeout: string;
  statusTimeout: string;
}

export function registerUpdateCommand(program: Command): void {
  program
    .command('update')
    .description(
      'update every host in place to a new release (daemons handed over, jobs kept), then the system apps',
    )
    .option('--from <path>', 'the new release: a tarball from `npm run release`, or a built tree directory')
    .option('-y, --yes', 'do not ask for confirmation')
    .option(
      '--skip-apps',
      'leave the system apps (discoverd, router, controller, logaggregator, status) on their current jobs',
    )
    .option('--timeout <secs>', "seconds for each host's new daemon to answer", '60')
    .option('--status-timeout <secs>', 'seconds to wait for the cluster status to be healthy', '10')
    .action(async (flags: UpdateFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<{ discoverd?: string[]; clusterKey?: string }>();
      const { discoverdUrls } = await import('../discoverd-http.js');
      const { updateCommand } = await import('../commands/update.js');
      await updateCommand(flags, g.discoverd ?? discoverdUrls(undefined), g.clusterKey || undefined);
    });
}

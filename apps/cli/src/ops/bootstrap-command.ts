import type { Command } from 'commander';

// `flynn-host bootstrap` (issue 14): registered by buildProgram; the command's code is imported when it runs.

export interface BootstrapFlags {
  minHosts?: string;
  timeout: string;
  json?: boolean;
  fromBackup?: string;
  verifyOnly?: boolean;
  discovery?: string;
  peerIps?: string;
  steps?: string;
  jobTimeout: string;
}

export function registerBootstrapCommand(program: Command): void {
  program
    .command('bootstrap')
    .description(
      'bootstrap layer 1 (discoverd, router, logaggregator, status, controller) using the manifest',
    )
    .argument(
      '[manifest]',
      'steps to run ("-": stdin; default /etc/flynn/bootstrap-manifest.json, else the shipped one)',
    )
    .option('-n, --min-hosts <min>', 'minimum number of hosts required to be online')
    .option('-t, --timeout <secs>', 'seconds to wait for hosts to come online', '120')
    .option('--json', 'format log output as json')
    .option('--from-backup <file>', 'restore the cluster from a `flynn cluster backup` file')
    .option('--verify-only', 'with --from-backup: check the whole file, then stop')
    .option('--discovery <token>', 'use discovery token to connect to cluster (not supported)')
    .option('--peer-ips <iplist>', 'the hosts: comma-separated ip or ip:port of their APIs (port 1113)')
    .option('--steps <steps>', 'only run the given STEPS (comma separated)')
    .option('--job-timeout <secs>', 'seconds to wait for jobs to start', '30')
    .action(async (manifest: string | undefined, flags: BootstrapFlags, cmd: Command) => {
      const { bootstrapCommand } = await import('../commands/bootstrap.js');
      const clusterKey = cmd.optsWithGlobals<{ clusterKey?: string }>().clusterKey || undefined;
      await bootstrapCommand(manifest, flags, clusterKey);
    });
}

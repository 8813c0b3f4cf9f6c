import type { Command } from 'commander';

// `flynn-host init` (Flynn's host/cli/init.go): writes the daemon's config file. Registered by
// buildProgram; the command's code is imported when it runs.

export interface InitOptions {
  initDiscovery?: boolean;
  discovery?: string;
  peerIps?: string;
  externalIp?: string;
  file: string;
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('create the configuration of the host daemon (its flags and, with $CLUSTER_KEY, its env)')
    .option('--init-discovery', 'create and join a discovery token (not supported yet)')
    .option('--discovery <token>', 'join cluster with discovery token (not supported yet)')
    .option('--peer-ips <iplist>', 'join cluster using host IPs (must be already bootstrapped)')
    .option('--external-ip <ip>', 'external IP address of host')
    .option('--file <name>', 'file to write to', '/etc/flynn/host.json')
    .action(async (opts: InitOptions, cmd: Command) => {
      const { initCommand } = await import('../commands/init.js');
      const clusterKey = cmd.optsWithGlobals<{ clusterKey?: string }>().clusterKey || undefined;
      initCommand({ ...opts, clusterKey });
    });
}

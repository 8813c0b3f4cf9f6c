import type { Command } from 'commander';

// `flynn-host fix` (issue 14, Flynn's host/cli/fix.go): registered by buildProgram; the command's
// code (commands/fix.ts, fix/*) is imported when it runs.

export function registerFixCommand(program: Command): void {
  program
    .command('fix')
    .description('attempt to fix a broken cluster by starting missing jobs')
    .option('-n, --min-hosts <n>', 'minimum expected number of hosts (required)')
    .option('--peer-ips <iplist>', 'list of host IPs, IP[:PORT] (required if discoverd is down)')
    .action(async (opts: { minHosts?: string; peerIps?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<{ discoverd?: string[]; clusterKey?: string }>();
      const { discoverdUrls } = await import('../discoverd-http.js');
      const { fixCommand } = await import('../commands/fix.js');
      await fixCommand({
        ...opts,
        servers: g.discoverd ?? discoverdUrls(undefined),
        clusterKey: g.clusterKey || undefined,
      });
    });
}

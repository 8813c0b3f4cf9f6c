import { type HostConfig, HostConfigError, writeHostConfig } from '@flynn-edge/host/host-config';
import type { InitOptions } from '../ops/init-command.js';
import { CliError } from '../output.js';

// `flynn-host init`: Flynn's args in Flynn's order (--discovery, --external-ip, --peer-ips) and,
// our addition, the cluster key as the daemon's env (then the file is 0600).

export function initConfig(opts: InitOptions & { clusterKey?: string }): HostConfig {
  if (opts.initDiscovery || opts.discovery) {
    throw new CliError('discovery tokens are not supported yet (use --peer-ips)', 2);
  }
  const args: string[] = [];
  if (opts.externalIp) args.push('--external-ip', opts.externalIp);
  if (opts.peerIps) args.push('--peer-ips', opts.peerIps);
  return { args, env: opts.clusterKey ? { CLUSTER_KEY: opts.clusterKey } : {} };
}

export function initCommand(opts: InitOptions & { clusterKey?: string }): void {
  try {
    writeHostConfig(opts.file, initConfig(opts));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(err instanceof HostConfigError ? err.message : (err as Error).message);
  }
}

import { AppStore, Deployer } from '@flynn-edge/app-model';
import {
  openRelease,
  type ReleaseFile,
  requireHealthy,
  runUpdate,
  UpdateError,
} from '@flynn-edge/cluster-ops';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { HttpHosts } from '../flynn/hosts-http.js';
import { confirm, say } from '../flynn/prompt.js';
import { HttpStore } from '../flynn/store-http.js';
import { directTarget } from '../flynn/target.js';
import { listHosts } from '../hosts.js';
import type { UpdateFlags } from '../ops/update-command.js';
import { CliError } from '../output.js';

// flynn-host update --from <release> [--yes] [--skip-apps]: the hosts from discoverd, the status
// service through discoverd, the system apps through the app model's deployer, as `flynn` reaches
// them from inside the cluster. Progress on stderr; `already at <v>` and `update complete` too.

function seconds(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0))
    throw new CliError(`invalid ${flag} value ${JSON.stringify(v)}`, 2);
  return n;
}

function open(from: string): ReleaseFile {
  try {
    return openRelease(from);
  } catch (err) {
    if (err instanceof UpdateError) throw new CliError(err.message);
    throw err;
  }
}

export async function updateCommand(
  flags: UpdateFlags,
  servers: string[],
  clusterKey?: string,
): Promise<void> {
  if (!flags.from) throw new CliError('--from is required: a release tarball or a built tree', 2);
  const handoverMs = seconds('--timeout', flags.timeout) * 1000;
  const statusMs = seconds('--status-timeout', flags.statusTimeout) * 1000;
  const release = open(flags.from);
  const discoverd = new DiscoverdClient({ servers, clusterKey });
  // Ctrl-C lets the step under way (a hand-over, one app's deploy) finish, then stops: cut in
  // the middle, a deploy would keep its app's lock and a host might lose its discoverd job.
  const interrupted = new AbortController();
  const onInt = () => {
    if (interrupted.signal.aborted) process.exit(130);
    interrupted.abort();
    say('interrupted: stopping after the step under way (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onInt);
  try {
    const target = directTarget(servers, clusterKey);
    const hosts = await listHosts(servers, clusterKey);
    await runUpdate({
      release,
      hosts,
      clusterKey,
      requireHealthy: () => requireHealthy(discoverd, statusMs),
      deployer: flags.skipApps
        ? undefined
        : new Deployer(new AppStore(new HttpStore(target)), new HttpHosts(target)),
      confirm: flags.yes ? undefined : confirm,
      say,
      handoverTimeoutMs: handoverMs,
      signal: interrupted.signal,
    });
  } catch (err) {
    if (err instanceof UpdateError) throw new CliError(err.message);
    throw err;
  } finally {
    process.off('SIGINT', onInt);
    await discoverd.close();
    release.dispose();
  }
}

import { existsSync, readFileSync } from 'node:fs';
import { ArchiveError } from '@flynn-edge/backup';
import {
  type BootstrapConfig,
  defaultManifest,
  describeBackup,
  jsonLogger,
  loadBackup,
  type RestoreContext,
  restoreEnv,
  runBootstrap,
  StepFailed,
  textLogger,
} from '@flynn-edge/cluster-ops';
import type { BootstrapFlags } from '../ops/bootstrap-command.js';
import { CliError } from '../output.js';

// flynn-host bootstrap: Flynn's flags and checks, in Flynn's order (manifest, --min-hosts,
// --timeout, --job-timeout), then the step runner of @flynn-edge/cluster-ops. A failed step was
// printed as its own error line, so nothing more is said: exit 1.

const ETC_MANIFEST = '/etc/flynn/bootstrap-manifest.json';

function readManifest(name: string | undefined): string {
  if (name === '-') return readFileSync(0, 'utf8');
  const file = name ?? (existsSync(ETC_MANIFEST) ? ETC_MANIFEST : undefined);
  if (!file) return JSON.stringify(defaultManifest());
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT' ? 'no such file or directory' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new CliError(`Error reading manifest: open ${file}: ${why}`);
  }
}

async function openBackup(file: string): Promise<RestoreContext> {
  try {
    const ctx = await loadBackup(file);
    process.stderr.write(`${describeBackup(ctx)}\n`);
    return ctx;
  } catch (err) {
    if (err instanceof ArchiveError) throw new CliError(err.message);
    throw err;
  }
}

/** Go's strconv.Atoi as Flynn's messages quote it. */
function seconds(flag: string, v: string): number {
  if (!/^[+-]?\d+$/.test(v)) {
    throw new CliError(
      `invalid ${flag} value ${JSON.stringify(v)}: strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`,
    );
  }
  return Number(v);
}

export async function bootstrapCommand(
  manifestFile: string | undefined,
  flags: BootstrapFlags,
  clusterKey: string | undefined,
): Promise<void> {
  if (flags.verifyOnly && flags.fromBackup === undefined)
    throw new CliError('--verify-only needs --from-backup', 2);
  // Verify the whole backup before anything else (no host is touched for a bad file).
  const restore = flags.fromBackup === undefined ? undefined : await openBackup(flags.fromBackup);
  if (restore && flags.verifyOnly) return;
  if (flags.discovery !== undefined) throw new CliError('--discovery is not supported (use --peer-ips)', 2);
  const manifest = readManifest(manifestFile);
  let minHosts = 0;
  if (flags.minHosts !== undefined) {
    minHosts = /^[+-]?\d+$/.test(flags.minHosts) ? Number(flags.minHosts) : Number.NaN;
    if (!(minHosts >= 1)) throw new CliError('invalid --min-hosts value');
  }
  const timeout = seconds('--timeout', flags.timeout);
  const jobTimeout = seconds('--job-timeout', flags.jobTimeout);
  const peerIps = (flags.peerIps ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (minHosts === 0) minHosts = peerIps.length || 1;
  let singleton = minHosts === 1;
  if (process.env.SINGLETON) singleton = process.env.SINGLETON === 'true';
  const config: BootstrapConfig = {
    minHosts,
    singleton,
    hostTimeoutMs: timeout * 1000,
    jobTimeoutMs: jobTimeout * 1000,
    peerIps,
    clusterKey,
    only: flags.steps ? flags.steps.split(',') : undefined,
    env: { ...process.env, CLUSTER_KEY: clusterKey },
    restore,
  };
  if (restore) config.env = restoreEnv(restore, config.env, (line) => process.stderr.write(`${line}\n`));
  const log = flags.json
    ? jsonLogger((s) => process.stdout.write(s))
    : textLogger((s) => process.stderr.write(s));
  try {
    await runBootstrap(manifest, config, log);
  } catch (err) {
    if (err instanceof StepFailed) {
      // Already printed as the step's error line; stderr and stdout are written synchronously.
      process.exit(1);
    }
    throw new CliError((err as Error).message);
  }
}

import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readProcStat } from '@flynn-edge/host-jobs';
import {
  createLogger,
  FlagError,
  flagUsage,
  installSignalHandlers,
  onShutdown,
  runMain,
} from '@flynn-edge/service-kit';
import { DaemonConfigError, daemonFlags, loadDaemonConfig } from './config.js';
import { HostDaemon } from './daemon.js';
import { onParentGoneBeforeHandover, takeHandover } from './handover.js';
import { HostConfigError, loadHostConfig, mergeHostConfig } from './host-config.js';

// `flynn-host daemon`: flags → HostDaemon. SIGTERM stops the daemon, not its jobs: the next
// daemon on the same state directory re-adopts them.

/** How long an old daemon stays after handing over (Flynn's shutdown_delay). */
const SHUTDOWN_DELAY_MS = 1000;

export async function runDaemon(cmdArgs: string[]): Promise<void> {
  // The config file (flynn-host init) first, as Flynn: its args after ours, its env set.
  let argv: string[];
  try {
    const merged = mergeHostConfig(cmdArgs, process.env, loadHostConfig(process.env));
    argv = merged.argv;
    Object.assign(process.env, merged.env);
  } catch (err) {
    if (!(err instanceof HostConfigError)) throw err;
    process.stderr.write(`flynn-host: ${err.message.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(1);
  }
  let config: ReturnType<typeof loadDaemonConfig>;
  try {
    config = loadDaemonConfig(argv, process.env);
  } catch (err) {
    if (err instanceof FlagError || err instanceof DaemonConfigError) {
      process.stderr.write(
        `flynn-host daemon: ${err.message}\n${err instanceof FlagError ? flagUsage(daemonFlags, 'flynn-host daemon') : ''}`,
      );
      process.exit(2);
    }
    throw err;
  }
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  mkdirSync(config.logDir, { recursive: true });
  // The daemon's own log goes to <log-dir>/flynn-host.log as well as stdout (Flynn, §4.1).
  const file = createWriteStream(join(config.logDir, 'flynn-host.log'), { flags: 'a' });
  const log = createLogger({
    component: 'flynn-host',
    host: config.id,
    destination: {
      write(line: string) {
        process.stdout.write(line);
        file.write(line);
      },
    },
  });
  const handover = takeHandover();
  if (handover) {
    onParentGoneBeforeHandover(() => {
      log.error('the old daemon went away before handing over; exiting');
      setTimeout(() => process.exit(1), 2000).unref();
      file.end(() => process.exit(1));
    });
  }
  const daemon = new HostDaemon(config, log, {
    flags: cmdArgs,
    // The new daemon serves: answer the update, let open requests finish, then go.
    onHandedOver: (pid) => {
      setTimeout(() => {
        // Gone already (it crashed after saying ready): exit as a failure, so that systemd
        // (Restart=on-failure) starts a daemon again rather than leave the host without one.
        const code = isAlive(pid) ? 0 : 1;
        if (code) log.error({ pid }, 'the new daemon is gone; exiting as failed');
        file.end(() => process.exit(code));
      }, SHUTDOWN_DELAY_MS).unref();
    },
  });
  try {
    await daemon.start({ handover });
  } catch (err) {
    if (!handover) throw err;
    // A successor that cannot take over leaves at once, its jobs untouched: the old daemon (or
    // whatever restarts it) supervises them, and a second daemon here would fight it for them.
    log.error({ err: (err as Error).message }, 'handover failed; exiting');
    setTimeout(() => process.exit(1), 2000).unref();
    file.end(() => process.exit(1));
    return;
  }
  log.info(
    { api: daemon.url, state: config.stateDir, logs: config.logDir, pid: process.pid, handover },
    'flynn-host serving',
  );
  onShutdown(() => daemon.close(), { name: 'flynn-host' });
  installSignalHandlers({ logger: log });
}

export function main(): void {
  runMain(() => runDaemon(process.argv.slice(2)));
}

function isAlive(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

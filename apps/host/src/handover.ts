import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';

// The daemon handover of an in-place update (flynn-ops.md §5.2 step 4), both sides. The old daemon
// starts the new one as a child with an IPC channel and FLYNN_HANDOVER=1; the child re-adopts the
// jobs from the state dir, then says `adopted`; the old daemon sends its listening server over the
// channel; the child serves on that socket and says `ready`. The socket is never closed between
// them: the kernel queues connections while neither accepts, so no client sees a refusal.

export const HANDOVER_ENV = 'FLYNN_HANDOVER';
const ADOPTED = 'flynn-host:adopted';
const LISTENER = 'flynn-host:listener';
const READY = 'flynn-host:ready';

/** The command that runs `path`: a .js file (or a release tree) under this Node, else itself. */
export function successorCommand(path: string, args: string[]): { cmd: string; argv: string[] } {
  let bin = path;
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory())
    bin = join(path, 'apps/cli/bin/flynn-host.js');
  return /\.[cm]?js$/.test(bin) ? { cmd: process.execPath, argv: [bin, ...args] } : { cmd: bin, argv: args };
}

export interface SuccessorOptions {
  /** The new flynn-host: its bin, a .js entry, or a release tree. */
  path: string;
  /** Its arguments, `daemon` first. */
  args: string[];
  /** The listening server handed over once the child has adopted the jobs. */
  server: Server;
  /** How long the child has to get ready. */
  timeoutMs: number;
}

/**
 * Starts the new daemon and hands it `server`; resolves with its pid once it serves. On a child
 * that exits, errs or is late, kills its process group (its jobs have their own) and rejects.
 */
export function startSuccessor(opts: SuccessorOptions): Promise<{ pid: number }> {
  const { cmd, argv } = successorCommand(opts.path, opts.args);
  const child: ChildProcess = spawn(cmd, argv, {
    detached: true,
    // Its log lines go where this daemon's go (the journal, the test's file).
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [HANDOVER_ENV]: '1' },
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () => fail(`the new daemon was not ready within ${Math.round(opts.timeoutMs / 1000)} s`),
      opts.timeoutMs,
    );
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      child.removeAllListeners('message');
      child.removeAllListeners('exit');
    };
    function fail(why: string): void {
      if (settled) return;
      settle();
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
      if (child.connected) child.disconnect();
      reject(new Error(why));
    }
    child.on('error', (err) => fail(`cannot start the new daemon: ${err.message}`));
    child.on('exit', (code, signal) =>
      fail(`the new daemon exited (${signal ?? `status ${code}`}) before it was ready`),
    );
    child.on('message', (m) => {
      if (m === ADOPTED) {
        child.send(LISTENER, opts.server, (err) => {
          if (err) fail(`cannot hand the listener over: ${err.message}`);
        });
      } else if (m === READY && !settled) {
        settle();
        // Nothing more to say: the child outlives this process.
        child.disconnect();
        child.unref();
        resolve({ pid: child.pid as number });
      }
    });
  });
}

/** Set once the old daemon's listener has arrived: from then on this daemon serves on its own. */
let listenerTaken = false;

/**
 * In the new daemon, from its first line: if the old daemon goes away before handing over its
 * listener, `onGone` (which should exit). Whatever restarts the old one re-adopts the jobs, and a
 * successor still adopting them beside it would fight it for them until it reached takeListener.
 */
export function onParentGoneBeforeHandover(onGone: () => void): void {
  const check = () => {
    if (!listenerTaken) onGone();
  };
  if (process.connected) process.once('disconnect', check);
  else check();
}

/** In the new daemon: was it started by an old one handing over? (Clears the marker for children.) */
export function takeHandover(): boolean {
  const handover = process.env[HANDOVER_ENV] === '1' && typeof process.send === 'function';
  delete process.env[HANDOVER_ENV];
  return handover;
}

/**
 * In the new daemon, once the jobs are adopted and the API is ready: asks for the listener and
 * serves `server` on it. Synchronous from the message to the new owner, so no connection reaches
 * the placeholder server the IPC layer builds around the handle.
 */
export function takeListener(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = (why: string) => {
      clearTimeout(timer);
      process.off('message', onMessage);
      process.off('disconnect', onGone);
      reject(new Error(why));
    };
    const timer = setTimeout(
      () => stop(`no listener from the old daemon within ${Math.round(timeoutMs / 1000)} s`),
      timeoutMs,
    );
    // The old daemon died mid-handover: whatever restarts it (systemd) re-adopts the jobs; a
    // second daemon here would fight it for them.
    const onGone = () => stop('the old daemon went away before handing over its listener');
    function onMessage(m: unknown, handle: unknown): void {
      if (m !== LISTENER || !handle) return;
      listenerTaken = true;
      clearTimeout(timer);
      process.off('message', onMessage);
      process.off('disconnect', onGone);
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        resolve();
      });
      // A net.Server (or anything with a listening _handle): the socket the old daemon accepted on.
      server.listen(handle as Server);
    }
    if (!process.connected) return onGone();
    process.on('message', onMessage);
    process.once('disconnect', onGone);
    process.send?.(ADOPTED);
  });
}

/** In the new daemon, serving: tells the old one, then lets the channel go. */
export function signalReady(): Promise<void> {
  return new Promise((resolve) => {
    // An old daemon gone by now changes nothing: this one serves either way.
    if (!process.connected) return resolve();
    process.send?.(READY, undefined, {}, () => {
      if (process.connected) process.disconnect?.();
      resolve();
    });
  });
}

/**
 * Under systemd (NOTIFY_SOCKET set, `NotifyAccess=all` in the unit): makes this process the unit's
 * main one, so the old daemon's exit neither restarts the unit nor leaves it inactive. Resolves
 * with why it could not, if it could not.
 */
export function notifyMainPid(): Promise<string | undefined> {
  if (!process.env.NOTIFY_SOCKET) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile('systemd-notify', [`MAINPID=${process.pid}`], { timeout: 5000 }, (err, _out, stderr) =>
      resolve(err ? `systemd-notify: ${String(stderr).trim() || err.message}` : undefined),
    );
  });
}

/** What /host/status and the logs show of the daemon's flags: the cluster key's value hidden. */
export const MASK = '<hidden>';
const SECRET_FLAG = /^--?cluster-key(=.*)?$/;

export function maskFlags(flags: string[]): string[] {
  return flags.map((f, i) => {
    if (SECRET_FLAG.test(f) && f.includes('=')) return `${f.slice(0, f.indexOf('=') + 1)}${MASK}`;
    const prev = flags[i - 1];
    return prev !== undefined && SECRET_FLAG.test(prev) && !prev.includes('=') ? MASK : f;
  });
}

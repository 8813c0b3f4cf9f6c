// Runs zpool/zfs with argument arrays (never through a shell) and turns failures into errors that
// carry the command line, the exit status and stderr.

import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';

export class ZfsError extends Error {
  override name = 'ZfsError';
  constructor(
    message: string,
    readonly command: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/**
 * ZFS cannot be used at all here: the binaries are missing, the zfs-fuse daemon is not running,
 * the kernel module is not loaded, or we are not root.
 */
export class ZfsUnavailableError extends ZfsError {
  override name = 'ZfsUnavailableError';
}

export interface RunOptions {
  /** Data for stdin (a stream is piped; a string/Buffer is written and closed). */
  stdin?: Readable | string | Buffer;
  /** Kill the command after this long (default 120 s). */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

const UNAVAILABLE_PATTERNS = [
  /make sure that the zfs-fuse daemon is running/i,
  /failed to initialize ZFS library/i,
  /connect: (No such file or directory|Connection refused|Permission denied)/i,
  /ZFS modules are not loaded/i,
  /\/dev\/zfs and \/proc\/self\/mounts are required/i,
  /Connection reset by peer/i,
];

/** True when stderr says the ZFS service itself is missing (as opposed to a failed operation). */
export function isUnavailableMessage(stderr: string): boolean {
  return UNAVAILABLE_PATTERNS.some((re) => re.test(stderr));
}

export function unavailableHint(command: string): string {
  return (
    `${command} is not usable: ZFS needs root and a running zfs-fuse daemon ` +
    '(apt-get install zfs-fuse; zfs-fuse --pidfile /run/zfs-fuse.pid) or the OpenZFS kernel module'
  );
}

function describe(command: string, args: readonly string[]): string {
  return [command, ...args].join(' ');
}

export function errorFor(
  command: string,
  args: readonly string[],
  exitCode: number | null,
  signal: NodeJS.Signals | null,
  stderr: string,
): ZfsError {
  const text = stderr.trim();
  const how = exitCode !== null ? `exit status ${exitCode}` : `signal ${signal}`;
  const message = `${describe(command, args)} failed (${how})${text ? `: ${text}` : ''}`;
  if (isUnavailableMessage(text)) {
    return new ZfsUnavailableError(`${unavailableHint(command)}; ${message}`, command, args, exitCode, text);
  }
  return new ZfsError(message, command, args, exitCode, text);
}

export function spawnError(command: string, args: readonly string[], err: NodeJS.ErrnoException): ZfsError {
  if (err.code === 'ENOENT') {
    return new ZfsUnavailableError(
      `${command} not found: ${unavailableHint(command)}`,
      command,
      args,
      null,
      err.message,
    );
  }
  if (err.code === 'EACCES') {
    return new ZfsUnavailableError(`${command}: ${err.message}`, command, args, null, err.message);
  }
  return new ZfsError(`${describe(command, args)}: ${err.message}`, command, args, null, err.message);
}

/** Runs a command to completion, collecting stdout and stderr. Rejects with a ZfsError. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let settled = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 120_000);
    const finish = (e: ZfsError | null, result?: RunResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve(result!);
    };
    child.on('error', (e) => finish(spawnError(command, args, e)));
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    // A command that exits before reading all of stdin gives EPIPE here; its exit status says more.
    child.stdin.on('error', () => {});
    const { stdin } = options;
    if (stdin === undefined) child.stdin.end();
    else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) child.stdin.end(stdin);
    else {
      stdin.on('error', (e) => {
        child.kill('SIGKILL');
        finish(
          new ZfsError(`${describe(command, args)}: input failed: ${e.message}`, command, args, null, ''),
        );
      });
      stdin.pipe(child.stdin);
    }
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) finish(null, { stdout: Buffer.concat(out).toString('utf8'), stderr });
      else finish(errorFor(command, args, code, signal, stderr));
    });
  });
}

/**
 * Starts a command whose stdout is a (binary) stream, e.g. `zfs send`. The returned stream ends
 * when the command exits successfully and is destroyed with a ZfsError (carrying stderr) if it
 * fails, so a failed send never looks like a complete but short stream. Destroying the returned
 * stream kills the command.
 */
export function runStream(command: string, args: readonly string[]): Readable {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new PassThrough();
  const err: Buffer[] = [];
  let exited = false;
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdout.pipe(out, { end: false });
  child.on('error', (e) => {
    exited = true;
    out.destroy(spawnError(command, args, e));
  });
  // 'close' comes after stdout has ended, so every byte has been handed to `out` by now.
  child.on('close', (code, signal) => {
    exited = true;
    if (code === 0) out.end();
    else out.destroy(errorFor(command, args, code, signal, Buffer.concat(err).toString('utf8')));
  });
  out.on('close', () => {
    if (!exited) child.kill('SIGKILL');
  });
  return out;
}

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

// A child process a test or the demo controls: start, kill with any signal, restart with the same
// command, and keep its output in a log file for post-mortems.

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Append stdout and stderr here; when absent, output is discarded. */
  logFile?: string;
  /**
   * Own process group: a Ctrl-C at the terminal (SIGINT to the whole foreground group) does not
   * reach it, so the demo can still talk to it while cleaning up.
   */
  detached?: boolean;
}

export class ManagedProcess {
  private child: ChildProcess | null = null;
  private log: WriteStream | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(readonly spec: ProcessSpec) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) throw new Error(`${this.spec.name} is already running`);
    if (this.spec.logFile && !this.log) this.log = createWriteStream(this.spec.logFile, { flags: 'a' });
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: { ...process.env, ...this.spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: this.spec.detached,
    });
    this.child = child;
    const log = this.log;
    if (log) {
      child.stdout?.pipe(log, { end: false });
      child.stderr?.pipe(log, { end: false });
    } else {
      child.stdout?.resume();
      child.stderr?.resume();
    }
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Sends a signal without waiting (SIGSTOP and SIGCONT pause and resume the process). */
  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child!.kill(sig);
  }

  /** Sends a signal (SIGKILL by default) and waits for the process to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (!this.running) return this.child?.exitCode ?? null;
    this.child!.kill(signal);
    return this.exited;
  }

  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    this.start();
  }

  /** Waits for exit; resolves with the exit code (null when killed by a signal). */
  wait(): Promise<number | null> {
    return this.exited;
  }

  async close(): Promise<void> {
    await this.kill('SIGKILL');
    this.log?.end();
    this.log = null;
  }
}

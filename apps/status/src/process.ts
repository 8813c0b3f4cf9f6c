import { fileURLToPath } from 'node:url';
import { ManagedProcess, waitFor } from '@flynn-edge/process-kit';

// A status process (bin/status) for tests, the bench and the demo.

const BIN = fileURLToPath(new URL('../bin/status.js', import.meta.url));

export interface StatusProcessOptions {
  ip: string;
  port: number;
  /** DISCOVERD: comma-separated host:port list. */
  discoverd: string;
  authKey?: string;
  hostId?: string;
  args?: string[];
  env?: Record<string, string>;
  logFile?: string;
}

export class StatusProcess {
  readonly proc: ManagedProcess;
  readonly url: string;

  constructor(readonly opts: StatusProcessOptions) {
    this.url = `http://${opts.ip}:${opts.port}`;
    this.proc = new ManagedProcess({
      name: `status-${opts.ip}`,
      command: process.execPath,
      args: [BIN, '-addr', `${opts.ip}:${opts.port}`, '-discoverd', opts.discoverd, ...(opts.args ?? [])],
      env: {
        ...(opts.authKey ? { AUTH_KEY: opts.authKey } : {}),
        ...(opts.hostId ? { HOST_ID: opts.hostId } : {}),
        ...opts.env,
      },
      logFile: opts.logFile,
    });
  }

  start(): void {
    this.proc.start();
  }

  /** Waits for /readyz (discoverd reachable and a first round done). */
  async ready(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => {
        if (!this.proc.running) throw new Error('status exited');
        return (await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200;
      },
      { timeoutMs, what: `status on ${this.opts.ip} ready` },
    );
  }

  async close(): Promise<void> {
    await this.proc.kill('SIGTERM');
  }
}

import { fileURLToPath } from 'node:url';
import { ManagedProcess, waitFor } from '@flynn-edge/process-kit';

// A controller gateway process (bin/controller) for tests and demos.

const BIN = fileURLToPath(new URL('../bin/controller.js', import.meta.url));

export interface ControllerProcessOptions {
  ip: string;
  port: number;
  /** DISCOVERD: comma-separated host:port list. */
  discoverd: string;
  clusterKey: string;
  args?: string[];
  env?: Record<string, string>;
  logFile?: string;
}

export class ControllerProcess {
  readonly proc: ManagedProcess;
  readonly url: string;

  constructor(readonly opts: ControllerProcessOptions) {
    this.url = `http://${opts.ip}:${opts.port}`;
    this.proc = new ManagedProcess({
      name: `controller-${opts.ip}`,
      command: process.execPath,
      args: [BIN, '-addr', `${opts.ip}:${opts.port}`, '-discoverd', opts.discoverd, ...(opts.args ?? [])],
      env: { CLUSTER_KEY: opts.clusterKey, ...opts.env },
      logFile: opts.logFile,
    });
  }

  start(): void {
    this.proc.start();
  }

  /** Waits until the gateway answers a keyed request to discoverd. */
  async ready(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => {
        if (!this.proc.running) throw new Error('controller exited');
        const r = await fetch(`${this.url}/discoverd/services/controller/instances`, {
          headers: { authorization: `Bearer ${this.opts.clusterKey}` },
          signal: AbortSignal.timeout(1000),
        });
        return r.status === 200 && ((await r.json()) as unknown[]).length > 0;
      },
      { timeoutMs, what: `controller on ${this.opts.ip} registered` },
    );
  }

  async close(): Promise<void> {
    await this.proc.kill('SIGTERM');
  }
}

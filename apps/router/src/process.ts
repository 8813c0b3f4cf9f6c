import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, waitFor } from '@flynn-edge/process-kit';

// A router process on one 127.0.0.x host, for the demo, the process-level tests and the bench.

const BIN = fileURLToPath(new URL('../bin/router.js', import.meta.url));

export interface RouterProcessOptions {
  /** Bind address (LISTEN_IP). */
  ip: string;
  httpPort: number;
  httpsPort: number;
  apiPort: number;
  tcpRange: { start: number; end: number };
  /** DISCOVERD: comma-separated host:port list. */
  discoverd: string;
  workers?: number;
  /** base64 of 32 bytes; generated when absent. */
  cookieKey?: string;
  clusterKey?: string;
  hostName?: string;
  env?: Record<string, string>;
  args?: string[];
  logFile?: string;
}

export class RouterProcess {
  readonly proc: ManagedProcess;
  readonly apiUrl: string;
  readonly cookieKey: string;

  constructor(readonly opts: RouterProcessOptions) {
    this.cookieKey = opts.cookieKey ?? randomBytes(32).toString('base64');
    this.apiUrl = `http://${opts.ip}:${opts.apiPort}`;
    const env: Record<string, string> = {
      LISTEN_IP: opts.ip,
      DISCOVERD: opts.discoverd,
      COOKIE_KEY: this.cookieKey,
      EXTERNAL_IP: opts.ip,
      ...(opts.clusterKey ? { CLUSTER_KEY: opts.clusterKey } : {}),
      ...opts.env,
    };
    this.proc = new ManagedProcess({
      name: `router-${opts.ip}`,
      command: process.execPath,
      args: [
        BIN,
        '-http-port',
        String(opts.httpPort),
        '-https-port',
        String(opts.httpsPort),
        '-api-port',
        String(opts.apiPort),
        '-tcp-range-start',
        String(opts.tcpRange.start),
        '-tcp-range-end',
        String(opts.tcpRange.end),
        '-workers',
        String(opts.workers ?? 1),
        '-host-name',
        opts.hostName ?? opts.ip,
        ...(opts.args ?? []),
      ],
      env,
      logFile: opts.logFile,
    });
  }

  start(): void {
    this.proc.start();
  }

  /** Waits until the router's API answers and its route table is loaded. */
  async ready(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        if (!this.proc.running) throw new Error('router exited');
        const r = await fetch(`${this.apiUrl}/router/status`, { signal: AbortSignal.timeout(1000) });
        return r.ok && ((await r.json()) as { healthy: boolean }).healthy;
      },
      { timeoutMs, what: `router on ${this.opts.ip} ready` },
    );
  }

  /** Headers for the route API when a cluster key is set. */
  authHeaders(): Record<string, string> {
    return this.opts.clusterKey ? { authorization: `Bearer ${this.opts.clusterKey}` } : {};
  }

  async close(): Promise<void> {
    await this.proc.kill('SIGTERM');
  }
}

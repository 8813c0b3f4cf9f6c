import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KvClient } from '@flynn-edge/raft';
import { ManagedProcess, waitFor } from '@flynn-edge/testkit';

// raft-kv processes on 127.0.0.1, .2, .3, …: the demo, the process-level tests and the benchmark
// start, kill and restart them.

const BIN = fileURLToPath(new URL('../bin/raft-kv.js', import.meta.url));

export interface KvProcessClusterOptions {
  size?: number;
  port?: number;
  /** Parent of the nodes' data directories (default: a new temporary directory). */
  dir?: string;
  tickInterval?: string;
  extraArgs?: string[];
}

export interface NodeStatus {
  id: string;
  role: string;
  term: number;
  commit: number;
  appliedIndex: number;
  lastIndex: number;
  fingerprint: string;
  leader: string | null;
}

export class KvProcessCluster {
  readonly dir: string;
  readonly addrs: string[];
  readonly procs: ManagedProcess[];

  constructor(opts: KvProcessClusterOptions = {}) {
    const size = opts.size ?? 3;
    const port = opts.port ?? 20_000 + Math.floor(Math.random() * 20_000);
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'raft-kv-'));
    this.addrs = Array.from({ length: size }, (_, i) => `127.0.0.${i + 1}:${port}`);
    this.procs = this.addrs.map(
      (addr, i) =>
        new ManagedProcess({
          name: `n${i + 1}`,
          command: process.execPath,
          args: [
            BIN,
            '-addr',
            addr,
            '-data-dir',
            join(this.dir, `n${i + 1}`),
            '-peers',
            this.addrs.join(','),
            '-tick-interval',
            opts.tickInterval ?? '50ms',
            ...(opts.extraArgs ?? []),
          ],
          logFile: join(this.dir, `n${i + 1}.log`),
        }),
    );
  }

  start(): void {
    for (const p of this.procs) p.start();
  }

  client(timeoutMs = 5000): KvClient {
    return new KvClient({ nodes: this.addrs, timeoutMs });
  }

  async status(addr: string): Promise<NodeStatus | undefined> {
    const c = new KvClient({ nodes: [addr], timeoutMs: 500 });
    try {
      const r = await c.call({ op: 'status' }, 500);
      return r.ok ? (r.status as NodeStatus) : undefined;
    } catch {
      return undefined;
    } finally {
      c.close();
    }
  }

  async leader(timeoutMs = 15_000): Promise<number> {
    return waitFor(
      async () => {
        for (const [i, a] of this.addrs.entries()) {
          const s = await this.status(a);
          if (s?.role === 'leader') return i;
        }
        return undefined;
      },
      { timeoutMs, what: 'a leader' },
    );
  }

  /** Every node applied everything, with identical state and log length. */
  async converged(timeoutMs = 20_000): Promise<NodeStatus[]> {
    return waitFor(
      async () => {
        const all = await Promise.all(this.addrs.map((a) => this.status(a)));
        if (all.some((s) => !s)) return undefined;
        const s = all as NodeStatus[];
        const same = s.every(
          (x) =>
            x.appliedIndex === s[0].appliedIndex &&
            x.fingerprint === s[0].fingerprint &&
            x.lastIndex === s[0].lastIndex &&
            x.commit === x.appliedIndex,
        );
        return same ? s : undefined;
      },
      { timeoutMs, what: 'the cluster to converge' },
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.close()));
  }
}

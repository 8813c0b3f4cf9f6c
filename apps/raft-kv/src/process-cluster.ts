import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, ManagedProcess, waitFor } from '@flynn-edge/process-kit';
import { KvClient } from './kv-client.js';

// raft-kv processes on 127.0.0.1, .2, .3, …: the demo, the process-level tests and the benchmark
// start, kill and restart them.

const BIN = fileURLToPath(new URL('../bin/raft-kv.js', import.meta.url));

export interface KvProcessClusterOptions {
  size?: number;
  /** The port every node listens on, each on its own address (create() finds a free one). */
  port: number;
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

  /** A cluster on a port that is free on every node's address right now. */
  static async create(opts: Partial<KvProcessClusterOptions> = {}): Promise<KvProcessCluster> {
    if (opts.port !== undefined) return new KvProcessCluster({ ...opts, port: opts.port });
    const hosts = nodeHosts(opts.size ?? 3);
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = await freePort(hosts[0]);
      if (await freeOnAll(hosts, port)) return new KvProcessCluster({ ...opts, port });
    }
    throw new Error(`no port is free on all of ${hosts.join(', ')}`);
  }

  constructor(opts: KvProcessClusterOptions) {
    const size = opts.size ?? 3;
    const port = opts.port;
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'raft-kv-'));
    this.addrs = nodeHosts(size).map((h) => `${h}:${port}`);
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

function nodeHosts(size: number): string[] {
  return Array.from({ length: size }, (_, i) => `127.0.0.${i + 1}`);
}

/** Whether `port` can be bound on every host (each is bound, then released). */
async function freeOnAll(hosts: string[], port: number): Promise<boolean> {
  const bound: net.Server[] = [];
  try {
    for (const host of hosts) {
      const s = net.createServer();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, resolve);
      });
      bound.push(s);
    }
    return true;
  } catch {
    return false;
  } finally {
    await Promise.all(bound.map((s) => new Promise((r) => s.close(r))));
  }
}

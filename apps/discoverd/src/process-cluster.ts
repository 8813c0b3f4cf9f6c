import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, nextPortBlock, waitFor } from '@flynn-edge/process-kit';

// discoverd processes on 127.0.0.1, .2, .3, …, each with its HTTP+Raft port and a DNS port: the
// demo and the process-level tests start, kill, pause and restart them.

const BIN = fileURLToPath(new URL('../bin/discoverd.js', import.meta.url));

export interface DiscoverdClusterOptions {
  size?: number;
  /** HTTP and Raft port (the same on every node, as in Flynn). */
  port?: number;
  dnsPort?: number;
  dir?: string;
  env?: Record<string, string>;
  /** Extra flags for every node. */
  args?: string[];
  /** Hosts are 127.0.0.<firstHost>, +1, …; default 1. Partition tests keep 127.0.0.1 for the test's own traffic. */
  firstHost?: number;
}

export class DiscoverdProcessCluster {
  readonly dir: string;
  readonly hosts: string[];
  readonly addrs: string[];
  readonly port: number;
  readonly dnsPort: number;
  readonly procs: ManagedProcess[];
  private readonly firstHost: number;

  constructor(opts: DiscoverdClusterOptions = {}) {
    const size = opts.size ?? 3;
    this.port = opts.port ?? nextPortBlock(2);
    this.dnsPort = opts.dnsPort ?? this.port + 1;
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'discoverd-'));
    this.firstHost = opts.firstHost ?? 1;
    this.hosts = Array.from({ length: size }, (_, i) => `127.0.0.${this.firstHost + i}`);
    this.addrs = this.hosts.map((h) => `${h}:${this.port}`);
    const peers = this.addrs.join(',');
    this.procs = this.hosts.map((host, i) => this.makeProcess(host, i, peers, opts));
  }

  /** Another host, started later: it joins as a proxy until promoted. */
  addHost(opts: DiscoverdClusterOptions = {}): number {
    const i = this.hosts.length;
    const host = `127.0.0.${this.firstHost + i}`;
    this.hosts.push(host);
    this.addrs.push(`${host}:${this.port}`);
    this.procs.push(
      this.makeProcess(host, i, this.procs[0].spec.args[this.procs[0].spec.args.indexOf('-peers') + 1], opts),
    );
    return i;
  }

  private makeProcess(host: string, i: number, peers: string, opts: DiscoverdClusterOptions): ManagedProcess {
    return new ManagedProcess({
      name: `discoverd-${i + 1}`,
      command: process.execPath,
      args: [
        BIN,
        '-data-dir',
        join(this.dir, `n${i + 1}`),
        '-host',
        host,
        '-addr',
        `${host}:${this.port}`,
        '-dns-addr',
        `${host}:${this.dnsPort}`,
        '-peers',
        peers,
        ...(opts.args ?? []),
      ],
      env: opts.env,
      logFile: join(this.dir, `n${i + 1}.log`),
    });
  }

  /** Restarts node i with extra flags (for example -force-new-cluster). */
  async restartWith(i: number, extraArgs: string[]): Promise<void> {
    const old = this.procs[i];
    await old.close();
    this.procs[i] = new ManagedProcess({ ...old.spec, args: [...old.spec.args, ...extraArgs] });
    this.procs[i].start();
  }

  url(i: number, path = ''): string {
    return `http://${this.addrs[i]}${path}`;
  }

  start(): void {
    for (const p of this.procs) if (!p.running) p.start();
  }

  /** Index of the node every live node agrees leads (polls /raft/leader). */
  async leader(timeoutMs = 15_000): Promise<number> {
    return waitFor(
      async () => {
        const answers = await Promise.all(
          this.procs.map(async (p, i) => {
            if (!p.running) return undefined;
            try {
              const r = await fetch(this.url(i, '/raft/leader'), { signal: AbortSignal.timeout(1000) });
              return r.ok ? ((await r.json()) as { host: string }).host : undefined;
            } catch {
              return undefined;
            }
          }),
        );
        const live = answers.filter((_, i) => this.procs[i].running);
        if (live.length === 0 || live.some((a) => a !== live[0]) || !live[0]) return undefined;
        const i = this.addrs.indexOf(live[0]);
        // Followers keep naming a dead leader until their election timeout: not an answer.
        return i >= 0 && this.procs[i].running ? i : undefined;
      },
      { timeoutMs, what: 'an agreed discoverd leader' },
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.close()));
  }
}

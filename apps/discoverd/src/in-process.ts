import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoverdServer } from '@flynn-edge/discoverd-server';
import { freePort, waitFor } from '@flynn-edge/process-kit';
import { createLogger } from '@flynn-edge/service-kit';

// A real single-node discoverd inside the test process: it elects itself in about 100 ms (10 ms
// ticks), and restarts on its data dir. For tests of components that need a discoverd, where
// separate processes (DiscoverdProcessCluster) would only add start-up time.

export class InProcessDiscoverd {
  server!: DiscoverdServer;
  port = 0;
  readonly dataDir = mkdtempSync(join(tmpdir(), 'discoverd-inproc-'));
  /** Run when the server closes: clients made for it, say. */
  private readonly closers: (() => Promise<void>)[] = [];

  constructor(readonly clusterKey?: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (this.port === 0) this.port = await freePort();
    this.server = new DiscoverdServer({
      addr: `127.0.0.1:${this.port}`,
      host: '127.0.0.1',
      dataDir: this.dataDir,
      peers: [],
      logger: createLogger({ component: 'discoverd', level: 'silent' }),
      tickMs: 10,
      electionTicks: 10,
      clusterKey: this.clusterKey,
    });
    await this.server.start();
    await waitFor(() => this.server.raft.isLeader, { what: 'a discoverd leader' });
    return this;
  }

  /** Stops and starts again on the same port and data dir. */
  async restart(): Promise<void> {
    await this.server.close();
    await this.start();
  }

  /** Closes `thing` (a client of this server) before the server itself. */
  track<T extends { close(): Promise<void> }>(thing: T): T {
    this.closers.push(() => thing.close());
    return thing;
  }

  async close(): Promise<void> {
    for (const c of this.closers) await c();
    await this.server.close();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

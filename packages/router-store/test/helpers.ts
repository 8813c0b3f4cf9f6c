import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { DiscoverdServer } from '@flynn-edge/discoverd-server';
import { createLogger } from '@flynn-edge/service-kit';
import { waitFor } from '@flynn-edge/testkit';
import { RouteStore, type RouteStoreOptions } from '../src/index.js';

// A real single-node discoverd in this process (fast elections), restartable on its data dir.

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export class TestDiscoverd {
  server!: DiscoverdServer;
  port = 0;
  readonly dataDir = mkdtempSync(join(tmpdir(), 'router-store-'));
  private readonly clients: DiscoverdClient[] = [];

  constructor(private readonly clusterKey?: string) {}

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

  async restart(): Promise<void> {
    await this.server.close();
    await this.start();
  }

  client(): DiscoverdClient {
    const c = new DiscoverdClient({ servers: [this.url], env: {}, clusterKey: this.clusterKey });
    this.clients.push(c);
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.clients) await c.close();
    await this.server.close();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export const STORE_OPTS: RouteStoreOptions = {
  httpPorts: [8080, 8081],
  httpsPorts: [4433, 4434],
  tcpRange: { start: 3000, end: 3010 },
};

export function newStore(d: TestDiscoverd, extra: Partial<RouteStoreOptions> = {}): RouteStore {
  return new RouteStore(d.client().kv, { ...STORE_OPTS, ...extra });
}

export function fixture(name: string): string {
  return readFileSync(new URL(`../../router-core/test/fixtures/${name}`, import.meta.url), 'utf8');
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(
  p: Promise<unknown>,
): Promise<{ code: string; status: number; message: string; detail?: unknown }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; status: number; message: string; detail?: unknown };
  }
  throw new Error('expected a rejection');
}

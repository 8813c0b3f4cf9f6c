import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';

// A real one-node discoverd for the registration tests (build first: `npx turbo run build`), a
// client for the managers that heartbeats every 400–500 ms, and one to read with.

export interface DiscoverdFixture {
  cluster: DiscoverdProcessCluster;
  /** The managers' client (fast heartbeats). */
  dc: DiscoverdClient;
  reader: DiscoverdClient;
  close(): Promise<void>;
}

/** `firstHost`: the node listens on 127.0.0.<firstHost> (default 1). */
export async function startDiscoverd(firstHost?: number): Promise<DiscoverdFixture> {
  const cluster = new DiscoverdProcessCluster({ size: 1, firstHost });
  cluster.start();
  try {
    await cluster.leader(20_000);
  } catch (err) {
    await cluster.close();
    throw err;
  }
  const dc = new DiscoverdClient({
    servers: cluster.addrs,
    env: {},
    heartbeat: { intervalMs: 500, jitterMs: 100 },
  });
  const reader = new DiscoverdClient({ servers: cluster.addrs, env: {} });
  return {
    cluster,
    dc,
    reader,
    async close() {
      await dc.close();
      await reader.close();
      await cluster.close();
    },
  };
}

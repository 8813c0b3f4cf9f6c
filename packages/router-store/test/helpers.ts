import { readFileSync } from 'node:fs';
import { InProcessDiscoverd } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { RouteStore, type RouteStoreOptions } from '../src/index.js';

// A real single-node discoverd in this process (fast elections), restartable on its data dir.
export class TestDiscoverd extends InProcessDiscoverd {
  client(): DiscoverdClient {
    return this.track(new DiscoverdClient({ servers: [this.url], env: {}, clusterKey: this.clusterKey }));
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

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Instance } from '@flynn-edge/discoverd-state';
import type { Discovery } from '../src/probe.js';

// Real HTTP servers on 127.0.0.71–79 (port 0) standing in for components, and a Discovery that
// answers from a table.

export interface FakeServer {
  addr: string;
  server: Server;
  close(): Promise<void>;
}

export async function fakeServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  host = '127.0.0.71',
): Promise<FakeServer> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as AddressInfo;
  return {
    addr: `${host}:${port}`,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Answers every request with `body` as JSON (a function is called per request). */
export function json(body: unknown | (() => unknown), status = 200) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(typeof body === 'function' ? (body as () => unknown)() : body));
  };
}

/** Never answers. */
export function hang() {
  return (_req: IncomingMessage, _res: ServerResponse) => {};
}

export function fakeDiscovery(services: Record<string, Instance[]>, voters: string[] = []): Discovery {
  return {
    async instances(service) {
      return services[service] ?? [];
    },
    async raftVoters() {
      return voters;
    },
  };
}

export function inst(addr: string, meta?: Record<string, string>): Instance {
  return { id: addr, addr, proto: 'http', ...(meta ? { meta } : {}) };
}

/** A port on 127.0.0.79 where nothing listens (bound, then closed). */
export async function deadAddr(): Promise<string> {
  const s = await fakeServer(() => {}, '127.0.0.79');
  await s.close();
  return s.addr;
}

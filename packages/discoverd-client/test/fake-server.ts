import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A tiny scripted HTTP server on 127.0.0.1 for transport and watch tests.

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Handler = (req: Recorded, res: ServerResponse) => void | Promise<void>;

export class FakeServer {
  readonly requests: Recorded[] = [];
  private server: Server;
  private readonly open = new Set<ServerResponse>();
  url = '';

  constructor(public handler: Handler) {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
      });
      req.on('end', () => {
        const rec: Recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
        this.requests.push(rec);
        this.open.add(res);
        res.on('close', () => this.open.delete(res));
        void this.handler(rec, res);
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Ends every open response abruptly (like a killed node). */
  dropAll(): void {
    for (const res of this.open) res.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

export function hh(res: ServerResponse, status: number, code: string, message: string, retry = false): void {
  json(res, status, { code, message, retry });
}

/** A port on 127.0.0.1 nothing listens on (bound, then closed). */
export async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

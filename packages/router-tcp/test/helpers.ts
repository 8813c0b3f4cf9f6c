import { createHash, randomInt } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A loopback address of our own, so a fixed port range does not collide with parallel tests. */
export function privateLoopback(): string {
  return `127.${randomInt(16, 250)}.${randomInt(1, 250)}.${randomInt(1, 250)}`;
}

/** A base port whose `n` ports are free on `host` right now (checked by binding them). */
export async function freeRange(host: string, n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = randomInt(20_000, 60_000);
    const servers: Server[] = [];
    let ok = true;
    for (let p = base; p < base + n && ok; p++) {
      try {
        servers.push(await listen(host, p));
      } catch {
        ok = false;
      }
    }
    await Promise.all(servers.map(close));
    if (ok) return base;
  }
  throw new Error('no free port range');
}

export function listen(host: string, port: number, server: Server = createServer()): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export function portOf(server: Server): number {
  const a = server.address();
  if (!a || typeof a === 'string') throw new Error('not listening');
  return a.port;
}

/** An echo backend that honours half-close: it ends its side once the client has ended. */
export async function echoBackend(host = '127.0.0.1'): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  return listen(host, 0, server);
}

/** A backend that reads until FIN, then answers with `reply(received bytes)` and ends. */
export async function replyAfterEndBackend(reply: (n: number) => string): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    let n = 0;
    s.on('data', (c: Buffer) => {
      n += c.length;
    });
    s.on('end', () => s.end(reply(n)));
  });
  return listen('127.0.0.1', 0, server);
}

export interface Received {
  data: Buffer;
  error?: Error;
}

/** Connects, writes `chunks` then FIN (unless keepOpen), and resolves with everything read until close. */
export function exchange(
  host: string,
  port: number,
  chunks: Buffer[] = [],
  keepOpen = false,
): Promise<Received> {
  return new Promise((resolve) => {
    const sock = connect({ host, port, allowHalfOpen: true });
    const got: Buffer[] = [];
    let error: Error | undefined;
    sock.on('data', (c: Buffer) => got.push(c));
    sock.on('error', (e) => {
      error = e;
    });
    // The proxy closing on us is a FIN; answer it so the socket closes.
    sock.on('end', () => sock.end());
    sock.on('close', () => resolve({ data: Buffer.concat(got), error }));
    sock.on('connect', () => {
      for (const c of chunks) sock.write(c);
      if (!keepOpen) sock.end();
    });
  });
}

/** An open client connection with helpers to await echoed bytes. */
export async function openClient(
  host: string,
  port: number,
): Promise<{
  sock: Socket;
  received: () => Buffer;
  closed: Promise<void>;
}> {
  const sock = connect({ host, port, allowHalfOpen: true });
  const got: Buffer[] = [];
  sock.on('data', (c: Buffer) => got.push(c));
  sock.on('error', () => {});
  sock.on('end', () => sock.end());
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return { sock, received: () => Buffer.concat(got), closed };
}

export function sha256(chunks: Buffer[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

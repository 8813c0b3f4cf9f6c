import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { waitFor } from '@flynn-edge/testkit';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Backend, TcpRouteProxy } from '../src/index.js';
import {
  close,
  echoBackend,
  exchange,
  freeRange,
  listen,
  openClient,
  portOf,
  privateLoopback,
  replyAfterEndBackend,
  sha256,
} from './helpers.js';

const RANGE = 4;
let host: string;
let base: number;
let proxy: TcpRouteProxy;
let registry: Registry;
const servers: Server[] = [];

async function backend(make: () => Promise<Server>): Promise<Backend> {
  const s = await make();
  servers.push(s);
  return { addr: `127.0.0.1:${portOf(s)}` };
}

/** An address that refuses connections: a port that was just bound and released. */
async function deadBackend(): Promise<Backend> {
  const s = await listen('127.0.0.1', 0);
  const addr = `127.0.0.1:${portOf(s)}`;
  await close(s);
  return { addr };
}

beforeEach(async () => {
  host = privateLoopback();
  base = await freeRange(host, RANGE);
  registry = new Registry();
  proxy = new TcpRouteProxy({ host, range: { start: base, end: base + RANGE - 1 }, metrics: registry });
  await proxy.start();
});

afterEach(async () => {
  vi.restoreAllMocks();
  await proxy.close();
  await Promise.all(servers.splice(0).map(close));
});

describe('splice', () => {
  it('carries 50 MB each way byte for byte, then frees the connection', async () => {
    const echo = await backend(echoBackend);
    await proxy.setRoute(base, () => [echo]);
    const chunks = Array.from({ length: 50 }, () => randomBytes(1 << 20));
    const { data, error } = await exchange(host, base, chunks);
    expect(error).toBeUndefined();
    expect(data.length).toBe(50 << 20);
    expect(createHash('sha256').update(data).digest('hex')).toBe(sha256(chunks));
    await waitFor(() => proxy.activeConnections() === 0, { what: 'connection released' });
  });

  it('half-close: the client ends its side and still receives what the backend sends after', async () => {
    const b = await backend(() => replyAfterEndBackend((n) => `got ${n} bytes`));
    await proxy.setRoute(base + 1, () => [b]);
    const { data, error } = await exchange(host, base + 1, [Buffer.alloc(123_456, 7)]);
    expect(error).toBeUndefined();
    expect(data.toString()).toBe('got 123456 bytes');
    await waitFor(() => proxy.activeConnections() === 0, { what: 'connection released' });
  });

  it('relays a backend that speaks first, and a slow client gets every byte (backpressure)', async () => {
    const banner = Buffer.from('220 hello from the backend\r\n');
    const bulk = randomBytes(8 << 20);
    let flushed = 0; // bulk bytes the backend's kernel took
    const first = createServer((s) => {
      s.on('error', () => {});
      // The greeting goes out before the proxy has attached the client; the bulk follows it, one
      // chunk at a time as the socket takes it.
      s.write(banner);
      const pump = (at: number): void => {
        if (at >= bulk.length) return void s.end();
        const chunk = bulk.subarray(at, at + (64 << 10));
        s.write(chunk, (err) => {
          if (err) return;
          flushed += chunk.length;
          pump(at + chunk.length);
        });
      };
      pump(0);
    });
    servers.push(await listen('127.0.0.1', 0, first));
    await proxy.setRoute(base + 2, () => [{ addr: `127.0.0.1:${portOf(first)}` }]);
    const c = await openClient(host, base + 2);
    // Read nothing until the proxy's path (its read ring and socket buffers) holds a good part of
    // the bulk: it must then hold the backend back, not drop or reorder bytes.
    c.sock.pause();
    await waitFor(() => flushed >= 256 << 10, { what: 'the backend to fill the proxy path' });
    expect(c.received().length).toBe(0);
    c.sock.resume();
    await c.closed;
    const got = c.received();
    expect(got.length).toBe(banner.length + bulk.length);
    expect(got.subarray(0, banner.length).equals(banner)).toBe(true);
    expect(createHash('sha256').update(got.subarray(banner.length)).digest('hex')).toBe(sha256([bulk]));
  });

  it('a backend reset tears down the client side too', async () => {
    const rst = createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.resetAndDestroy());
    });
    servers.push(await listen('127.0.0.1', 0, rst));
    await proxy.setRoute(base, () => [{ addr: `127.0.0.1:${portOf(rst)}` }]);
    const c = await openClient(host, base);
    c.sock.write('x');
    await c.closed;
    await waitFor(() => proxy.activeConnections() === 0, { what: 'connection released' });
  });
});

describe('backends', () => {
  it('fails over to the next backend when a dial is refused', async () => {
    // Math.random near 1 makes the shuffle keep the given order: the dead backend is tried first.
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    const dead = await deadBackend();
    const live = await backend(echoBackend);
    await proxy.setRoute(base, () => [dead, live]);
    const { data } = await exchange(host, base, [Buffer.from('ping')]);
    expect(data.toString()).toBe('ping');
    const metrics = await registry.metrics();
    expect(metrics).toMatch(new RegExp(`flynn_router_tcp_dial_failures_total\\{port="${base}"\\} 1`));
    expect(metrics).toMatch(new RegExp(`flynn_router_tcp_connections_total\\{port="${base}"\\} 1`));
  });

  it('reads the backend list per connection', async () => {
    const a = await backend(() => replyAfterEndBackend(() => 'a'));
    const b = await backend(() => replyAfterEndBackend(() => 'b'));
    let current = [a];
    await proxy.setRoute(base, () => current);
    expect((await exchange(host, base)).data.toString()).toBe('a');
    current = [b];
    expect((await exchange(host, base)).data.toString()).toBe('b');
  });

  it('closes the client at once when there are no backends, or none answers', async () => {
    await proxy.setRoute(base, () => []);
    const none = await exchange(host, base, [], true);
    expect(none.data.length).toBe(0);
    const dead = await deadBackend();
    await proxy.setRoute(base, () => [dead]);
    const refused = await exchange(host, base, [], true);
    expect(refused.data.length).toBe(0);
    await waitFor(() => proxy.activeConnections() === 0, { what: 'connections released' });
  });
});

describe('routes', () => {
  it('closes connections to a pre-bound port without a route at once', async () => {
    const r = await exchange(host, base + 2, [], true);
    expect(r.data.length).toBe(0);
    expect(proxy.boundPorts()).toHaveLength(RANGE);
  });

  it('removing a route keeps existing connections; new ones are closed; the port stays bound', async () => {
    const echo = await backend(echoBackend);
    await proxy.setRoute(base, () => [echo]);
    const c = await openClient(host, base);
    c.sock.write('one');
    await waitFor(() => c.received().toString() === 'one', { what: 'first echo' });

    await proxy.removeRoute(base);
    c.sock.write('two');
    await waitFor(() => c.received().toString() === 'onetwo', { what: 'echo after removal' });
    expect(proxy.activeConnections(base)).toBe(1);
    const fresh = await exchange(host, base, [], true);
    expect(fresh.data.length).toBe(0);
    expect(proxy.boundPorts()).toContain(base);

    c.sock.end();
    await c.closed;
    await waitFor(() => proxy.activeConnections() === 0, { what: 'connection released' });
  });

  it('binds a port outside the range on demand, and unbinds it on removal', async () => {
    const echo = await backend(echoBackend);
    const probe = await listen(host, 0);
    const port = portOf(probe);
    await close(probe);
    await proxy.setRoute(port, () => [echo]);
    expect((await exchange(host, port, [Buffer.from('out')])).data.toString()).toBe('out');
    await proxy.removeRoute(port);
    expect(proxy.boundPorts()).not.toContain(port);
    const other = await listen(host, port); // free again
    await close(other);
  });

  it('rejects a route outside the range when its port cannot be bound', async () => {
    const taken = await listen(host, 0);
    servers.push(taken);
    await expect(proxy.setRoute(portOf(taken), () => [])).rejects.toThrow(/EADDRINUSE/);
    expect(proxy.boundPorts()).not.toContain(portOf(taken));
  });
});

describe('binding', () => {
  it('prebind makes range ports unavailable to other listeners', async () => {
    for (let p = base; p < base + RANGE; p++) {
      await expect(listen(host, p)).rejects.toThrow(/EADDRINUSE/);
    }
  });

  it('does not bind the range without prebind until a route asks for a port', async () => {
    const lazy = new TcpRouteProxy({ host, range: { start: base + 100, end: base + 101 }, prebind: false });
    try {
      await lazy.start();
      expect(lazy.boundPorts()).toEqual([]);
      const probe = await listen(host, base + 100).catch(() => undefined);
      if (!probe) return; // someone else holds it; nothing to check
      await close(probe);
      await lazy.setRoute(base + 100, () => []);
      expect(lazy.boundPorts()).toEqual([base + 100]);
      await lazy.removeRoute(base + 100);
      expect(lazy.boundPorts()).toEqual([base + 100]); // a range port stays held
    } finally {
      await lazy.close();
    }
  });

  it('close() ends open connections and frees every port', async () => {
    const echo = await backend(echoBackend);
    await proxy.setRoute(base, () => [echo]);
    const c = await openClient(host, base);
    c.sock.write('x');
    await waitFor(() => c.received().length === 1, { what: 'echo' });
    await proxy.close();
    await c.closed;
    expect(proxy.activeConnections()).toBe(0);
    for (let p = base; p < base + RANGE; p++) await close(await listen(host, p));
  });

  it('start() fails and unbinds when a range port is taken', async () => {
    const h = privateLoopback();
    const b = await freeRange(h, 3);
    const blocker = await listen(h, b + 1);
    servers.push(blocker);
    const p = new TcpRouteProxy({ host: h, range: { start: b, end: b + 2 } });
    await expect(p.start()).rejects.toThrow(/EADDRINUSE/);
    await close(await listen(h, b));
    await close(await listen(h, b + 2));
  });

  it('rejects an invalid range', () => {
    expect(() => new TcpRouteProxy({ host, range: { start: 10, end: 5 } })).toThrow(RangeError);
  });
});

it('reports active connections as a gauge', async () => {
  const echo = await backend(echoBackend);
  await proxy.setRoute(base, () => [echo]);
  const c = await openClient(host, base);
  await waitFor(() => proxy.activeConnections() === 1, { what: 'accepted' });
  expect(await registry.metrics()).toMatch(/flynn_router_tcp_active_connections 1/);
  c.sock.destroy();
  await waitFor(() => proxy.activeConnections() === 0, { what: 'released' });
});

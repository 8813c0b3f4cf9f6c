import dgram from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { requireCommand } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsServer } from '../src/index.js';
import { dig, id, MemoryData, startServer } from './helpers.js';

// Recursion (spec §1.10) against a second instance of our own server, serving another zone, as the
// upstream: no external network is used.

const digTool = requireCommand('dig', 'dnsutils');

/** A port nothing listens on (UDP and TCP): bound once, then released. */
async function deadPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A black hole: UDP that never replies and TCP that accepts and never replies, on one port. */
async function blackHole(): Promise<{ port: number; close: () => Promise<void> }> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const port = udp.address().port;
  const conns = new Set<Socket>();
  const tcp: Server = createServer((c) => {
    conns.add(c);
    c.on('error', () => {});
  });
  await new Promise<void>((r) => tcp.listen(port, '127.0.0.1', () => r()));
  return {
    port,
    close: async () => {
      for (const c of conns) c.destroy();
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => tcp.close(() => r())),
      ]);
    },
  };
}

describe.skipIf(!digTool.available)('recursion', () => {
  let upstream: DnsServer;
  let upPort: number;
  let hole: Awaited<ReturnType<typeof blackHole>>;
  let dead: number;
  const servers: DnsServer[] = [];

  const upstreamData = new MemoryData().set(
    'web',
    [1, 2, 3, 4, 5].map((n) => ({ id: id(n), addr: `192.0.2.${n}:80`, proto: 'tcp' })),
  );
  const localData = new MemoryData().set('local', [{ id: id(1), addr: '10.9.9.9:80', proto: 'tcp' }]);

  beforeAll(async () => {
    upstream = await startServer({ data: upstreamData, zone: 'upstream.test.' });
    upPort = upstream.address().udp.port;
    hole = await blackHole();
    dead = await deadPort();
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await upstream?.close();
    await hole?.close();
  });

  async function downstream(recursors: string[], recursorTimeoutMs = 500): Promise<number> {
    const s = await startServer({ data: localData, recursors, recursorTimeoutMs });
    servers.push(s);
    return s.address().udp.port;
  }

  it('relays the upstream answer over UDP (upstream sees UDP: 3 records) after a dead recursor', async () => {
    const port = await downstream([`127.0.0.1:${dead}`, `127.0.0.1:${upPort}`]);
    const before = upstream.stats().queries;
    const res = await dig(port, 'web.upstream.test.', 'A');
    expect(res.status).toBe('NOERROR');
    // The upstream's own flags come through: it is authoritative for its zone and has no recursors.
    expect(res.flags).toContain('aa');
    expect(res.flags).not.toContain('ra');
    expect(res.answer).toHaveLength(3);
    expect(res.answer.every((r) => r.name === 'web.upstream.test.' && r.data.startsWith('192.0.2.'))).toBe(
      true,
    );
    expect(upstream.stats().queries).toBe(before + 1);
  });

  it('forwards over TCP when the client used TCP (upstream sees TCP: all 5 records)', async () => {
    const port = await downstream([`127.0.0.1:${upPort}`]);
    const res = await dig(port, 'web.upstream.test.', 'SRV', { tcp: true });
    expect(res.status).toBe('NOERROR');
    expect(res.answer).toHaveLength(5);
    expect(res.additional).toHaveLength(5);
  });

  it('relays upstream NXDOMAIN as is, and counts forwarded queries', async () => {
    const s = await startServer({ data: localData, recursors: [`127.0.0.1:${upPort}`] });
    servers.push(s);
    const res = await dig(s.address().udp.port, 'nope.upstream.test.', 'A');
    expect(res.status).toBe('NXDOMAIN');
    expect(res.authority[0].data).toMatch(/^ns\.upstream\.test\. postmaster\.upstream\.test\. /);
    expect(s.stats()).toMatchObject({ queries: 1, forwarded: 1, servfail: 0, nxdomain: 0 });
  });

  it('skips a recursor that times out, over UDP and TCP', async () => {
    const port = await downstream([`127.0.0.1:${hole.port}`, `127.0.0.1:${upPort}`], 300);
    expect((await dig(port, 'web.upstream.test.', 'A')).answer).toHaveLength(3);
    expect((await dig(port, 'web.upstream.test.', 'A', { tcp: true })).answer).toHaveLength(5);
  });

  it('all recursors failed: SERVFAIL with RA, over UDP and TCP', async () => {
    const s = await startServer({
      data: localData,
      recursors: [`127.0.0.1:${hole.port}`, `127.0.0.1:${dead}`],
      recursorTimeoutMs: 300,
    });
    servers.push(s);
    const port = s.address().udp.port;
    for (const tcp of [false, true]) {
      const res = await dig(port, 'web.upstream.test.', 'A', { tcp, time: 5 });
      expect(res.status).toBe('SERVFAIL');
      expect(res.flags).toContain('ra');
      expect(res.answer).toEqual([]);
    }
    expect(s.stats()).toMatchObject({ forwarded: 2, servfail: 2 });
  });

  it('with recursors, zone answers carry RA (and still AA)', async () => {
    const port = await downstream([`127.0.0.1:${upPort}`]);
    const res = await dig(port, 'local.discoverd.', 'A');
    expect(res.flags).toEqual(expect.arrayContaining(['qr', 'aa', 'ra']));
    expect(res.answer.map((r) => r.data)).toEqual(['10.9.9.9']);
    const nx = await dig(port, 'nope.discoverd.', 'A');
    expect(nx.status).toBe('NXDOMAIN');
    expect(nx.flags).toContain('ra');
  });

  it('refuses to use itself as a recursor', async () => {
    const s = await startServer({ data: localData });
    const port = s.address().udp.port;
    await s.close();
    await expect(
      startServer({ addr: `127.0.0.1:${port}`, data: localData, recursors: [`127.0.0.1:${port}`] }),
    ).rejects.toThrow(/is this DNS server/);
  });
});

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { firstIp, waitNetDns } from '../src/net-dns.js';

describe('-wait-net-dns', () => {
  it('takes the first IP of the subnet', () => {
    expect(firstIp('100.100.7.0/24')).toBe('100.100.7.1');
    expect(firstIp('100.100.7.9/24')).toBe('100.100.7.1');
    expect(firstIp('10.0.0.5/32')).toBe('10.0.0.5');
    expect(firstIp('10.1.0.0/16')).toBe('10.1.0.1');
    expect(() => firstIp('10.0.0/24')).toThrow(/invalid subnet/);
  });

  it('waits until the host reports a subnet, then answers its DNS address and resolvers', async () => {
    let calls = 0;
    const host = createServer((_req, res) => {
      calls++;
      res.setHeader('content-type', 'application/json');
      // The first answers have no network yet, as while the host sets it up.
      res.end(
        JSON.stringify(
          calls < 3 ? { id: 'h1' } : { network: { subnet: '127.0.0.7/32', resolvers: ['9.9.9.9'] } },
        ),
      );
    });
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(host.address() as AddressInfo).port}/host/status`;
      const net = await waitNetDns(url, { port: 5353, log: () => {} });
      expect(net).toEqual({ dnsAddr: '127.0.0.7:5353', recursors: ['9.9.9.9'] });
      expect(calls).toBe(3);
    } finally {
      host.close();
    }
  });

  it('sends the cluster key a keyed host daemon wants, and says so when it has none', async () => {
    const host = createServer((req, res) => {
      if (req.headers.authorization !== 'Bearer k1') {
        res.statusCode = 401;
        return res.end('{"code":"unauthorized","message":"needs the cluster key"}');
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ network: { subnet: '127.0.0.8/32', resolvers: [] } }));
    });
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(host.address() as AddressInfo).port}/host/status`;
      expect(await waitNetDns(url, { port: 53, log: () => {}, clusterKey: 'k1' })).toEqual({
        dnsAddr: '127.0.0.8:53',
        recursors: [],
      });
      const said: string[] = [];
      const abort = new AbortController();
      const waiting = waitNetDns(url, {
        port: 53,
        log: (m) => {
          said.push(m);
          abort.abort();
        },
        signal: abort.signal,
      });
      await expect(waiting).rejects.toThrow();
      expect(said[0]).toMatch(/wants the cluster key/);
    } finally {
      host.close();
    }
  });
});

import { waitFor } from '@flynn-edge/testkit';
import dnsPacket from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { DnsDataSource, DnsServer } from '../src/index.js';
import { decode, id, MemoryData, query, startServer, TcpClient, udpExchange } from './helpers.js';

// Malformed packets, throwing data sources, TCP framing and lifecycle. These use raw sockets and
// dns-packet rather than dig, because dig cannot send garbage.

const data = new MemoryData().set(
  'web',
  [1, 2, 3, 4, 5].map((n) => ({ id: id(n), addr: `10.0.0.${n}:80`, proto: 'tcp' })),
);

let servers: DnsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function start(opts: Parameters<typeof startServer>[0]): Promise<DnsServer> {
  const s = await startServer(opts);
  servers.push(s);
  return s;
}

describe('malformed packets', () => {
  it('UDP: garbage, a truncated header and a response packet are dropped and counted; serving goes on', async () => {
    const srv = await start({ data });
    const port = srv.address().udp.port;
    const valid = query('web.discoverd.', 'A', 7);
    const bogusName = Buffer.from(valid);
    bogusName[12] = 0xc0; // a compression pointer in the question: pointing forward, invalid
    const response = Buffer.from(valid);
    response[2] |= 0x80; // QR set
    const reply = await udpExchange(port, [
      Buffer.from('not a dns packet at all, just some bytes'),
      Buffer.from([1, 2, 3]),
      Buffer.alloc(0),
      bogusName,
      response,
      valid,
    ]);
    const decoded = decode(reply);
    expect(decoded.id).toBe(7);
    expect(decoded.answers).toHaveLength(3);
    await waitFor(() => srv.stats().malformed === 5, { what: 'malformed count 5' });
  });

  it('TCP: a malformed message closes the connection; other connections are served', async () => {
    const srv = await start({ data });
    const port = srv.address().tcp.port;
    const bad = await TcpClient.connect(port);
    bad.send(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]));
    await waitFor(() => bad.closed, { what: 'connection closed' });
    expect(bad.replies).toEqual([]);
    const empty = await TcpClient.connect(port);
    empty.send(Buffer.alloc(0));
    await waitFor(() => empty.closed, { what: 'connection closed on an empty message' });
    expect(srv.stats().malformed).toBe(2);

    const good = await TcpClient.connect(port);
    good.send(query('web.discoverd.', 'A'));
    await waitFor(() => good.replies.length === 1, { what: 'reply' });
    expect(decode(good.replies[0]).answers).toHaveLength(5);
    good.close();
  });

  it('FORMERR for a query without a question, NOTIMP for another opcode', async () => {
    const srv = await start({ data });
    const port = srv.address().udp.port;
    const noQuestion = dnsPacket.encode({ type: 'query', id: 9, questions: [] });
    expect(decode(await udpExchange(port, [noQuestion])).rcode).toBe('FORMERR');
    const notify = query('web.discoverd.', 'A', 10);
    notify[2] = (notify[2] & 0x87) | (4 << 3); // opcode NOTIFY
    const r = await udpExchange(port, [notify]);
    expect(r.readUInt16BE(2) & 0xf).toBe(4);
    expect((r[2] >> 3) & 0xf).toBe(4);
  });
});

describe('TCP connections', () => {
  it('answers several queries on one connection, each with its own id', async () => {
    const srv = await start({ data });
    const c = await TcpClient.connect(srv.address().tcp.port);
    c.send(
      query('web.discoverd.', 'A', 1),
      query('nope.discoverd.', 'A', 2),
      query('web.discoverd.', 'SRV', 3),
    );
    await waitFor(() => c.replies.length === 3, { what: '3 replies' });
    const byId = new Map(c.replies.map((r) => [decode(r).id, decode(r)]));
    expect(byId.get(1)!.answers).toHaveLength(5);
    expect(byId.get(2)!.rcode).toBe('NXDOMAIN');
    expect(byId.get(3)!.additionals).toHaveLength(5);
    // and more later on the same connection, split across writes
    const q = query('web.discoverd.', 'A', 4);
    const framed = Buffer.concat([Buffer.from([0, q.length]), q]);
    c.sock.write(framed.subarray(0, 5));
    c.sock.write(framed.subarray(5));
    await waitFor(() => c.replies.length === 4, { what: '4th reply' });
    expect(c.closed).toBe(false);
    c.close();
  });

  it('closes idle connections', async () => {
    const srv = await start({ data, tcpIdleTimeoutMs: 150 });
    const c = await TcpClient.connect(srv.address().tcp.port);
    c.send(query('web.discoverd.', 'A'));
    await waitFor(() => c.replies.length === 1, { what: 'reply' });
    await waitFor(() => c.closed, { what: 'idle close', timeoutMs: 5000 });
  });

  it('close() ends open connections', async () => {
    const srv = await startServer({ data });
    const c = await TcpClient.connect(srv.address().tcp.port);
    await srv.close();
    await waitFor(() => c.closed, { what: 'connection closed by close()' });
  });
});

describe('oversized UDP answers', () => {
  it('sets TC with no records when even 3 instances do not fit the client buffer; TCP has them all', async () => {
    const svc = 's'.repeat(63);
    const big = new MemoryData().set(
      svc,
      [1, 2, 3, 4].map((n) => ({ id: `${n}`.repeat(63), addr: `10.0.0.${n}:80`, proto: 'tcp' })),
    );
    const srv = await start({ data: big });
    // no EDNS in this query: the limit is 512 bytes
    const r = await udpExchange(srv.address().udp.port, [query(`${svc}.discoverd`, 'ANY' as never, 5)]);
    expect(r.readUInt16BE(2) & 0x0200).toBe(0x0200);
    expect(decode(r)).toMatchObject({ id: 5, rcode: 'NOERROR', answers: [] });
    // with a larger EDNS buffer the 3 + 3 records are sent, without TC
    const edns = dnsPacket.encode({
      type: 'query',
      id: 6,
      questions: [{ type: 'ANY' as never, name: `${svc}.discoverd` }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as never],
    });
    const r2 = await udpExchange(srv.address().udp.port, [edns]);
    expect(r2.readUInt16BE(2) & 0x0200).toBe(0);
    expect(decode(r2).answers.map((a) => a.type)).toEqual(['A', 'A', 'A', 'SRV', 'SRV', 'SRV']);
    const c = await TcpClient.connect(srv.address().tcp.port);
    c.send(query(`${svc}.discoverd`, 'ANY' as never, 7));
    await waitFor(() => c.replies.length === 1, { what: 'TCP reply' });
    expect(decode(c.replies[0]).answers).toHaveLength(8);
    c.close();
  });
});

describe('data source failures', () => {
  it('a throwing or rejecting data source gives SERVFAIL, counted and reported', async () => {
    const errors: Error[] = [];
    const throwing: DnsDataSource = {
      instances: (s) => {
        if (s === 'sync') throw new Error('store exploded');
        return Promise.reject(new Error('peer unreachable'));
      },
      leader: async () => {
        throw new Error('leader lookup failed');
      },
    };
    const srv = await start({ data: throwing, onError: (e) => errors.push(e) });
    const port = srv.address().udp.port;
    for (const [name, qid] of [
      ['sync.discoverd.', 1],
      ['async.discoverd.', 2],
      ['leader.x.discoverd.', 3],
    ] as const) {
      const r = decode(await udpExchange(port, [query(name, 'A', qid)]));
      expect(r.id).toBe(qid);
      expect(r.rcode).toBe('SERVFAIL');
      expect(r.answers).toEqual([]);
    }
    // over TCP too, and the connection stays usable
    const c = await TcpClient.connect(srv.address().tcp.port);
    c.send(query('sync.discoverd.', 'SRV', 4), query('async.discoverd.', 'SRV', 5));
    await waitFor(() => c.replies.length === 2, { what: 'TCP replies' });
    expect(c.replies.map((r) => decode(r).rcode)).toEqual(['SERVFAIL', 'SERVFAIL']);
    c.close();
    expect(srv.stats().servfail).toBe(5);
    expect(errors.map((e) => e.message)).toContain('store exploded');
    expect(errors.map((e) => e.message)).toContain('leader lookup failed');
  });

  it('an instance id that cannot be a DNS label gives SERVFAIL instead of a broken packet', async () => {
    const bad = new MemoryData().set('bad', [{ id: 'x'.repeat(70), addr: '10.0.0.1:80', proto: 'tcp' }]);
    const srv = await start({ data: bad });
    const r = decode(await udpExchange(srv.address().udp.port, [query('bad.discoverd.', 'SRV')]));
    expect(r.rcode).toBe('SERVFAIL');
    // A records do not use the id
    const a = decode(await udpExchange(srv.address().udp.port, [query('bad.discoverd.', 'A')]));
    expect(a.answers).toHaveLength(1);
  });
});

describe('lifecycle', () => {
  it('setData swaps the data source for the next query', async () => {
    const srv = await start({ data });
    const port = srv.address().udp.port;
    expect(decode(await udpExchange(port, [query('web.discoverd.', 'A')])).answers).toHaveLength(3);
    srv.setData(new MemoryData().set('other', [{ id: id(1), addr: '10.5.5.5:1', proto: 'tcp' }]));
    expect(decode(await udpExchange(port, [query('web.discoverd.', 'A')])).rcode).toBe('NXDOMAIN');
    const other = decode(await udpExchange(port, [query('other.discoverd.', 'A')]));
    expect(other.answers).toEqual([expect.objectContaining({ type: 'A', data: '10.5.5.5', ttl: 0 })]);
  });

  it('an async data source works (proxy mode)', async () => {
    const srv = await start({
      data: {
        instances: async (s) =>
          s === 'web' ? [{ id: id(1), addr: '10.7.0.1:80', proto: 'tcp' }] : undefined,
        leader: async () => undefined,
      },
    });
    const r = decode(await udpExchange(srv.address().udp.port, [query('web.discoverd.', 'A')]));
    expect(r.answers.map((a) => a.data)).toEqual(['10.7.0.1']);
  });

  it('listens on a fixed port for both UDP and TCP, and rejects a port in use', async () => {
    const first = await start({ data });
    const port = first.address().udp.port;
    await first.close();
    servers = [];
    const again = await start({ data, addr: `127.0.0.1:${port}` });
    expect(again.address()).toMatchObject({ udp: { port }, tcp: { port } });
    await expect(startServer({ data, addr: `127.0.0.1:${port}` })).rejects.toThrow(/EADDRINUSE/);
  });
});

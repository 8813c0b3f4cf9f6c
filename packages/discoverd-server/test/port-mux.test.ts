import http from 'node:http';
import net from 'node:net';
import { waitFor } from '@flynn-edge/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createPortMux } from '../src/port-mux.js';

const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function start(firstByteTimeoutMs = 30_000) {
  const raftBytes: Buffer[] = [];
  const rejected: string[] = [];
  const httpServer = http.createServer((req, res) => res.end(`hello ${req.method} ${req.url}`));
  const mux = createPortMux(
    {
      raft: (socket, head) => {
        raftBytes.push(head);
        socket.on('data', (d: Buffer) => raftBytes.push(d));
      },
      http: (socket) => httpServer.emit('connection', socket),
      rejected: (r) => rejected.push(r),
    },
    { firstByteTimeoutMs },
  );
  servers.push(mux);
  await new Promise<void>((r) => mux.listen(0, '127.0.0.1', r));
  const port = (mux.address() as net.AddressInfo).port;
  return { port, raftBytes, rejected };
}

describe('port mux', () => {
  it('serves HTTP on the shared port, keep-alive included', async () => {
    const { port } = await start();
    const agent = new http.Agent({ keepAlive: true });
    for (const path of ['/a', '/b']) {
      const body = await new Promise<string>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path, agent }, (res) => {
            let b = '';
            res.on('data', (d) => (b += d));
            res.on('end', () => resolve(b));
          })
          .on('error', reject);
      });
      expect(body).toBe(`hello GET ${path}`);
    }
    agent.destroy();
  });

  it('hands 0xFF connections to Raft with the first bytes', async () => {
    const { port, raftBytes } = await start();
    const s = net.connect(port, '127.0.0.1');
    s.write(Buffer.from([0xff, 1, 2]));
    await waitFor(() => Buffer.concat(raftBytes).length >= 3, { what: 'raft bytes' });
    expect([...Buffer.concat(raftBytes)]).toEqual([0xff, 1, 2]);
    s.destroy();
  });

  it('closes unknown protocols and silent connections', async () => {
    const { port, rejected } = await start(100);
    const junk = net.connect(port, '127.0.0.1');
    junk.write('xyz');
    const silent = net.connect(port, '127.0.0.1');
    await waitFor(() => rejected.length === 2, { what: 'two rejections' });
    expect(rejected.sort()).toEqual(['first-byte-timeout', 'unknown-protocol']);
    junk.destroy();
    silent.destroy();
  });
});

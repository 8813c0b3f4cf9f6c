import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCli } from '@flynn-edge/cli/testing';
import { afterEach, describe, expect, it } from 'vitest';

// Issue 11, the CLI side: flynn-host follows 307s itself and re-sends the cluster key only to the
// host it asked and to the peers a trusted host names in Discoverd-Peers, never to a host that
// only a Location header named. Stub servers on 127.0.0.1 (the real cluster: keyed-redirect).

interface Stub {
  url: string;
  addr: string;
  auth: (string | undefined)[];
  server: Server;
}
const stubs: Stub[] = [];

async function stub(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Stub> {
  const s = { auth: [] } as unknown as Stub;
  s.server = createServer((req, res) => {
    s.auth.push(req.headers.authorization);
    handler(req, res);
  });
  await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
  s.addr = `127.0.0.1:${(s.server.address() as AddressInfo).port}`;
  s.url = `http://${s.addr}`;
  stubs.push(s);
  return s;
}

afterEach(() => {
  for (const s of stubs.splice(0)) {
    s.server.closeAllConnections();
    s.server.close();
  }
});

function raftView(req: IncomingMessage, res: ServerResponse): void {
  const body =
    req.url === '/raft/leader'
      ? { host: '127.0.0.2:1111' }
      : req.url === '/raft/peers'
        ? ['127.0.0.2:1111']
        : [];
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const runCliKeyed = (args: string[]) => runCli(args, { CLUSTER_KEY: 'sekrit' });

describe('flynn-host: the cluster key and redirects', () => {
  it('follows a redirect to a host nobody vouched for without the key', async () => {
    const elsewhere = await stub(raftView);
    const entry = await stub((req, res) =>
      res.writeHead(307, { location: `${elsewhere.url}${req.url}` }).end(),
    );
    const r = await runCliKeyed(['raft', '--json', '--discoverd', entry.addr]);
    expect(r.code, r.stderr).toBe(0);
    expect(entry.auth).toEqual(['Bearer sekrit']);
    // /raft/peers by redirect, then /raft/leader and /raft/learners asked directly: never the key.
    expect(elsewhere.auth).toEqual([undefined, undefined, undefined]);
  });

  it('a 401 from such a host says the key was withheld', async () => {
    const elsewhere = await stub((_req, res) =>
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end(
          '{"code":"unauthorized","message":"discoverd: this request needs the cluster key","retry":false}',
        ),
    );
    const entry = await stub((req, res) =>
      res.writeHead(307, { location: `${elsewhere.url}${req.url}` }).end(),
    );
    const r = await runCliKeyed(['raft', '--discoverd', entry.addr]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`key not sent to ${elsewhere.url}`);
  });

  it('re-sends the key to a peer named in Discoverd-Peers', async () => {
    const leader = await stub(raftView);
    const entry = await stub((req, res) =>
      res.writeHead(307, { location: `${leader.url}${req.url}`, 'discoverd-peers': `${leader.addr}` }).end(),
    );
    const r = await runCliKeyed(['raft', '--json', '--discoverd', entry.addr]);
    expect(r.code, r.stderr).toBe(0);
    expect(leader.auth.every((a) => a === 'Bearer sekrit')).toBe(true);
  });

  it('refuses to follow a redirect to something other than http(s)', async () => {
    const entry = await stub((_req, res) => res.writeHead(307, { location: 'ftp://127.0.0.1/x' }).end());
    const r = await runCliKeyed(['raft', '--discoverd', entry.addr]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refusing to follow a redirect to ftp:');
  });
});

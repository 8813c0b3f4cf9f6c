import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { hasStackTrace, runCli } from '../src/testing.js';

// The CLI's HTTP handling (redirects, the cluster key, error answers, timeouts) against small
// stub servers on 127.0.0.1: cases a healthy discoverd does not produce on demand. The real
// commands against real discoverd processes are in membership.test.ts.

interface Stub {
  url: string;
  addr: string;
  requests: { method: string; url: string; authorization?: string }[];
  server: Server;
}

const stubs: Stub[] = [];

async function stub(handler: (req: IncomingMessage, res: ServerResponse, self: Stub) => void): Promise<Stub> {
  const s = { requests: [] } as unknown as Stub;
  s.server = createServer((req, res) => {
    s.requests.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
    handler(req, res, s);
  });
  await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
  s.addr = `127.0.0.1:${(s.server.address() as AddressInfo).port}`;
  s.url = `http://${s.addr}`;
  stubs.push(s);
  return s;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** A discoverd-like Raft view: two voters, a leader, and (like Flynn's) no /raft/learners. */
function raftView(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/raft/peers') json(res, 200, ['127.0.0.1:1111', '127.0.0.2:1111']);
  else if (req.url === '/raft/leader') json(res, 200, { host: '127.0.0.2:1111' });
  else res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
}

function redirectTo(target: () => string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(307, { location: `${target()}${req.url}` }).end();
  };
}

afterEach(() => {
  for (const s of stubs.splice(0)) {
    s.server.closeAllConnections();
    s.server.close();
  }
});

describe('flynn-host HTTP handling (stub servers)', () => {
  it('follows 307s, re-sending the cluster key, and treats a missing /raft/learners as none', async () => {
    const b = await stub(raftView);
    // As a discoverd follower does, `a` names its peers: the key may follow to one of them.
    const a = await stub((req, res) => {
      res.writeHead(307, { location: `${b.url}${req.url}`, 'discoverd-peers': `${a.addr},${b.addr}` }).end();
    });
    const r = await runCli(['raft', '--json', '--discoverd', a.addr, '--cluster-key', 'sekrit']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      server: b.url,
      leader: '127.0.0.2:1111',
      voters: ['127.0.0.1:1111', '127.0.0.2:1111'],
      learners: [],
    });
    expect(a.requests.map((q) => q.url)).toEqual(['/raft/peers']);
    expect(b.requests.map((q) => q.url).sort()).toEqual(['/raft/leader', '/raft/learners', '/raft/peers']);
    for (const q of [...a.requests, ...b.requests]) expect(q.authorization).toBe('Bearer sekrit');
  });

  it('takes the key from CLUSTER_KEY and the servers from DISCOVERD', async () => {
    const b = await stub(raftView);
    const r = await runCli(['raft'], { DISCOVERD: `${b.url}`, CLUSTER_KEY: 'from-env' });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'ADDRESS          ROLE',
      '127.0.0.1:1111   voter',
      '127.0.0.2:1111   voter (leader)',
      '',
    ]);
    expect(r.stderr).toBe(
      'flynn-host: DISCOVERD_PEERS should list the voters: 127.0.0.1:1111,127.0.0.2:1111\n',
    );
    expect(b.requests.every((q) => q.authorization === 'Bearer from-env')).toBe(true);
  });

  it('gives up after 10 redirects', async () => {
    const a = await stub(redirectTo(() => a.url));
    const r = await runCli(['raft', '--discoverd', a.addr]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/more than 10 redirects/);
    expect(a.requests).toHaveLength(11);
  });

  it('reports a non-200 promote with the server message and exits 1', async () => {
    const node = await stub((_req, res) =>
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found'),
    );
    const r = await runCli(['promote', node.addr]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`POST ${node.url}/raft/promote answered 404: 404 page not found`);
    expect(r.stdout).toBe('');
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it("reports Flynn's error envelope and hints at the cluster key on 401", async () => {
    const node = await stub((_req, res) =>
      json(res, 401, { code: 'unauthorized', message: 'discoverd: invalid cluster key', retry: false }),
    );
    const r = await runCli(['promote', node.addr, '--cluster-key', 'wrong']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('answered 401 unauthorized: discoverd: invalid cluster key');
    expect(r.stderr).toContain('set CLUSTER_KEY or pass --cluster-key');
  });

  it('never follows a redirect for promote or demote: they act on the node named', async () => {
    const other = await stub((_req, res) => res.writeHead(200).end());
    const node = await stub((req, res) => {
      if (req.url === '/ping') return res.writeHead(200).end();
      res.writeHead(307, { location: `${other.url}${req.url}` }).end();
    });
    for (const args of [
      ['promote', node.addr],
      ['demote', node.addr],
    ]) {
      const r = await runCli(args);
      expect(r.code, args[0]).toBe(1);
      expect(r.stderr).toContain(`answered 307: redirect to ${other.url}/raft/${args[0]}`);
    }
    expect(other.requests).toEqual([]);
  });

  it('times out after 5 s with a one-line message', async () => {
    const silent = await stub(() => undefined);
    const started = Date.now();
    const r = await runCli(['raft', '--discoverd', silent.addr]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(5_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`flynn-host: GET ${silent.url}/raft/peers: no answer within 5 s\n`);
  });

  it('reports a refused connection in one line and exits 1', async () => {
    const gone = await stub(() => undefined);
    const addr = gone.addr;
    stubs.splice(stubs.indexOf(gone), 1);
    await new Promise((r) => gone.server.close(r));
    const r = await runCli(['raft', '--discoverd', addr]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`flynn-host: GET http://${addr}/raft/peers: connection refused (ECONNREFUSED)\n`);
  });
});

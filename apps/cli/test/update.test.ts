import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { hasStackTrace, runCli } from '../src/testing.js';

// `flynn-host update` as an operator runs it (the built CLI), against a stub discoverd listing
// stub hosts on 127.0.0.x and a stub status service: the flags, the exit codes and the one-line
// messages. The plan itself is tested in packages/cluster-ops/test/update.test.ts.

const A = '0.1.0-aaaaaaa';
const B = '0.2.0-bbbbbbb';

const work = mkdtempSync(join(tmpdir(), 'cli-update-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const tarball = (() => {
  const top = join(work, `flynn-edge-${B}`);
  mkdirSync(top);
  writeFileSync(join(top, 'VERSION'), `${B}\n`);
  writeFileSync(join(top, 'package.json'), '{}');
  execFileSync('tar', ['-czf', 'b.tar.gz', `flynn-edge-${B}`], { cwd: work });
  return join(work, 'b.tar.gz');
})();

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function serve(ip: string, handler: (req: IncomingMessage, body: string, res: ServerResponse) => void) {
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    handler(req, body, res);
  });
  await new Promise<void>((resolve) => server.listen(0, ip, resolve));
  servers.push(server);
  return `${ip}:${(server.address() as AddressInfo).port}`;
}

/** A host whose "new daemon" is its next pid on the version it was sent. */
function host(id: string, ip: string, state: { version: string; pid: number; log: string[] }) {
  return serve(ip, (req, _body, res) => {
    state.log.push(`${req.method} ${req.url}`);
    if (req.method === 'GET')
      return json(res, 200, { id, version: state.version, pid: state.pid, flags: [] });
    if (req.method === 'PUT') return json(res, 200, { version: B, path: `/releases/${B}` });
    json(res, 200, { path: `/releases/${B}`, args: [], pid: state.pid + 1 });
    state.version = B;
    state.pid += 1;
  });
}

async function cluster(versions: string[], healthy = true) {
  const states = versions.map((version, i) => ({ version, pid: 100 + i * 10, log: [] as string[] }));
  const addrs = await Promise.all(states.map((s, i) => host(`h${i + 1}`, `127.0.0.${i + 2}`, s)));
  const status = await serve('127.0.0.1', (_req, _body, res) =>
    json(res, healthy ? 200 : 500, {
      data: healthy
        ? { status: 'healthy', detail: {} }
        : { status: 'unhealthy', detail: { logaggregator: { status: 'unhealthy', reason: 'no instance' } } },
    }),
  );
  const discoverd = await serve('127.0.0.1', (req, _body, res) => {
    if (req.url === '/services/flynn-host/instances')
      return json(
        res,
        200,
        addrs.map((addr, i) => ({ addr, meta: { id: `h${i + 1}` } })),
      );
    if (req.url === '/services/status-web/instances') return json(res, 200, [{ addr: status }]);
    json(res, 404, { code: 'not_found', message: 'not found' });
  });
  return { states, env: { DISCOVERD: `http://${discoverd}` } };
}

describe('flynn-host update', () => {
  it('wants --from (usage, exit 2)', async () => {
    const r = await runCli(['update']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('flynn-host: --from is required: a release tarball or a built tree\n');
  });

  it('all hosts on the release: already at, exit 0', async () => {
    const c = await cluster([B, B]);
    const r = await runCli(['update', '--from', tarball, '--skip-apps'], c.env);
    expect(r.stderr).toBe(`already at ${B}\n`);
    expect(r.code).toBe(0);
  });

  it('a downgrade: exit 1, one line', async () => {
    const c = await cluster([A, '0.3.0-ccccccc']);
    const r = await runCli(['update', '--from', tarball, '--yes'], c.env);
    expect(r.stderr).toBe(`flynn-host: refusing to downgrade h2 from 0.3.0-ccccccc to ${B}\n`);
    expect(r.code).toBe(1);
  });

  it('an unhealthy cluster: exit 1 naming the components, nothing sent', async () => {
    const c = await cluster([A], false);
    const r = await runCli(
      ['update', '--from', tarball, '--yes', '--skip-apps', '--status-timeout', '1'],
      c.env,
    );
    expect(r.stderr).toBe('flynn-host: cluster is unhealthy: logaggregator: no instance\n');
    expect(r.code).toBe(1);
    expect(c.states[0].log.filter((l) => !l.startsWith('GET'))).toEqual([]);
  });

  it('without --yes and no answer: nothing changes', async () => {
    const c = await cluster([A]);
    const r = await runCli(['update', '--from', tarball, '--skip-apps'], c.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Update 1 host(s) from ${A} to ${B}? (yes/no): `);
    expect(c.states[0].log.filter((l) => !l.startsWith('GET'))).toEqual([]);
  });

  it('updates every host, printing each switch', async () => {
    const c = await cluster([A, A]);
    const r = await runCli(['update', '--from', tarball, '--yes', '--skip-apps'], c.env);
    expect(hasStackTrace(r.stderr)).toBe(false);
    expect(r.stderr.split('\n')).toEqual([
      `sending release ${B} to h1, h2`,
      `host h1: ${A} → ${B} (pid 100 → 101)`,
      `host h2: ${A} → ${B} (pid 110 → 111)`,
      'update complete',
      '',
    ]);
    expect(r.code).toBe(0);
  });
});

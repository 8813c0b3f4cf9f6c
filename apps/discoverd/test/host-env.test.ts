import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, nextPortBlock, waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { bindAddr } from '../src/flags.js';

// One discoverd release for every host (issue 14, B1): with no -host, -data-dir or address in its
// args, a job takes them from what flynn-host gives it: EXTERNAL_IP and FLYNN_DATA_DIR.

const BIN = fileURLToPath(new URL('../bin/discoverd.js', import.meta.url));
const IP = '127.0.0.187';
const dir = mkdtempSync(join(tmpdir(), 'discoverd-host-env-'));
const procs: ManagedProcess[] = [];

afterAll(async () => {
  for (const p of procs) {
    await p.kill('SIGTERM');
    await p.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

const reach = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(1000) }).then(
    (r) => r.status,
    () => 'refused',
  );

/** Starts discoverd with these args and env; the leader it names once there is one. */
function leaderOf(name: string, args: string[], env: Record<string, string>, base: string) {
  const p = new ManagedProcess({
    name,
    command: process.execPath,
    args: [BIN, ...args],
    env,
    logFile: join(dir, `${name}.out`),
  });
  procs.push(p);
  p.start();
  return waitFor(
    async () => {
      const r = await fetch(`${base}/raft/leader`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
      return r?.ok ? ((await r.json()) as { host: string }) : undefined;
    },
    { timeoutMs: 20_000, what: `a leader at ${base}` },
  );
}

describe('discoverd on a flynn-host', () => {
  it('binds :PORT on $EXTERNAL_IP and leaves other addresses alone', () => {
    expect(bindAddr(':1111', '10.0.0.2')).toBe('10.0.0.2:1111');
    expect(bindAddr(':1111', undefined)).toBe(':1111');
    expect(bindAddr('10.0.0.3:1111', '10.0.0.2')).toBe('10.0.0.3:1111');
  });

  it('runs with EXTERNAL_IP and FLYNN_DATA_DIR only: advertised host, listen address, data', async () => {
    const port = nextPortBlock(1);
    const data = join(dir, 'data');
    const leader = await leaderOf(
      'discoverd',
      ['-addr', `:${port}`, '-election-timeout', '100ms'],
      { EXTERNAL_IP: IP, FLYNN_DATA_DIR: data, DISCOVERD_PEERS: `${IP}:${port},` },
      `http://${IP}:${port}`,
    );
    expect(leader.host).toBe(`${IP}:${port}`);
    expect(await reach(`http://127.0.0.1:${port}/raft/leader`)).toBe('refused');
    expect(readdirSync(data).length).toBeGreaterThan(0);
  });

  it('explicit flags still win over the environment', async () => {
    const port = nextPortBlock(1);
    const data = join(dir, 'explicit');
    const leader = await leaderOf(
      'discoverd-explicit',
      ['-addr', `127.0.0.1:${port}`, '-host', '127.0.0.1', '-data-dir', data, '-peers', `127.0.0.1:${port}`],
      { EXTERNAL_IP: IP, FLYNN_DATA_DIR: join(dir, 'unused') },
      `http://127.0.0.1:${port}`,
    );
    expect(leader.host).toBe(`127.0.0.1:${port}`);
    expect(readdirSync(data).length).toBeGreaterThan(0);
    expect(await reach(`http://${IP}:${port}/raft/leader`)).toBe('refused');
  });
});

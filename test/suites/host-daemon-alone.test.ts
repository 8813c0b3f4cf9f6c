import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, ManagedProcess, waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';

// A real `flynn-host daemon` with no discoverd to reach (a new host before bootstrap). It must not
// load the test kit, the harnesses behind `./testing` exports or test libraries (a resolve hook
// records every module it loads while it serves), and it must stop at once on SIGTERM rather
// than wait out discoverd's retry deadline (it took 10 s and exited 1).

const CLI = fileURLToPath(new URL('../../apps/cli/bin/flynn-host.js', import.meta.url));
const TRACE = fileURLToPath(new URL('../fixtures/trace-modules.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'no-test-code-'));
const procs: ManagedProcess[] = [];

/** Module URLs that are test code. */
const TEST_CODE = [/\/packages\/testkit\//, /\/testing\.js$/, /\/test\//, /playwright/, /vitest/, /\/e2e\//];

afterAll(async () => {
  for (const p of procs) {
    await p.kill('SIGTERM');
    await p.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('a flynn-host daemon with no discoverd', () => {
  it('loads no test code while serving its API', async () => {
    const port = await freePort();
    const out = join(dir, 'daemon-modules.txt');
    const p = new ManagedProcess({
      name: 'flynn-host-daemon',
      command: process.execPath,
      args: [
        '--import',
        TRACE,
        CLI,
        'daemon',
        '-id',
        'host1',
        '-external-ip',
        '127.0.0.1',
        '-api-port',
        String(port),
        '-state',
        join(dir, 'state'),
        '-log-dir',
        join(dir, 'logs'),
        '-no-volumes',
      ],
      env: { TRACE_MODULES_OUT: out },
      logFile: join(dir, 'daemon.out'),
    });
    procs.push(p);
    p.start();
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/host/status`).catch(() => null))?.status === 200,
      { timeoutMs: 20_000, what: 'the daemon answering /host/status' },
    );
    const loaded = readFileSync(out, 'utf8').split('\n').filter(Boolean);
    expect(loaded.some((u) => u.includes('/apps/host/dist/'))).toBe(true);
    expect(loaded.filter((u) => TEST_CODE.some((re) => re.test(u)))).toEqual([]);
  });

  it('stops within 3 s of SIGTERM, with status 0', async () => {
    const [p] = procs;
    expect(p.running).toBe(true);
    const t0 = Date.now();
    p.signal('SIGTERM');
    const code = await p.wait();
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

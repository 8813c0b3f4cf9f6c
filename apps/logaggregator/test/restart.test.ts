import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogAggregator } from '../src/index.js';
import { freePort, getLog, msg, SyslogSender, startAggregator, TestDiscoverd } from './helpers.js';

// Registration in discoverd and the start-up copy of a running peer's buffer: in process, and with
// real bin/logaggregator processes killed with SIGKILL.

let d: TestDiscoverd;
const started: LogAggregator[] = [];

beforeAll(async () => {
  d = await new TestDiscoverd().start();
});
afterAll(async () => {
  for (const a of started) await a.close();
  await d.close();
});

async function start(serviceName: string): Promise<LogAggregator> {
  const a = await startAggregator({ discoverd: d.client(), serviceName });
  started.push(a);
  return a;
}

describe('discoverd and peer snapshots', () => {
  it('registers the syslog address as <name> (with the API in meta) and the API as <name>-api', async () => {
    const a = await start('logagg-reg');
    const client = d.client();
    const syslog = await client.instances('logagg-reg');
    expect(syslog.map((i) => i.addr)).toEqual([`127.0.0.1:${a.syslogPort}`]);
    expect(syslog[0]!.meta?.api_addr).toBe(`127.0.0.1:${a.apiPort}`);
    const api = await client.instances('logagg-reg-api');
    expect(api.map((i) => i.addr)).toEqual([`127.0.0.1:${a.apiPort}`]);
    expect(a.snapshotPeer).toBeUndefined(); // alone: started empty
    await a.close();
    started.splice(started.indexOf(a), 1);
    await waitFor(async () => (await client.instances('logagg-reg')).length === 0, {
      what: 'deregistration',
    });
  });

  it('a new instance copies a running peer, so restarting one at a time loses nothing', async () => {
    const name = 'logagg-peer';
    const a = await start(name);
    const s = await SyslogSender.connect(a.syslogPort);
    const apps = ['p1', 'p2'];
    const sent = apps.flatMap((app) =>
      Array.from({ length: 120 }, (_, i) =>
        msg({ appName: app, hostname: `h-${app}`, seq: i + 1, text: `${app}-${i + 1}` }),
      ),
    );
    s.send(...sent);
    await waitFor(() => a.aggregator.bufferedMessages === 240, { what: '240 on A' });
    s.close();

    const b = await start(name);
    expect(b.snapshotPeer).toBe(a.apiAdvertised);
    expect(b.snapshotResult).toEqual({ loaded: 240, errors: 0 });
    for (const app of apps) {
      const fromA = await getLog(`http://127.0.0.1:${a.apiPort}`, app);
      const fromB = await getLog(`http://127.0.0.1:${b.apiPort}`, app);
      expect(fromB.text).toBe(fromA.text);
      expect(fromB.lines).toHaveLength(120);
    }
    const cursorsA = await (await fetch(`http://127.0.0.1:${a.apiPort}/cursors`)).json();
    const cursorsB = await (await fetch(`http://127.0.0.1:${b.apiPort}/cursors`)).json();
    expect(cursorsB).toEqual(cursorsA);

    // A goes away; its replacement copies B.
    await a.close();
    started.splice(started.indexOf(a), 1);
    const a2 = await start(name);
    expect(a2.snapshotPeer).toBe(b.apiAdvertised);
    expect((await getLog(`http://127.0.0.1:${a2.apiPort}`, 'p2', 'lines=2')).lines.map((l) => l.msg)).toEqual(
      ['p2-119', 'p2-120'],
    );
    // A peer that re-sends what a snapshot already holds only creates duplicates, which are dropped.
    const s2 = await SyslogSender.connect(a2.syslogPort);
    s2.send(...sent.slice(0, 10));
    await waitFor(() => a2.aggregator.stats.dropped.duplicate === 10, { what: 'duplicates dropped' });
    expect(a2.aggregator.bufferedMessages).toBe(240);
    s2.close();
  });

  it('skips a dead peer registration and starts from the next one, or empty', async () => {
    const name = 'logagg-dead';
    const client = d.client();
    // A stale registration (nothing listens there), e.g. from an instance killed with SIGKILL.
    const deadPort = await freePort();
    const hb = await client.addServiceAndRegister(`${name}-api`, `127.0.0.1:${deadPort}`);
    const a = await start(name);
    expect(a.snapshotPeer).toBeUndefined();
    const s = await SyslogSender.connect(a.syslogPort);
    s.send(msg({ appName: 'dz', seq: 1, text: 'kept' }));
    await waitFor(() => a.aggregator.bufferedMessages === 1);
    s.close();
    const b = await start(name);
    expect(b.snapshotPeer).toBe(a.apiAdvertised);
    expect((await getLog(`http://127.0.0.1:${b.apiPort}`, 'dz')).lines[0]?.msg).toBe('kept');
    await hb.close();
  });
});

describe('bin/logaggregator processes', () => {
  const BIN = fileURLToPath(new URL('../bin/logaggregator.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'logaggregator-proc-'));
  const procs: ManagedProcess[] = [];
  afterAll(async () => {
    for (const p of procs) await p.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function spawn(name: string): Promise<{ proc: ManagedProcess; syslog: number; api: number }> {
    const syslog = await freePort();
    const api = await freePort();
    const proc = new ManagedProcess({
      name,
      command: process.execPath,
      args: [
        BIN,
        '-syslog-addr',
        `127.0.0.1:${syslog}`,
        `-api-addr=127.0.0.1:${api}`,
        '-service-name',
        'logagg-proc',
      ],
      env: { DISCOVERD: d.url, LOG_LEVEL: 'info' },
      logFile: join(dir, `${name}.log`),
    });
    procs.push(proc);
    proc.start();
    return { proc, syslog, api };
  }

  it('a restarted process reloads what its running peer holds', async () => {
    const client = d.client();
    const one = await spawn('one');
    await waitFor(async () => (await client.instances('logagg-proc')).length === 1, {
      what: 'one registered',
    });
    const s = await SyslogSender.connect(one.syslog);
    s.send(
      ...Array.from({ length: 50 }, (_, i) => msg({ appName: 'proc-app', seq: i + 1, text: `x${i + 1}` })),
    );
    await waitFor(async () => (await getLog(`http://127.0.0.1:${one.api}`, 'proc-app')).lines.length === 50, {
      what: '50 lines on one',
    });
    s.close();

    const two = await spawn('two');
    await waitFor(async () => (await client.instances('logagg-proc-api')).length === 2, {
      what: 'two registered',
    });
    expect((await getLog(`http://127.0.0.1:${two.api}`, 'proc-app')).lines).toHaveLength(50);

    // SIGKILL one; its registration lingers until it expires, and a restart must cope with that.
    await one.proc.kill('SIGKILL');
    one.proc.start();
    await waitFor(
      async () =>
        (await getLog(`http://127.0.0.1:${one.api}`, 'proc-app', 'lines=1')).lines[0]?.msg === 'x50',
      { what: 'restarted one to reload from two', timeoutMs: 15_000 },
    );
    expect((await getLog(`http://127.0.0.1:${one.api}`, 'proc-app')).lines).toHaveLength(50);
  });
});

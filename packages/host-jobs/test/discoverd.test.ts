import type { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiscoverdFixture, startDiscoverd } from './discoverd-fixture.js';
import { APP, alive, cleanup, manager, nodeJob, tempDir } from './helpers.js';

// Registration in a real one-node discoverd (build first: `npx turbo run build`): a job is
// registered only after its health check passes, deregistered when it stops or its check fails,
// and registered again by the manager that re-adopts it. Stop with a drain: the job leaves
// discoverd while its process still runs and has had no SIGTERM, which comes drainMs later; a job
// that exits during the drain ends the stop at once.

let fixture: DiscoverdFixture | undefined;
let dc: DiscoverdClient;
let reader: DiscoverdClient;

beforeAll(async () => {
  fixture = await startDiscoverd();
  ({ dc, reader } = fixture);
}, 30_000);

afterAll(async () => {
  await cleanup();
  await fixture?.close();
});

/** A job that opens an HTTP server on PORT after `delayMs` and logs when it listens. */
function lateServer(delayMs: number): string {
  return `setTimeout(() => require('http').createServer((q, s) => s.end('ok')).listen(+process.env.PORT, '127.0.0.1', () => console.log('listening')), ${delayMs})`;
}

describe('discoverd registration', () => {
  it('registers a job whose port opens 2 s after start only after its check passes', async () => {
    const { m, rec } = await manager({ discoverd: dc });
    const service = 'late-web';
    const job = await m.run(
      nodeJob(lateServer(2000), {
        ports: 1,
        service,
        health: { kind: 'http', port: 0, path: '/', intervalMs: 200, threshold: 2, timeoutMs: 500 },
      }),
    );
    const addr = `127.0.0.1:${job.ports[0]}`;
    const seenBeforeListen: number[] = [];
    const inst = await waitFor(
      async () => {
        const listening = rec.text(job.id, 'stdout').includes('listening');
        const list = await reader.instances(service).catch(() => []);
        if (!listening) seenBeforeListen.push(list.length);
        return list.find((i) => i.addr === addr);
      },
      { timeoutMs: 10_000, intervalMs: 50, what: 'the job in discoverd' },
    );
    // Never registered while the job was not listening (probed ~40 times over those 2 s).
    expect(seenBeforeListen.every((n) => n === 0)).toBe(true);
    expect(seenBeforeListen.length).toBeGreaterThan(10);
    expect(inst.meta).toMatchObject({
      FLYNN_APP_ID: APP.id,
      FLYNN_APP_NAME: APP.name,
      FLYNN_JOB_ID: job.id,
      FLYNN_PROCESS_TYPE: 'web',
    });
    expect(m.get(job.id)!.registered).toBe(true);
    await m.stop(job.id, { graceMs: 1000 });
    await waitFor(async () => (await reader.instances(service)).length === 0, {
      what: 'deregistration on stop',
    });
  });

  it('registers at once without a check; deregisters when the job dies or its check fails', async () => {
    const { m } = await manager({ discoverd: dc });
    const plain = await m.run(
      nodeJob('setTimeout(() => process.exit(2), 1500)', { ports: 1, service: 'plain' }),
    );
    await waitFor(async () => (await reader.instances('plain')).length === 1, { what: 'plain registered' });
    await waitFor(
      async () => m.get(plain.id)?.state === 'crashed' && (await reader.instances('plain')).length === 0,
      {
        what: 'deregistered after the crash',
      },
    );

    // Listens for ~1 s, then closes its port: the failing check takes it out of discoverd.
    const flap = `const s = require('net').createServer().listen(+process.env.PORT, '127.0.0.1', () => setTimeout(() => s.close(), 1000)); setInterval(() => {}, 1000)`;
    const f = await m.run(
      nodeJob(flap, {
        ports: 1,
        service: 'flap',
        health: { kind: 'tcp', port: 0, intervalMs: 100, threshold: 2 },
      }),
    );
    await waitFor(async () => (await reader.instances('flap')).length === 1, { what: 'flap registered' });
    await waitFor(async () => (await reader.instances('flap')).length === 0, { what: 'flap deregistered' });
    expect(m.get(f.id)).toMatchObject({ state: 'running', registered: false });
  });

  it('a re-adopting manager registers the job again', async () => {
    const dir = tempDir();
    const a = await manager({ stateDir: dir, discoverd: dc });
    const job = await a.m.run(
      nodeJob(lateServer(0), {
        ports: 1,
        service: 'adopted',
        health: { kind: 'tcp', port: 0, intervalMs: 100, threshold: 1 },
      }),
    );
    await waitFor(async () => (await reader.instances('adopted')).length === 1);
    await a.m.close();
    await waitFor(async () => (await reader.instances('adopted')).length === 0, {
      what: 'closing deregisters',
    });
    const b = await manager({ stateDir: dir, discoverd: dc });
    const inst = await waitFor(async () => (await reader.instances('adopted'))[0], { what: 're-registered' });
    expect(inst.meta?.FLYNN_JOB_ID).toBe(job.id);
    await b.m.stop(job.id, { graceMs: 1000 });
    await waitFor(async () => (await reader.instances('adopted')).length === 0);
  });
});

/** Listens on PORT, says so, and prints `SIGTERM` when it gets one (then exits). */
const SERVER = `require('net').createServer().listen(+process.env.PORT, '127.0.0.1', () => console.log('listening')); process.on('SIGTERM', () => { console.log('SIGTERM'); process.exit(0); })`;

describe('stop with drain', () => {
  it('deregisters first, then SIGTERM drainMs later', async () => {
    const { m, rec } = await manager({ discoverd: dc });
    const job = await m.run(nodeJob(SERVER, { ports: 1, service: 'drained' }));
    await waitFor(async () => (await reader.instances('drained')).length === 1 && m.get(job.id)!.registered, {
      what: 'registered',
    });
    const t0 = Date.now();
    const stopping = m.stop(job.id, { drainMs: 1500, graceMs: 2000 });
    await waitFor(async () => (await reader.instances('drained')).length === 0, { what: 'deregistered' });
    // Out of discoverd while the process lives on, not yet signalled.
    expect(alive(job.pid!)).toBe(true);
    expect(m.get(job.id)).toMatchObject({ state: 'running', registered: false });
    expect(rec.text(job.id, 'stdout')).not.toContain('SIGTERM');
    const stopped = await stopping;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expect(stopped.state).toBe('done');
    await waitFor(() => rec.text(job.id, 'stdout').includes('SIGTERM'), { what: 'the job saw SIGTERM' });
    const init = rec.text(job.id, 'init');
    const drainAt = init.findIndex((l) => l.startsWith('draining for 1500 ms'));
    const deregAt = init.findIndex((l) => l.startsWith('deregistered from discoverd'));
    const termAt = init.findIndex((l) => l.startsWith('stopping: SIGTERM'));
    expect(deregAt).toBeGreaterThanOrEqual(0);
    expect(deregAt).toBeLessThan(drainAt);
    expect(drainAt).toBeLessThan(termAt);
  });

  it('ends the stop when the job exits during the drain', async () => {
    const { m, rec } = await manager({ discoverd: dc });
    const job = await m.run(
      nodeJob(`${SERVER}; setTimeout(() => process.exit(3), 2500)`, {
        ports: 1,
        service: 'quitter',
        restart: 'always',
      }),
    );
    await waitFor(async () => (await reader.instances('quitter')).length === 1, { what: 'registered' });
    const t0 = Date.now();
    const stopped = await m.stop(job.id, { drainMs: 60_000, graceMs: 1000 });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(stopped).toMatchObject({ state: 'done', exitStatus: 3, restarts: 0 });
    expect(rec.text(job.id, 'stdout')).not.toContain('SIGTERM');
    expect(rec.text(job.id, 'init').some((l) => l.startsWith('stopping: SIGTERM'))).toBe(false);
    // Not restarted later either.
    expect(m.get(job.id)?.restartAt).toBeUndefined();
  });

  it('SIGTERMs at once a job that is not registered', async () => {
    const { m } = await manager({ discoverd: dc });
    const job = await m.run(nodeJob(SERVER));
    const t0 = Date.now();
    expect((await m.stop(job.id, { drainMs: 30_000 })).state).toBe('done');
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

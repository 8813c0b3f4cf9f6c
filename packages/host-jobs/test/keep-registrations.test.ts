import type { DiscoverdClient, Watch } from '@flynn-edge/discoverd-client';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobManager, RegistrationEvent } from '../src/manager.js';
import type { Job } from '../src/types.js';
import { type DiscoverdFixture, startDiscoverd } from './discoverd-fixture.js';
import { cleanup, manager, nodeJob, tempDir } from './helpers.js';

// A daemon handover (issue 16) closes its manager with keepRegistrations: the jobs' instances stay
// in a real one-node discoverd (127.0.0.176), and the next manager on the same state dir — or the
// same one reopened, after a failed handover — registers the same instances again. A watcher of
// the service sees no `down` from before the close until the registrations are back.

let fixture: DiscoverdFixture | undefined;
let dc: DiscoverdClient;
let reader: DiscoverdClient;
const watches: Watch[] = [];

beforeAll(async () => {
  fixture = await startDiscoverd(176);
  ({ dc, reader } = fixture);
}, 30_000);

afterEach(async () => {
  for (const w of watches.splice(0)) w.close();
  await cleanup();
});

afterAll(async () => {
  await fixture?.close();
});

const SERVER = `require('net').createServer().listen(+process.env.PORT, '127.0.0.1', () => console.log('listening'))`;

interface Seen {
  kind: string;
  id?: string;
}

/** Every event of `service` from now on (tests check the watch never reconnected). */
async function watchEvents(service: string): Promise<{ events: Seen[]; watch: Watch }> {
  const events: Seen[] = [];
  const watch = reader.watch(service, {
    onEvent: (ev) => events.push({ kind: ev.kind, id: ev.instance?.id }),
  });
  watches.push(watch);
  await watch.current;
  return { events, watch };
}

/** Two jobs in `service`: one registered at once, one after its health check passes. */
async function runPair(m: JobManager, service: string): Promise<Job[]> {
  const plain = await m.run(nodeJob(SERVER, { ports: 1, service }));
  const checked = await m.run(
    nodeJob(SERVER, { ports: 1, service, health: { kind: 'tcp', port: 0, intervalMs: 100, threshold: 2 } }),
  );
  await waitFor(() => m.get(plain.id)?.registered && m.get(checked.id)?.registered, {
    what: 'both jobs registered',
  });
  return [plain, checked];
}

async function listedIds(service: string): Promise<string[]> {
  return (await reader.instances(service)).map((i) => i.id).sort();
}

describe('close({ keepRegistrations: true })', () => {
  it('leaves the instances in discoverd; the next manager takes them over without a down', async () => {
    const service = 'kept';
    const dir = tempDir();
    const a = await manager({ stateDir: dir, discoverd: dc });
    const { events, watch } = await watchEvents(service);
    const jobs = await runPair(a.m, service);
    await waitFor(async () => (await listedIds(service)).length === 2, { what: 'both listed' });
    const ids = await listedIds(service);
    const fromA: RegistrationEvent[] = [];
    a.m.on('registration', (ev) => fromA.push(ev));

    await a.m.close({ keepRegistrations: true });
    expect(fromA).toEqual([]);
    // close() has settled: a DELETE would have been sent by now (see the last test).
    expect(await listedIds(service)).toEqual(ids);

    const b = await manager({ stateDir: dir, discoverd: dc });
    await waitFor(() => jobs.every((j) => b.m.get(j.id)?.registered), {
      what: 'the next manager registered both jobs',
    });
    expect(await listedIds(service)).toEqual(ids);
    expect(events.filter((e) => e.kind === 'down')).toEqual([]);
    expect(watch.connections).toBe(1);
    // The new manager owns them: stopping the jobs takes them out.
    for (const j of jobs) await b.m.stop(j.id, { graceMs: 1000 });
    await waitFor(() => events.filter((e) => e.kind === 'down').length === 2, { what: 'downs on stop' });
    expect(await listedIds(service)).toEqual([]);
  });

  it('a manager reopened after it (a failed handover) registers its jobs again without a down', async () => {
    const service = 'reopened';
    const a = await manager({ discoverd: dc });
    const { events, watch } = await watchEvents(service);
    const jobs = await runPair(a.m, service);
    await waitFor(async () => (await listedIds(service)).length === 2, { what: 'both listed' });
    const ids = await listedIds(service);

    await a.m.close({ keepRegistrations: true });
    await a.m.reopen();
    await waitFor(() => jobs.every((j) => a.m.get(j.id)?.registered), { what: 'registered again' });
    expect(await listedIds(service)).toEqual(ids);
    expect(events.filter((e) => e.kind === 'down')).toEqual([]);
    expect(watch.connections).toBe(1);
  });

  it('without it, close() still takes the instances out (the daemon stopping)', async () => {
    const service = 'dropped';
    const a = await manager({ discoverd: dc });
    const { events } = await watchEvents(service);
    await runPair(a.m, service);
    await waitFor(async () => (await listedIds(service)).length === 2, { what: 'both listed' });
    await a.m.close();
    expect(await listedIds(service)).toEqual([]);
    expect(events.filter((e) => e.kind === 'down')).toHaveLength(2);
  });
});

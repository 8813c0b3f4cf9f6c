import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppStore, Deployer, type JobRequest, reconcileFormation } from '../src/index.js';
import { startStore, TableHosts } from './helpers.js';

// reconcileFormation (what `flynn-host fix` runs for every app) against a real (in-process)
// cluster store; the hosts are a table of jobs, each up as soon as it is run, and a host "dies"
// by leaving the list the port answers.

let store: AppStore;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ store, close } = await startStore());
});
afterAll(() => close());

/** An app with an omni type (`app`) and a plain one (`web`), its formation run on all 3 hosts. */
async function deployed(name: string, web: number) {
  const hosts = new TableHosts();
  const deployer = new Deployer(store, hosts);
  const app = await store.createApp(name);
  const release = await store.createRelease(app, {
    artifacts: [],
    env: {},
    processes: { app: { args: ['x'], omni: true }, web: { args: ['y'] } },
  });
  // Recorded as Flynn records omni formations (the count is per host) and run by hand, so the
  // test does not depend on how scale reads that count.
  await store.switchRelease(await store.app(name), release.id, { app: 1, web });
  const job = (processType: string) =>
    ({ app, processType, meta: { FLYNN_RELEASE_ID: release.id } }) as unknown as JobRequest;
  for (const h of hosts.refs) await hosts.run(h, job('app'));
  for (let i = 0; i < web; i++) await hosts.run(hosts.refs[i % hosts.refs.length], job('web'));
  return { hosts, deployer, app };
}

describe('reconcileFormation', () => {
  it('starts nothing when the formation runs', async () => {
    const { deployer } = await deployed('rc-steady', 2);
    const res = await reconcileFormation(deployer, 'rc-steady');
    expect(res).toEqual({ app: 'rc-steady', status: 'reconciled', started: [] });
  });

  it("replaces a dead host's jobs on the live hosts; omni: one per live host", async () => {
    const { hosts, deployer, app } = await deployed('rc-dead', 3);
    expect(hosts.live(app.id, 'web')).toEqual(['h1', 'h2', 'h3']);
    hosts.drop('h3');
    const res = await reconcileFormation(deployer, 'rc-dead');
    if (res.status !== 'reconciled') throw new Error(res.status);
    expect(res.started.map((p) => `${p.job.processType}@${p.host.id}`)).toEqual(['web@h1']);
    expect(hosts.live(app.id, 'web')).toEqual(['h1', 'h1', 'h2']);
    expect(hosts.live(app.id, 'app')).toEqual(['h1', 'h2']);
    // The lock is free again.
    expect(await store.deployment(app.id)).toBeUndefined();
  });

  it('starts the omni job a host lost, and skips an app whose deploy lock is held', async () => {
    const { hosts, deployer, app } = await deployed('rc-omni', 1);
    const lost = hosts.jobsOf.get('h2')?.find((j) => j.processType === 'app');
    if (!lost) throw new Error('no omni job on h2');
    await hosts.stop(hosts.refs[1], lost.id);
    const lock = await store.lock(app, app.release || 'x');
    expect(await reconcileFormation(deployer, 'rc-omni')).toEqual({ app: 'rc-omni', status: 'locked' });
    await store.unlock(app, lock);
    const res = await reconcileFormation(deployer, 'rc-omni');
    if (res.status !== 'reconciled') throw new Error(res.status);
    expect(res.started.map((p) => `${p.job.processType}@${p.host.id}`)).toEqual(['app@h2']);
    expect(hosts.live(app.id, 'app')).toEqual(['h1', 'h2', 'h3']);
  });

  it('counts a crashed job with a restart pending as present', async () => {
    const { hosts, deployer, app } = await deployed('rc-pending', 1);
    const web = hosts.refs.flatMap((h) => hosts.jobsOf.get(h.id) ?? []).find((j) => j.processType === 'web');
    if (!web) throw new Error('no web job');
    web.state = 'crashed';
    web.restartAt = new Date(Date.now() + 1000).toISOString();
    const res = await reconcileFormation(deployer, 'rc-pending');
    expect(res).toMatchObject({ status: 'reconciled', started: [] });
    expect(app.name).toBe('rc-pending');
  });

  it('leaves an app without a release alone', async () => {
    const hosts = new TableHosts();
    await store.createApp('rc-empty');
    expect(await reconcileFormation(new Deployer(store, hosts), 'rc-empty')).toEqual({
      app: 'rc-empty',
      status: 'no-formation',
    });
  });
});

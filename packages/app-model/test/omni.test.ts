import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppStore, Deployer, type HostJobView, isLive } from '../src/index.js';
import { startStore, TableHosts } from './helpers.js';

// Flynn's omni semantics (a count is per host) and crashed jobs awaiting their restart, against a
// real (in-process) cluster store; the hosts are a table of jobs, each up as soon as it is run.

let store: AppStore;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ store, close } = await startStore());
});
afterAll(() => close());

async function omniApp(name: string) {
  const app = await store.createApp(name);
  const release = await store.createRelease(app, {
    artifacts: [],
    env: {},
    processes: { app: { args: ['x'], omni: true }, web: { args: ['y'] } },
  });
  return { app, release };
}

describe('omni process types', () => {
  it('scale {app: 1} runs one job on every host; {web: 2} runs two in all', async () => {
    const hosts = new TableHosts();
    const deployer = new Deployer(store, hosts);
    const { app, release } = await omniApp('omni-scale');
    await deployer.deploy('omni-scale', release);
    await deployer.scale('omni-scale', { app: 1, web: 2 });
    const jobs = [...hosts.jobsOf.values()].flat().filter((j) => isLive(j));
    expect(jobs.filter((j) => j.processType === 'app').length).toBe(3);
    expect(hosts.live(app.id).filter((h) => h === 'h1').length).toBeLessThanOrEqual(2);
    expect(new Set(jobs.filter((j) => j.processType === 'app').map((j) => j.id.split('-')[0]))).toEqual(
      new Set(['h1', 'h2', 'h3']),
    );
    expect(jobs.filter((j) => j.processType === 'web').length).toBe(2);
    // The formation keeps the per-host count, as Flynn's does.
    expect((await store.formation(app.id))?.value.processes).toEqual({ app: 1, web: 2 });
    // Scaling again to the same count starts nothing.
    const again = await deployer.scale('omni-scale', { app: 1 });
    expect(again.started).toEqual([]);
  });

  it('a deploy replaces an omni formation with one new job per host', async () => {
    const hosts = new TableHosts();
    const deployer = new Deployer(store, hosts);
    const { app, release } = await omniApp('omni-deploy');
    await deployer.deploy('omni-deploy', release);
    await deployer.scale('omni-deploy', { app: 1 });
    const next = await store.createRelease((await store.app('omni-deploy')).value, {
      artifacts: [],
      env: { V: '2' },
      processes: release.processes,
    });
    const res = await deployer.deploy('omni-deploy', next);
    expect(res.started.map((p) => p.host.id).sort()).toEqual(['h1', 'h2', 'h3']);
    expect(hosts.live(app.id).sort()).toEqual(['h1', 'h2', 'h3']);
  });
});

describe('crashed jobs with a restart pending', () => {
  it('count as present: scale does not start a second one', async () => {
    const hosts = new TableHosts();
    const deployer = new Deployer(store, hosts);
    const { release } = await omniApp('restarting');
    await deployer.deploy('restarting', release);
    await deployer.scale('restarting', { web: 1 });
    const [crashed] = [...hosts.jobsOf.values()].flat();
    Object.assign(crashed, { state: 'crashed', restartAt: new Date(Date.now() + 1000).toISOString() });
    expect(isLive(crashed)).toBe(true);
    expect((await deployer.scale('restarting', { web: 1 })).started).toEqual([]);
    // Without a pending restart it is gone, and scale replaces it.
    crashed.restartAt = undefined;
    expect(isLive(crashed)).toBe(false);
    expect((await deployer.scale('restarting', { web: 1 })).started.length).toBe(1);
  });

  it('a stop asked for wins over a pending restart', () => {
    const j = { state: 'crashed', restartAt: 'x', stopRequested: true } as HostJobView;
    expect(isLive(j)).toBe(false);
  });
});

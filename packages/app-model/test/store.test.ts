import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppStore, keys, normalizeApp } from '../src/index.js';
import { startStore } from './helpers.js';

// The app model's records in a real (in-process) discoverd: the transactions that keep two
// operators from half-overwriting each other.

let store: AppStore;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ store, close } = await startStore());
});
afterAll(() => close());

describe('AppStore', () => {
  it("creates an app once; a second create is Flynn's object_exists", async () => {
    const app = await store.createApp('shop');
    expect(app).toMatchObject({ name: 'shop', strategy: 'all-at-once', release: '', deploy_timeout: 120 });
    expect((await store.app(app.id)).value.name).toBe('shop'); // by id too
    await expect(store.createApp('shop')).rejects.toThrow('object_exists: application "shop" already exists');
  });

  it("reads the daemon's old {id,name,env} records with defaults", () => {
    expect(normalizeApp({ id: 'i', name: 'n', env: {} } as never)).toEqual({
      id: 'i',
      name: 'n',
      meta: { 'gc.max_inactive_slug_releases': '10' },
      strategy: 'all-at-once',
      release: '',
      deploy_timeout: 120,
      created_at: '',
      updated_at: '',
    });
  });

  it('holds one deploy lock per app and says who holds it', async () => {
    const app = await store.createApp('locked');
    const lock = await store.lock(app, 'r1');
    await expect(store.lock(app, 'r2')).rejects.toThrow(
      /a deployment of locked is already running \(release r1, since /,
    );
    await store.unlock(app, lock);
    await store.unlock(app, lock); // twice is harmless
    const again = await store.lock(app, 'r2');
    expect(again.release).toBe('r2');
  });

  it('switches the release and the formation in one guarded transaction', async () => {
    const app = await store.createApp('switch');
    const r1 = await store.createRelease(app, {
      artifacts: [],
      env: { A: '1' },
      processes: { web: { args: ['x'] } },
    });
    const before = await store.app('switch');
    await store.switchRelease(before, r1.id, { web: 2 });
    expect((await store.app('switch')).value.release).toBe(r1.id);
    expect((await store.formation(app.id))?.value).toMatchObject({ release: r1.id, processes: { web: 2 } });
    // A switch from a stale read loses.
    await expect(store.switchRelease(before, r1.id, { web: 3 })).rejects.toThrow('changed during the deploy');
    expect((await store.formation(app.id))?.value.processes).toEqual({ web: 2 });
  });

  it('lists releases newest first and deletes everything of an app', async () => {
    const app = await store.createApp('gone');
    await store.createRelease(app, { artifacts: [], env: {}, processes: {} });
    await store.createRelease(app, { artifacts: [], env: {}, processes: {} });
    expect(await store.releases(app.id)).toHaveLength(2);
    const { releases } = await store.deleteApp(await store.app('gone'));
    expect(releases).toBe(2);
    expect(await store.findApp('gone')).toBeUndefined();
    expect(await store.kv.get(keys.appId(app.id))).toBeNull();
    expect((await store.kv.list(keys.releasesPrefix(app.id))).entries).toEqual([]);
  });
});

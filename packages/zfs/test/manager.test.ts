import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensurePool,
  isResilvering,
  tryOpenVolumeManager,
  VolumeError,
  type VolumeEvent,
  VolumeManager,
  vdevPathFor,
  ZfsDriver,
} from '../src/index.js';
import { cleanup, MiB, sparseFile, tempDir, uniquePoolName } from './pools.js';
import { zfsAvailableForTests } from './zfs-fuse.js';

const available = await zfsAvailableForTests();
const POOL_SIZE = 256 * MiB;

describe.skipIf(!available)('ensurePool', () => {
  const driver = new ZfsDriver();
  const pool = uniquePoolName('ens');
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('ensure');
  });
  afterAll(async () => {
    await cleanup(driver, [pool], dir ? [dir] : []);
  });

  it('creates the pool on a sparse 0600 file, then uses it, then imports the file', async () => {
    const created = await ensurePool({ driver, name: pool, volPath: dir, size: POOL_SIZE });
    expect(created).toMatchObject({ name: pool, origin: 'created', vdevPath: vdevPathFor(dir, pool) });
    expect(created.vdevPath).toBe(path.join(dir, 'zfs', 'vdev', `${pool}-zpool.vdev`));
    const st = await stat(created.vdevPath);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.size).toBe(POOL_SIZE);
    expect(st.blocks * 512).toBeLessThan(st.size); // sparse
    expect(await driver.exists(`${pool}/data`)).toBe(true);
    expect((await driver.getProperties(pool, ['mountpoint'])).mountpoint).toBe('none');

    expect((await ensurePool({ driver, name: pool, volPath: dir })).origin).toBe('existing');

    await driver.exportPool(pool);
    expect(await driver.poolExists(pool)).toBe(false);
    expect((await ensurePool({ driver, name: pool, volPath: dir })).origin).toBe('imported');
    expect(await driver.exists(`${pool}/data`)).toBe(true);
  });

  it('never overwrites a backing file it cannot import', async () => {
    const other = uniquePoolName('junk');
    const vdev = vdevPathFor(dir, other);
    await mkdir(path.dirname(vdev), { recursive: true });
    await writeFile(vdev, 'not a pool');
    await expect(ensurePool({ driver, name: other, volPath: dir })).rejects.toThrow(/could not be imported/);
    expect(await readFile(vdev, 'utf8')).toBe('not a pool');
  });
});

describe.skipIf(!available)('VolumeManager', () => {
  const driver = new ZfsDriver();
  const poolA = uniquePoolName('mgr-a');
  const poolB = uniquePoolName('mgr-b');
  let dirA: string;
  let dirB: string;
  let a: VolumeManager;
  let b: VolumeManager;
  const events: VolumeEvent[] = [];
  const extraDirs: string[] = [];

  beforeAll(async () => {
    dirA = await tempDir('mgr-a');
    dirB = await tempDir('mgr-b');
    a = await VolumeManager.open({ driver, volPath: dirA, poolName: poolA, poolSize: POOL_SIZE });
    b = await VolumeManager.open({ driver, volPath: dirB, poolName: poolB, poolSize: POOL_SIZE });
    a.on('event', (e) => events.push(e));
  });
  afterAll(async () => {
    await cleanup(driver, [poolA, poolB], [dirA, dirB, ...extraDirs].filter(Boolean));
  });

  it('creates a data volume mounted under <volPath>/zfs/mnt/data/<id>', async () => {
    const vol = await a.create({ meta: { 'flynn-controller.app': 'app1' } });
    expect(vol).toMatchObject({ type: 'data', meta: { 'flynn-controller.app': 'app1' } });
    expect(VolumeManager.isVolumeId(vol.id)).toBe(true);
    expect(new Date(vol.created_at).toISOString()).toBe(vol.created_at);
    const mnt = a.mountPath(vol.id)!;
    expect(mnt).toBe(path.join(dirA, 'zfs', 'mnt', 'data', vol.id));
    expect(a.datasetOf(vol.id)).toBe(`${poolA}/data/${vol.id}`);
    await writeFile(path.join(mnt, 'file.txt'), 'data 1');
    expect(a.get(vol.id)).toEqual(vol);
    expect(a.list()).toEqual([vol]);
    expect(events).toEqual([{ type: 'create', volume: vol }]);
    const state = JSON.parse(await readFile(path.join(dirA, 'volumes.json'), 'utf8'));
    expect(state.volumes[vol.id].info).toEqual(vol);
  });

  it('snapshots, sends in full, receives into another pool, then sends incrementally', async () => {
    const vol = await a.create();
    const mnt = a.mountPath(vol.id)!;
    await writeFile(path.join(mnt, 'one.txt'), 'one');
    const snap1 = await a.snapshot(vol.id);
    expect(snap1.id).not.toBe(vol.id);
    expect(a.isSnapshot(snap1.id)).toBe(true);
    expect(a.datasetOf(snap1.id)).toBe(`${poolA}/data/${vol.id}@${snap1.id}`);
    await expect(a.snapshot(snap1.id)).rejects.toThrow(VolumeError);
    await expect(a.send(vol.id)).rejects.toThrow(/can only send a snapshot/);

    const target = await b.create();
    expect(await b.listHaves(target.id)).toEqual([]);
    const full = await a.send(snap1.id, await b.listHaves(target.id));
    expect(full.incrementalFrom).toBeUndefined();
    const recv1 = await b.receive(target.id, full.stream);
    expect(b.isSnapshot(recv1.id)).toBe(true);
    const tmnt = b.mountPath(target.id)!;
    expect(await readFile(path.join(tmnt, 'one.txt'), 'utf8')).toBe('one');
    expect(await b.listHaves(target.id)).toEqual([{ snap_id: snap1.id }]);

    await writeFile(path.join(mnt, 'two.txt'), 'two');
    const snap2 = await a.snapshot(vol.id);
    const inc = await a.send(snap2.id, await b.listHaves(target.id));
    expect(inc.incrementalFrom).toBe(snap1.id);
    await b.receive(target.id, inc.stream);
    expect(await readFile(path.join(tmnt, 'two.txt'), 'utf8')).toBe('two');
    expect(await b.listHaves(target.id)).toEqual([{ snap_id: snap1.id }, { snap_id: snap2.id }]);

    // Haves naming a snapshot the sender does not have: a full stream (which recv -F rejects onto
    // a volume that already has snapshots, with zfs's reason in the error).
    const unknown = await a.send(snap2.id, [{ snap_id: 'not-here' }]);
    expect(unknown.incrementalFrom).toBeUndefined();
    unknown.stream.destroy();
    await expect(a.send(snap2.id, [{ snap_id: snap2.id }])).rejects.toThrow(/already has snapshot/);
  });

  it('forks a snapshot into a writable volume', async () => {
    const vol = await a.create();
    await writeFile(path.join(a.mountPath(vol.id)!, 'base.txt'), 'base');
    const snap = await a.snapshot(vol.id);
    const fork = await a.fork(snap.id);
    expect(await readFile(path.join(a.mountPath(fork.id)!, 'base.txt'), 'utf8')).toBe('base');
    await expect(a.fork(vol.id)).rejects.toThrow(/can only fork a snapshot/);
    await expect(a.destroy(snap.id)).rejects.toMatchObject({ code: 'has_children' });
    await a.destroy(fork.id);
    await a.destroy(snap.id);
    await a.destroy(vol.id);
  });

  it('refuses to destroy a volume with snapshots, then destroys in order and emits events', async () => {
    const vol = await a.create();
    const snap = await a.snapshot(vol.id);
    const err = await a.destroy(vol.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VolumeError);
    expect(err).toMatchObject({ code: 'has_children' });
    expect((err as Error).message).toMatch(/has snapshots/);
    expect(a.get(vol.id)).toBeDefined();
    events.length = 0;
    await a.destroy(snap.id);
    await a.destroy(vol.id);
    expect(events.map((e) => [e.type, e.volume.id])).toEqual([
      ['destroy', snap.id],
      ['destroy', vol.id],
    ]);
    expect(a.get(vol.id)).toBeUndefined();
    expect(await driver.exists(`${poolA}/data/${vol.id}`)).toBe(false);
    await expect(a.destroy(vol.id)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('keeps its state across a reopen', async () => {
    const before = a.list();
    const again = await VolumeManager.open({ driver, volPath: dirA, poolName: poolA });
    expect(again.list()).toEqual(before);
    expect(again.pool?.origin).toBe('existing');
  });

  it("survives Flynn's move off the sparse file: attach, resilver, detach", async () => {
    const vol = await a.create();
    const mnt = a.mountPath(vol.id)!;
    const payload = Buffer.alloc(4 * MiB, 7);
    await writeFile(path.join(mnt, 'payload.bin'), payload);
    const oldVdev = vdevPathFor(dirA, poolA);
    const newVdev = await sparseFile(path.join(dirA, 'new-disk.vdev'), POOL_SIZE);

    await driver.attach(poolA, oldVdev, newVdev);
    // The manager keeps working while the mirror resilvers.
    const during = await a.create();
    const status = await driver.waitForResilver(poolA, { timeoutMs: 60_000, intervalMs: 100 });
    expect(isResilvering(status)).toBe(false);
    expect(status.state).toBe('ONLINE');
    expect(status.config?.children[0].children.map((v) => v.name)).toEqual([oldVdev, newVdev]);

    await driver.detach(poolA, oldVdev);
    const after = await driver.poolStatus(poolA);
    expect(after.config?.children.map((v) => v.name)).toEqual([newVdev]);
    expect(after.state).toBe('ONLINE');

    expect(Buffer.compare(await readFile(path.join(mnt, 'payload.bin')), payload)).toBe(0);
    await writeFile(path.join(a.mountPath(during.id)!, 'x'), 'x');
    const snap = await a.snapshot(vol.id);
    const target = await b.create();
    await b.receive(target.id, (await a.send(snap.id)).stream);
    expect(Buffer.compare(await readFile(path.join(b.mountPath(target.id)!, 'payload.bin')), payload)).toBe(
      0,
    );
  });

  it('reports an unusable ZFS instead of throwing from tryOpenVolumeManager', async () => {
    const r = await tryOpenVolumeManager({
      driver: new ZfsDriver({ zpool: '/nonexistent/zpool', zfs: '/nonexistent/zfs' }),
      volPath: path.join(dirA, 'unused'),
    });
    expect(r.manager).toBeUndefined();
    expect(r.error?.name).toBe('ZfsUnavailableError');
  });

  it('rejects a corrupt state file with a clear error', async () => {
    const dir = await tempDir('corrupt');
    extraDirs.push(dir);
    await writeFile(path.join(dir, 'volumes.json'), '{nope');
    await expect(VolumeManager.open({ driver, volPath: dir, poolName: poolA })).rejects.toThrow(
      /not valid JSON/,
    );
  });
});

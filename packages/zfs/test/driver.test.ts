import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clearStalePidFile,
  DatasetBusyError,
  DatasetHasChildrenError,
  isResilvering,
  ZfsDriver,
  ZfsError,
  ZfsUnavailableError,
} from '../src/index.js';
import { cleanup, MiB, sparseFile, tempDir, uniquePoolName } from './pools.js';
import { zfsAvailableForTests } from './zfs-fuse.js';

const available = await zfsAvailableForTests();

describe('missing ZFS', () => {
  it('gives a clear ZfsUnavailableError when the binaries are missing', async () => {
    const d = new ZfsDriver({ zpool: '/nonexistent/zpool', zfs: '/nonexistent/zfs' });
    const err = await d.listPools().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZfsUnavailableError);
    expect((err as Error).message).toMatch(/not found.*zfs-fuse/);
  });
});

describe('zfs-fuse pid file', () => {
  it('removes a pid file naming a dead or foreign process, and keeps one naming a live zfs-fuse', async () => {
    const dir = await tempDir('pidfile');
    const file = path.join(dir, 'zfs-fuse.pid');
    try {
      // A pid that has exited: spawn and reap a short-lived child to get one.
      const child = spawn('true');
      const deadPid = child.pid as number;
      await new Promise((resolve) => child.on('close', resolve));
      await writeFile(file, `${deadPid}\n`);
      expect(await clearStalePidFile(file)).toBe(true);
      await expect(readFile(file, 'utf8')).rejects.toThrow(/ENOENT/);

      // A live process that is not zfs-fuse (pid reuse after a reboot).
      await writeFile(file, `${process.pid}\n`);
      expect(await clearStalePidFile(file)).toBe(true);

      await writeFile(file, 'garbage');
      expect(await clearStalePidFile(file)).toBe(true);
      expect(await clearStalePidFile(file)).toBe(false);

      // The running daemon's own pid file is left alone.
      const running = spawn('pgrep', ['-o', '-x', 'zfs-fuse'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      running.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      await new Promise((resolve) => running.on('close', resolve));
      const livePid = Number.parseInt(out, 10);
      if (available && Number.isInteger(livePid)) {
        await writeFile(file, `${livePid}\n`);
        expect(await clearStalePidFile(file)).toBe(false);
        expect(await readFile(file, 'utf8')).toBe(`${livePid}\n`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!available)('ZfsDriver against real ZFS', () => {
  const driver = new ZfsDriver();
  const poolA = uniquePoolName('drv-a');
  const poolB = uniquePoolName('drv-b');
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir('driver');
    await driver.createPool(poolA, [await sparseFile(path.join(dir, 'a.vdev'), 256 * MiB)], {
      mountpoint: 'none',
    });
    await driver.createPool(poolB, [await sparseFile(path.join(dir, 'b.vdev'), 256 * MiB)], {
      mountpoint: 'none',
    });
  });
  afterAll(async () => {
    await cleanup(driver, [poolA, poolB], dir ? [dir] : []);
  });

  it('lists the pool and reads its status', async () => {
    const pools = await driver.listPools();
    const a = pools.find((p) => p.name === poolA);
    expect(a?.health).toBe('ONLINE');
    expect(a?.size).toBeGreaterThan(200 * MiB);
    const status = await driver.poolStatus(poolA);
    expect(status).toMatchObject({ name: poolA, state: 'ONLINE' });
    expect(status.config?.children.map((v) => v.name)).toEqual([path.join(dir, 'a.vdev')]);
    expect(isResilvering(status)).toBe(false);
  });

  it('errors carry stderr', async () => {
    const err = (await driver.poolStatus(`${poolA}-nope`).catch((e: unknown) => e)) as ZfsError;
    expect(err).toBeInstanceOf(ZfsError);
    expect(err).not.toBeInstanceOf(ZfsUnavailableError);
    expect(err.stderr).toMatch(/no such pool/);
    expect(err.message).toContain(`zpool status ${poolA}-nope`);
  });

  it('creates, lists, inspects and destroys datasets', async () => {
    const mnt = path.join(dir, 'mnt', 'ds1');
    await driver.createDataset(`${poolA}/data`);
    await driver.createDataset(`${poolA}/data/ds1`, { mountpoint: mnt });
    await writeFile(path.join(mnt, 'hello.txt'), 'hello');
    const list = await driver.listDatasets(poolA);
    expect(list.map((d) => d.name)).toEqual([poolA, `${poolA}/data`, `${poolA}/data/ds1`]);
    expect(list[2]).toMatchObject({ type: 'filesystem', mountpoint: mnt });
    expect(list[2].used).toBeGreaterThan(0);
    const props = await driver.getProperties(`${poolA}/data/ds1`, ['mountpoint', 'mounted', 'used']);
    expect(props).toMatchObject({ mountpoint: mnt, mounted: 'yes' });
    expect(Number(props.used)).toBeGreaterThan(0);
    expect(await driver.exists(`${poolA}/data/ds1`)).toBe(true);
    expect(await driver.exists(`${poolA}/data/nope`)).toBe(false);
    await driver.destroy(`${poolA}/data/ds1`);
    expect(await driver.exists(`${poolA}/data/ds1`)).toBe(false);
  });

  it('refuses to destroy a dataset with snapshots ("has children")', async () => {
    const ds = `${poolA}/data/kids`;
    await driver.createDataset(ds, { mountpoint: path.join(dir, 'mnt', 'kids') });
    await driver.snapshot(ds, 's1');
    const err = await driver.destroy(ds).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetHasChildrenError);
    expect((err as Error).message).toMatch(/has snapshots or child datasets/);
    expect(await driver.exists(ds)).toBe(true);
    await driver.destroy(`${ds}@s1`);
    await driver.destroy(ds);
  });

  it('retries a busy destroy and fails clearly when it stays busy', async () => {
    const ds = `${poolA}/data/busy`;
    const mnt = path.join(dir, 'mnt', 'busy');
    await driver.createDataset(ds, { mountpoint: mnt });
    // A process whose working directory is inside the mount keeps it busy.
    const holder = spawn('sleep', ['30'], { cwd: mnt, stdio: 'ignore' });
    try {
      const err = await driver.destroy(ds, { attempts: 2, retryDelayMs: 100 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatasetBusyError);
      expect((err as Error).message).toMatch(/busy after 2 attempts/);
      expect(await driver.exists(ds)).toBe(true);
      // Released during the retries: the destroy then succeeds.
      const started = Date.now();
      const destroying = driver.destroy(ds, { attempts: 5, retryDelayMs: 300 });
      setTimeout(() => holder.kill('SIGKILL'), 400);
      await destroying;
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(await driver.exists(ds)).toBe(false);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('snapshots, clones, and sends full and incremental streams into another pool', async () => {
    const ds = `${poolA}/data/src`;
    const mnt = path.join(dir, 'mnt', 'src');
    await driver.createDataset(ds, { mountpoint: mnt });
    await writeFile(path.join(mnt, 'one.txt'), 'one');
    await driver.snapshot(ds, 's1');
    await writeFile(path.join(mnt, 'two.txt'), 'two');
    await driver.snapshot(ds, 's2');
    expect(await driver.listSnapshots(ds)).toEqual(['s1', 's2']);

    const cloneMnt = path.join(dir, 'mnt', 'clone');
    await driver.clone(`${ds}@s1`, `${poolA}/data/clone`, { mountpoint: cloneMnt });
    expect(await readFile(path.join(cloneMnt, 'one.txt'), 'utf8')).toBe('one');
    await expect(readFile(path.join(cloneMnt, 'two.txt'))).rejects.toThrow();

    await driver.createDataset(`${poolB}/data`);
    const target = `${poolB}/data/copy`;
    await driver.receive(target, driver.send(`${ds}@s1`));
    expect(await driver.listSnapshots(target)).toEqual(['s1']);
    await driver.receive(target, driver.send(`${ds}@s2`, { incrementalFrom: `${ds}@s1` }));
    expect(await driver.listSnapshots(target)).toEqual(['s1', 's2']);
    const copyMnt = path.join(dir, 'mnt', 'copy');
    await driver.setProperty(target, 'mountpoint', copyMnt);
    if ((await driver.getProperties(target, ['mounted'])).mounted !== 'yes') await driver.mount(target);
    expect(await readFile(path.join(copyMnt, 'one.txt'), 'utf8')).toBe('one');
    expect(await readFile(path.join(copyMnt, 'two.txt'), 'utf8')).toBe('two');
  });

  it('fails a send stream (instead of ending it) when zfs send fails', async () => {
    const stream = driver.send(`${poolA}/data/src@nope`);
    const chunks: Buffer[] = [];
    const err = await (async () => {
      for await (const c of stream) chunks.push(c as Buffer);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ZfsError);
    expect((err as ZfsError).stderr).toMatch(/does not exist/);
  });

  it('exports and imports a pool from its directory', async () => {
    await driver.exportPool(poolB);
    expect(await driver.poolExists(poolB)).toBe(false);
    await driver.importPool(poolB, dir);
    expect(await driver.poolExists(poolB)).toBe(true);
    expect(await driver.listSnapshots(`${poolB}/data/copy`)).toEqual(['s1', 's2']);
  });
});

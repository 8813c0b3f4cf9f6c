// The volume manager (spec §4.5/§4.6): data volumes as ZFS datasets `<pool>/data/<uuid>`,
// snapshots as `<dataset>@<uuid>` (each a volume of its own), clones, and send/receive with
// Flynn's "haves". State lives in `<volPath>/volumes.json`, replaced atomically on every change.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { isNotFound, ZfsDriver } from './driver.js';
import { DEFAULT_POOL_NAME, DEFAULT_VOLPATH, ensurePool, type PoolInfo } from './pool.js';

export type VolumeType = 'data';

/** Flynn's volume.Info. */
export interface VolumeInfo {
  id: string;
  type: VolumeType;
  meta?: Record<string, string>;
  created_at: string;
}

/** Flynn's zfs ProviderConfig. */
export interface ProviderConfig {
  dataset: string;
  working_dir?: string;
}

/** Flynn's volume.ProviderSpec. */
export interface ProviderSpec {
  id: string;
  kind: string;
  metadata?: ProviderConfig;
}

export interface Have {
  snap_id: string;
}

export interface VolumeEvent {
  type: 'create' | 'destroy';
  volume: VolumeInfo;
}

interface VolumeRecord {
  info: VolumeInfo;
  provider: string;
  /** `<pool>/data/<id>` for a data volume, `<dataset>@<snap>` for a snapshot. */
  dataset: string;
  /** Where a data volume is mounted; absent for snapshots (zfs-fuse cannot mount them). */
  mountpoint?: string;
  snapshot: boolean;
}

interface StateFile {
  version: 1;
  providers: Record<string, ProviderSpec>;
  volumes: Record<string, VolumeRecord>;
}

export type VolumeErrorCode =
  | 'not_found'
  | 'provider_not_found'
  | 'provider_exists'
  | 'invalid'
  | 'has_children'
  | 'busy';

/** A failure the API maps onto a status code (anything else is a 500 with the message). */
export class VolumeError extends Error {
  override name = 'VolumeError';
  constructor(
    readonly code: VolumeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface VolumeManagerOptions {
  driver?: ZfsDriver;
  /** Default /var/lib/flynn/volumes. Holds volumes.json and zfs/{vdev,mnt}. */
  volPath?: string;
  /** Default flynn-default (Flynn's -zpool-name). */
  poolName?: string;
  /** Size of a newly created backing file; default 70 % of the filesystem. */
  poolSize?: number;
  /** Warnings (records dropped because their dataset vanished, …). */
  warn?: (message: string) => void;
}

export const DEFAULT_PROVIDER = 'default';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Characters ZFS accepts in a component name (snapshot names come from remote haves). */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomUUID()}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export class VolumeManager extends EventEmitter<{ event: [VolumeEvent] }> {
  readonly driver: ZfsDriver;
  readonly volPath: string;
  readonly poolName: string;
  readonly stateFile: string;
  private state: StateFile;
  private lock: Promise<unknown> = Promise.resolve();
  /** The `zfs recv` streams of this pool, one after the other. */
  private receiveQueue: Promise<unknown> = Promise.resolve();
  /** Data volumes a receive is streaming into (outside the lock). */
  private readonly receiving = new Set<string>();
  private readonly warn: (message: string) => void;
  pool?: PoolInfo;

  private constructor(options: VolumeManagerOptions, state: StateFile) {
    super();
    this.driver = options.driver ?? new ZfsDriver();
    this.volPath = path.resolve(options.volPath ?? DEFAULT_VOLPATH);
    this.poolName = options.poolName ?? DEFAULT_POOL_NAME;
    this.stateFile = path.join(this.volPath, 'volumes.json');
    this.state = state;
    this.warn = options.warn ?? (() => {});
  }

  /**
   * Ensures the pool (create/import as in ensurePool), loads volumes.json and checks each record
   * against ZFS. Throws ZfsUnavailableError when ZFS cannot be used here.
   */
  static async open(options: VolumeManagerOptions = {}): Promise<VolumeManager> {
    const driver = options.driver ?? new ZfsDriver();
    const volPath = path.resolve(options.volPath ?? DEFAULT_VOLPATH);
    await mkdir(volPath, { recursive: true, mode: 0o700 });
    await driver.checkAvailable();
    const pool = await ensurePool({
      driver,
      name: options.poolName ?? DEFAULT_POOL_NAME,
      volPath,
      size: options.poolSize,
    });
    const state = await VolumeManager.readState(path.join(volPath, 'volumes.json'));
    const manager = new VolumeManager({ ...options, driver, volPath }, state);
    manager.pool = pool;
    await manager.restore();
    return manager;
  }

  private static async readState(file: string): Promise<StateFile> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, providers: {}, volumes: {} };
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    const s = parsed as Partial<StateFile>;
    if (typeof s !== 'object' || s === null || s.version !== 1 || typeof s.volumes !== 'object') {
      throw new Error(`${file}: unknown state format`);
    }
    return { version: 1, providers: s.providers ?? {}, volumes: s.volumes ?? {} };
  }

  private async restore(): Promise<void> {
    const working = path.join(this.volPath, 'zfs');
    if (
      !this.state.providers[DEFAULT_PROVIDER] ||
      this.state.providers[DEFAULT_PROVIDER].metadata?.dataset !== this.poolName
    ) {
      this.state.providers[DEFAULT_PROVIDER] = {
        id: DEFAULT_PROVIDER,
        kind: 'zfs',
        metadata: { dataset: this.poolName, working_dir: working },
      };
    }
    let changed = false;
    for (const [id, rec] of Object.entries(this.state.volumes)) {
      if (!(await this.driver.exists(rec.dataset))) {
        this.warn(`volume ${id}: dataset ${rec.dataset} no longer exists; forgetting it`);
        delete this.state.volumes[id];
        changed = true;
        continue;
      }
      if (!rec.snapshot && rec.mountpoint) await this.ensureMounted(rec);
    }
    if (changed || !(await this.stateExists())) await this.save();
  }

  private async stateExists(): Promise<boolean> {
    try {
      await readFile(this.stateFile);
      return true;
    } catch {
      return false;
    }
  }

  private async ensureMounted(rec: VolumeRecord): Promise<void> {
    const props = await this.driver.getProperties(rec.dataset, ['mounted']);
    if (props.mounted !== 'yes') await this.driver.mount(rec.dataset);
  }

  /** Unmounts a mounted dataset, retrying for a few seconds while it is busy. */
  private async unmountQuietly(dataset: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const props = await this.driver.getProperties(dataset, ['mounted']);
      if (props.mounted !== 'yes') return;
      try {
        await this.driver.unmount(dataset);
        return;
      } catch (err) {
        if (attempt >= 5) {
          throw new VolumeError('busy', `cannot receive into ${dataset}: ${(err as Error).message}`, {
            cause: err,
          });
        }
        await sleep(500);
      }
    }
  }

  private save(): Promise<void> {
    return writeFileAtomic(this.stateFile, `${JSON.stringify(this.state, null, 2)}\n`);
  }

  /** Runs state changes one at a time. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => {});
    return next;
  }

  private emitEvent(type: VolumeEvent['type'], volume: VolumeInfo): void {
    this.emit('event', { type, volume: { ...volume } });
  }

  private record(id: string): VolumeRecord {
    const rec = this.state.volumes[id];
    if (!rec) throw new VolumeError('not_found', `no volume with id "${id}"`);
    return rec;
  }

  private providerDataset(providerId: string): { dataset: string; workingDir: string } {
    const p = this.state.providers[providerId];
    if (!p) throw new VolumeError('provider_not_found', `no volume provider with id "${providerId}"`);
    return {
      dataset: p.metadata?.dataset ?? this.poolName,
      workingDir: p.metadata?.working_dir ?? path.join(this.volPath, 'zfs'),
    };
  }

  // ---- providers ----

  providers(): ProviderSpec[] {
    return Object.values(this.state.providers).map((p) => structuredClone(p));
  }

  /**
   * Adds a zfs provider whose volumes live under `metadata.dataset` (created with -p if missing;
   * its pool must exist). Unknown kinds and duplicates fail with a VolumeError.
   */
  addProvider(spec: {
    id?: string;
    kind: string;
    metadata?: Partial<ProviderConfig>;
  }): Promise<ProviderSpec> {
    return this.exclusive(async () => {
      if (spec.kind !== 'zfs') throw new VolumeError('invalid', `kind "${spec.kind}" is not known`);
      const id = spec.id || randomUUID();
      if (this.state.providers[id])
        throw new VolumeError('provider_exists', `provider "${id}" already exists`);
      const dataset = spec.metadata?.dataset || this.poolName;
      if (!/^[A-Za-z0-9][A-Za-z0-9_.:/-]*$/.test(dataset) || dataset.includes('@')) {
        throw new VolumeError('invalid', `invalid dataset name "${dataset}"`);
      }
      const workingDir = spec.metadata?.working_dir || path.join(this.volPath, 'zfs');
      if (!path.isAbsolute(workingDir))
        throw new VolumeError('invalid', 'working_dir must be an absolute path');
      if (!(await this.driver.exists(dataset))) await this.driver.createDataset(dataset, { parents: true });
      if (!(await this.driver.exists(`${dataset}/data`))) await this.driver.createDataset(`${dataset}/data`);
      const provider: ProviderSpec = { id, kind: 'zfs', metadata: { dataset, working_dir: workingDir } };
      this.state.providers[id] = provider;
      await this.save();
      return structuredClone(provider);
    });
  }

  // ---- volumes ----

  list(): VolumeInfo[] {
    return Object.values(this.state.volumes)
      .map((r) => ({ ...r.info }))
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  get(id: string): VolumeInfo | undefined {
    const rec = this.state.volumes[id];
    return rec ? { ...rec.info } : undefined;
  }

  /** Where a data volume is mounted (undefined for snapshots and unknown ids). */
  mountPath(id: string): string | undefined {
    return this.state.volumes[id]?.mountpoint;
  }

  /** The ZFS dataset (or `dataset@snap`) behind a volume. */
  datasetOf(id: string): string | undefined {
    return this.state.volumes[id]?.dataset;
  }

  isSnapshot(id: string): boolean {
    return this.state.volumes[id]?.snapshot === true;
  }

  /**
   * Creates a data volume: `zfs create -o mountpoint=<working_dir>/mnt/data/<id> <ds>/data/<id>`,
   * retried for up to 10 s (destroying partial leftovers) as Flynn does.
   */
  create(options: { provider?: string; meta?: Record<string, string> } = {}): Promise<VolumeInfo> {
    return this.exclusive(async () => {
      const { dataset: root, workingDir } = this.providerDataset(options.provider ?? DEFAULT_PROVIDER);
      const id = randomUUID();
      const dataset = `${root}/data/${id}`;
      const mountpoint = path.join(workingDir, 'mnt', 'data', id);
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await this.driver.createDataset(dataset, { mountpoint });
          break;
        } catch (err) {
          if (Date.now() >= deadline) throw err;
          if (await this.driver.exists(dataset).catch(() => false)) {
            await this.driver.destroy(dataset, { recursive: true }).catch(() => {});
          }
          await sleep(200);
        }
      }
      const info: VolumeInfo = { id, type: 'data', created_at: new Date().toISOString() };
      if (options.meta && Object.keys(options.meta).length > 0) info.meta = { ...options.meta };
      this.state.volumes[id] = {
        info,
        provider: options.provider ?? DEFAULT_PROVIDER,
        dataset,
        mountpoint,
        snapshot: false,
      };
      await this.save();
      this.emitEvent('create', info);
      return { ...info };
    });
  }

  /**
   * Destroys a volume (`zfs destroy -f`, retried while busy). A data volume that still has
   * snapshots, or a snapshot with clones, fails with VolumeError "has_children".
   */
  destroy(id: string): Promise<void> {
    return this.exclusive(async () => {
      const rec = this.record(id);
      this.notReceiving(id, 'destroy');
      try {
        await this.driver.destroy(rec.dataset);
      } catch (err) {
        if (isNotFound(err)) {
          // Already gone from ZFS: forget the record.
        } else if ((err as Error).name === 'DatasetHasChildrenError') {
          throw new VolumeError(
            'has_children',
            rec.snapshot
              ? `cannot destroy snapshot volume "${id}": it has dependent clones`
              : `cannot destroy volume "${id}": it has snapshots; destroy them first`,
            { cause: err },
          );
        } else if ((err as Error).name === 'DatasetBusyError') {
          throw new VolumeError('busy', `cannot destroy volume "${id}": ${(err as Error).message}`, {
            cause: err,
          });
        } else {
          throw err;
        }
      }
      if (rec.mountpoint) await rmdir(rec.mountpoint).catch(() => {});
      delete this.state.volumes[id];
      await this.save();
      this.emitEvent('destroy', rec.info);
    });
  }

  /** Takes a snapshot `<dataset>@<new id>` of a data volume; the snapshot is a new volume. */
  snapshot(id: string): Promise<VolumeInfo> {
    return this.exclusive(async () => {
      const rec = this.record(id);
      if (rec.snapshot)
        throw new VolumeError('invalid', `volume "${id}" is a snapshot; cannot snapshot it again`);
      this.notReceiving(id, 'snapshot');
      const snapId = randomUUID();
      const dataset = await this.driver.snapshot(rec.dataset, snapId);
      const info: VolumeInfo = { id: snapId, type: rec.info.type, created_at: new Date().toISOString() };
      if (rec.info.meta) info.meta = { ...rec.info.meta };
      this.state.volumes[snapId] = { info, provider: rec.provider, dataset, snapshot: true };
      await this.save();
      this.emitEvent('create', info);
      return { ...info };
    });
  }

  /** Clones a snapshot volume into a new writable data volume (Flynn's ForkVolume). */
  fork(id: string): Promise<VolumeInfo> {
    return this.exclusive(async () => {
      const rec = this.record(id);
      if (!rec.snapshot)
        throw new VolumeError('invalid', `volume "${id}" is not a snapshot; can only fork a snapshot`);
      const { dataset: root, workingDir } = this.providerDataset(rec.provider);
      const newId = randomUUID();
      const dataset = `${root}/data/${newId}`;
      const mountpoint = path.join(workingDir, 'mnt', 'data', newId);
      await this.driver.clone(rec.dataset, dataset, { mountpoint, parents: true });
      const info: VolumeInfo = { id: newId, type: rec.info.type, created_at: new Date().toISOString() };
      if (rec.info.meta) info.meta = { ...rec.info.meta };
      this.state.volumes[newId] = { info, provider: rec.provider, dataset, mountpoint, snapshot: false };
      await this.save();
      this.emitEvent('create', info);
      return { ...info };
    });
  }

  /** The snapshots present on the volume's dataset, oldest first, as Flynn's haves. */
  async listHaves(id: string): Promise<Have[]> {
    const rec = this.record(id);
    const base = rec.dataset.split('@')[0];
    return (await this.driver.listSnapshots(base)).map((snap_id) => ({ snap_id }));
  }

  /**
   * Sends a snapshot volume. When the last of the receiver's haves exists here, the stream is
   * incremental from it (`zfs send -i`), else it is a full stream. Returns the stream and which
   * kind it is; the stream fails (rather than ends) if zfs send fails.
   */
  async send(id: string, haves: unknown = []): Promise<{ stream: Readable; incrementalFrom?: string }> {
    const rec = this.record(id);
    if (!rec.snapshot)
      throw new VolumeError('invalid', `volume "${id}" is not a snapshot; can only send a snapshot`);
    const [base, snap] = rec.dataset.split('@');
    let latestRemote: string | undefined;
    if (Array.isArray(haves) && haves.length > 0) {
      const last = haves[haves.length - 1] as Partial<Have> | null;
      if (
        last &&
        typeof last === 'object' &&
        typeof last.snap_id === 'string' &&
        SAFE_NAME.test(last.snap_id)
      ) {
        latestRemote = last.snap_id;
      }
    }
    if (latestRemote !== undefined) {
      const local = await this.driver.listSnapshots(base);
      if (latestRemote === snap) {
        throw new VolumeError('invalid', `the receiver already has snapshot "${snap}"`);
      }
      const from = local.indexOf(latestRemote);
      if (from >= 0 && from < local.indexOf(snap)) {
        return {
          stream: this.driver.send(rec.dataset, { incrementalFrom: `${base}@${latestRemote}` }),
          incrementalFrom: latestRemote,
        };
      }
    }
    return { stream: this.driver.send(rec.dataset) };
  }

  /**
   * Receives a snapshot stream into a data volume (`zfs recv -F`, which rolls back local changes)
   * and exposes the newest snapshot of the dataset as a new snapshot volume.
   *
   * The stream may take hours: only the state changes before and after it hold the manager's
   * lock, so other volumes are created, snapshotted and received meanwhile. The volume itself is
   * marked receiving: a second receive, a snapshot or a destroy of it is refused as busy.
   */
  async receive(id: string, input: Readable): Promise<VolumeInfo> {
    const rec = await this.exclusive(async () => {
      const r = this.record(id);
      if (r.snapshot)
        throw new VolumeError('invalid', `volume "${id}" is a snapshot; cannot receive into it`);
      this.notReceiving(id, 'receive into');
      this.receiving.add(id);
      try {
        // zfs-fuse fails a full `recv -F` onto a mounted filesystem now and then ("cannot receive
        // new filesystem stream: I/O error"); recv replaces the contents anyway, so unmount first
        // and mount again afterwards.
        if (r.mountpoint) await this.unmountQuietly(r.dataset);
      } catch (err) {
        this.receiving.delete(id);
        throw err;
      }
      return r;
    });
    try {
      try {
        await this.oneReceiveAtATime(() => this.driver.receive(rec.dataset, input, { force: true }));
      } catch (err) {
        if (rec.mountpoint) await this.exclusive(() => this.ensureMounted(rec)).catch(() => {});
        throw new Error(`zfs recv rejected snapshot data: ${(err as Error).message}`, { cause: err });
      }
      return await this.exclusive(async () => {
        if (rec.mountpoint) await this.ensureMounted(rec);
        const snaps = await this.driver.listSnapshots(rec.dataset);
        const newest = snaps[snaps.length - 1];
        if (newest === undefined)
          throw new Error('zfs recv misplaced snapshot data: no snapshot after receive');
        const snapId = randomUUID();
        const info: VolumeInfo = { id: snapId, type: rec.info.type, created_at: new Date().toISOString() };
        if (rec.info.meta) info.meta = { ...rec.info.meta };
        this.state.volumes[snapId] = {
          info,
          provider: rec.provider,
          dataset: `${rec.dataset}@${newest}`,
          snapshot: true,
        };
        await this.save();
        this.emitEvent('create', info);
        return { ...info };
      });
    } finally {
      this.receiving.delete(id);
    }
  }

  /**
   * Under zfs-fuse (no /dev/zfs), one `zfs recv` at a time into this pool: a CI run saw zfs-fuse
   * deadlock (every mount of it hanging, all its threads waiting) while two volumes were received
   * onto one host at once. OpenZFS receives in parallel.
   */
  private oneReceiveAtATime<T>(run: () => Promise<T>): Promise<T> {
    if (existsSync('/dev/zfs')) return run();
    const turn = this.receiveQueue.then(run);
    this.receiveQueue = turn.catch(() => {});
    return turn;
  }

  /** Refuses to act on a volume whose receive is under way. */
  private notReceiving(id: string, what: string): void {
    if (this.receiving.has(id))
      throw new VolumeError('busy', `cannot ${what} volume "${id}": a receive into it is under way`);
  }

  /** True for ids that look like Flynn volume ids (UUIDs). */
  static isVolumeId(id: string): boolean {
    return UUID_RE.test(id);
  }
}

/**
 * Opens the manager, or explains why volumes are disabled (not root, no zfs-fuse daemon, no zfs
 * binaries): the daemon keeps running and the API answers 503 with that message.
 */
export async function tryOpenVolumeManager(
  options: VolumeManagerOptions = {},
): Promise<{ manager: VolumeManager; error?: undefined } | { manager?: undefined; error: Error }> {
  try {
    return { manager: await VolumeManager.open(options) };
  } catch (err) {
    return { error: err instanceof Error ? err : new Error(String(err)) };
  }
}

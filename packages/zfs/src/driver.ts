// The zpool/zfs command driver. Every call spawns the binary with an argument array; errors carry
// stderr. Works with OpenZFS and zfs-fuse (see parse.ts for the dialect differences).

import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RunOptions, type RunResult, run, runStream, ZfsError } from './exec.js';
import { isResilvering, type PoolStatus, parsePoolStatus, parseRows, parseSize } from './parse.js';

export interface ZfsDriverOptions {
  /** Default "zpool" (looked up on PATH). */
  zpool?: string;
  /** Default "zfs". */
  zfs?: string;
  /** Per-command timeout; default 120 s. */
  timeoutMs?: number;
}

export interface PoolSummary {
  name: string;
  size?: number;
  allocated?: number;
  free?: number;
  health: string;
}

export type DatasetType = 'filesystem' | 'snapshot' | 'volume';

export interface DatasetSummary {
  name: string;
  type: string;
  /** Bytes; approximate when the dialect prints human sizes (zfs-fuse). */
  used?: number;
  avail?: number;
  mountpoint: string;
}

export interface CreateDatasetOptions {
  mountpoint?: string;
  /** Extra `-o key=value` properties. */
  properties?: Record<string, string>;
  /** `-p`: create missing parents. */
  parents?: boolean;
}

export interface DestroyOptions {
  /** `-r` (snapshots and children too). Off by default: a dataset with children fails. */
  recursive?: boolean;
  /** Attempts while the dataset is busy; default 5. */
  attempts?: number;
  /** Pause between attempts; default 1000 ms. */
  retryDelayMs?: number;
}

export interface SendOptions {
  /** `-i <from>`: an incremental stream from this snapshot (a full name or just "@snap"/"snap"). */
  incrementalFrom?: string;
}

export interface WaitResilverOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/** `zfs destroy` failed because the dataset has snapshots, clones or child datasets. */
export class DatasetHasChildrenError extends ZfsError {
  override name = 'DatasetHasChildrenError';
}

/** `zfs destroy` kept failing because the dataset stayed busy (mounted and in use). */
export class DatasetBusyError extends ZfsError {
  override name = 'DatasetBusyError';
}

const BUSY = /dataset is busy|target is busy|device is busy|umount failed|cannot unmount/i;
const HAS_CHILDREN = /has children|has dependent clones/i;
const NOT_EXIST = /does not exist|no such pool|dataset does not exist|could not find any snapshots/i;

export function isNotFound(err: unknown): boolean {
  return err instanceof ZfsError && NOT_EXIST.test(err.stderr);
}

export class ZfsDriver {
  readonly zpoolBin: string;
  readonly zfsBin: string;
  private readonly timeoutMs: number;

  constructor(options: ZfsDriverOptions = {}) {
    this.zpoolBin = options.zpool ?? 'zpool';
    this.zfsBin = options.zfs ?? 'zfs';
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  zpool(args: string[], options: RunOptions = {}): Promise<RunResult> {
    return run(this.zpoolBin, args, { timeoutMs: this.timeoutMs, ...options });
  }

  zfs(args: string[], options: RunOptions = {}): Promise<RunResult> {
    return run(this.zfsBin, args, { timeoutMs: this.timeoutMs, ...options });
  }

  /** Throws ZfsUnavailableError unless both binaries run and the daemon/module answers. */
  async checkAvailable(): Promise<void> {
    await this.zpool(['list', '-H', '-o', 'name']);
    await this.zfs(['list', '-H', '-o', 'name']);
  }

  // ---- pools ----

  async listPools(): Promise<PoolSummary[]> {
    const cols = ['name', 'size', 'allocated', 'free', 'health'] as const;
    const { stdout } = await this.zpool(['list', '-H', '-o', cols.join(',')]);
    return parseRows(stdout, cols).map((r) => ({
      name: r.name,
      size: parseSize(r.size),
      allocated: parseSize(r.allocated),
      free: parseSize(r.free),
      health: r.health,
    }));
  }

  async poolExists(name: string): Promise<boolean> {
    return (await this.listPools()).some((p) => p.name === name);
  }

  async poolStatus(name: string): Promise<PoolStatus> {
    const { stdout } = await this.zpool(['status', name]);
    return parsePoolStatus(stdout);
  }

  /** `zpool create [-f] [-m mountpoint] <name> <vdevs…>` */
  async createPool(
    name: string,
    vdevs: string[],
    options: { mountpoint?: string; force?: boolean } = {},
  ): Promise<void> {
    const args = ['create'];
    if (options.force) args.push('-f');
    if (options.mountpoint !== undefined) args.push('-m', options.mountpoint);
    await this.zpool([...args, name, ...vdevs]);
  }

  /** `zpool import -d <dir> <name>` */
  async importPool(name: string, dir: string): Promise<void> {
    await this.zpool(['import', '-d', dir, name]);
  }

  async exportPool(name: string, force = false): Promise<void> {
    await this.zpool(force ? ['export', '-f', name] : ['export', name]);
  }

  async destroyPool(name: string, force = false): Promise<void> {
    await this.zpool(force ? ['destroy', '-f', name] : ['destroy', name]);
  }

  /** `zpool attach <pool> <device> <newDevice>`: mirrors device onto newDevice (a resilver starts). */
  async attach(pool: string, device: string, newDevice: string): Promise<void> {
    await this.zpool(['attach', pool, device, newDevice]);
  }

  async detach(pool: string, device: string): Promise<void> {
    await this.zpool(['detach', pool, device]);
  }

  /** Polls `zpool status` until no resilver is running (zfs-fuse has no `zpool wait`). */
  async waitForResilver(pool: string, options: WaitResilverOptions = {}): Promise<PoolStatus> {
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    const interval = options.intervalMs ?? 200;
    for (;;) {
      const status = await this.poolStatus(pool);
      if (!isResilvering(status)) return status;
      if (Date.now() >= deadline) {
        throw new Error(`resilver of pool ${pool} still running after ${options.timeoutMs ?? 600_000} ms`);
      }
      await sleep(interval);
    }
  }

  // ---- datasets ----

  async createDataset(name: string, options: CreateDatasetOptions = {}): Promise<void> {
    const args = ['create'];
    if (options.parents) args.push('-p');
    if (options.mountpoint !== undefined) args.push('-o', `mountpoint=${options.mountpoint}`);
    for (const [k, v] of Object.entries(options.properties ?? {})) args.push('-o', `${k}=${v}`);
    await this.zfs([...args, name]);
  }

  async exists(name: string): Promise<boolean> {
    try {
      await this.zfs(['list', '-H', '-o', 'name', name]);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * `zfs list -H -o name,type,used,avail,mountpoint`, optionally below `root` (`-r`, or `-d depth`)
   * and of the given types.
   */
  async listDatasets(
    root?: string,
    options: { types?: DatasetType[]; depth?: number; recursive?: boolean } = {},
  ): Promise<DatasetSummary[]> {
    const cols = ['name', 'type', 'used', 'avail', 'mountpoint'] as const;
    const args = ['list', '-H', '-o', cols.join(',')];
    if (options.types) args.push('-t', options.types.join(','));
    if (options.depth !== undefined) args.push('-d', String(options.depth));
    else if (options.recursive ?? root !== undefined) args.push('-r');
    if (root !== undefined) args.push(root);
    const { stdout } = await this.zfs(args);
    return parseRows(stdout, cols).map((r) => ({
      name: r.name,
      type: r.type,
      used: parseSize(r.used),
      avail: parseSize(r.avail),
      mountpoint: r.mountpoint,
    }));
  }

  /** `zfs get -H -p -o property,value <props|all> <name>`: exact (parsable) values in both dialects. */
  async getProperties(name: string, properties: string[] = ['all']): Promise<Record<string, string>> {
    const { stdout } = await this.zfs([
      'get',
      '-H',
      '-p',
      '-o',
      'property,value',
      properties.join(','),
      name,
    ]);
    const out: Record<string, string> = {};
    for (const r of parseRows(stdout, ['property', 'value'] as const)) out[r.property] = r.value;
    return out;
  }

  async setProperty(name: string, property: string, value: string): Promise<void> {
    await this.zfs(['set', `${property}=${value}`, name]);
  }

  async mount(name: string): Promise<void> {
    await this.zfs(['mount', name]);
  }

  async unmount(name: string, force = false): Promise<void> {
    await this.zfs(force ? ['unmount', '-f', name] : ['unmount', name]);
  }

  /**
   * `zfs destroy -f [-r] <name>`, retried while the dataset is busy (default 5 attempts, 1 s
   * apart). A dataset with snapshots or children fails at once with DatasetHasChildrenError.
   */
  async destroy(name: string, options: DestroyOptions = {}): Promise<void> {
    const attempts = options.attempts ?? 5;
    const delay = options.retryDelayMs ?? 1000;
    const args = ['destroy', '-f'];
    if (options.recursive) args.push('-r');
    args.push(name);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.zfs(args);
        return;
      } catch (err) {
        if (!(err instanceof ZfsError)) throw err;
        if (HAS_CHILDREN.test(err.stderr)) {
          throw new DatasetHasChildrenError(
            `cannot destroy ${name}: it has snapshots or child datasets (${err.stderr.split('\n')[0]})`,
            err.command,
            err.args,
            err.exitCode,
            err.stderr,
          );
        }
        if (!BUSY.test(err.stderr)) throw err;
        if (attempt >= attempts) {
          // A failed forced destroy can leave the dataset unmounted: put it back as it was.
          if (!name.includes('@')) await this.mount(name).catch(() => {});
          throw new DatasetBusyError(
            `cannot destroy ${name}: dataset is busy after ${attempts} attempts (${err.stderr.split('\n')[0]})`,
            err.command,
            err.args,
            err.exitCode,
            err.stderr,
          );
        }
        await sleep(delay);
      }
    }
  }

  /** `zfs snapshot <dataset>@<snap>`; returns the full snapshot name. */
  async snapshot(dataset: string, snap: string): Promise<string> {
    const full = `${dataset}@${snap}`;
    await this.zfs(['snapshot', full]);
    return full;
  }

  /**
   * Snapshot names (the part after "@") of one dataset, oldest first (by createtxg; `zfs get -t`
   * is missing in zfs-fuse, so this uses `zfs list -t snapshot -d 1`).
   */
  async listSnapshots(dataset: string): Promise<string[]> {
    const { stdout } = await this.zfs([
      'list',
      '-H',
      '-t',
      'snapshot',
      '-d',
      '1',
      '-o',
      'name,createtxg',
      '-s',
      'createtxg',
      dataset,
    ]);
    return parseRows(stdout, ['name', 'txg'] as const)
      .map((r) => r.name)
      .filter((n) => n.startsWith(`${dataset}@`))
      .map((n) => n.slice(dataset.length + 1));
  }

  /** `zfs clone [-p] [-o mountpoint=…] <snapshot> <target>` */
  async clone(snapshot: string, target: string, options: CreateDatasetOptions = {}): Promise<void> {
    const args = ['clone'];
    if (options.parents) args.push('-p');
    if (options.mountpoint !== undefined) args.push('-o', `mountpoint=${options.mountpoint}`);
    for (const [k, v] of Object.entries(options.properties ?? {})) args.push('-o', `${k}=${v}`);
    await this.zfs([...args, snapshot, target]);
  }

  /**
   * `zfs send [-i from] <snapshot>` as a readable stream. The stream fails (instead of ending) if
   * zfs exits non-zero, with stderr in the error.
   */
  send(snapshot: string, options: SendOptions = {}): Readable {
    const args = ['send'];
    if (options.incrementalFrom !== undefined) args.push('-i', options.incrementalFrom);
    args.push(snapshot);
    return runStream(this.zfsBin, args);
  }

  /** `zfs recv [-F] <dataset>` reading the stream from `input`. */
  async receive(dataset: string, input: Readable, options: { force?: boolean } = {}): Promise<void> {
    const args = ['recv'];
    if (options.force ?? true) args.push('-F');
    args.push(dataset);
    await this.zfs(args, { stdin: input, timeoutMs: Math.max(this.timeoutMs, 3_600_000) });
  }
}

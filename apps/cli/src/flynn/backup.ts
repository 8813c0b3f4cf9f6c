import { closeSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { App, Artifact, HostRef, Release, VolumeRecord } from '@flynn-edge/app-model';
import {
  ArchiveWriter,
  type ArtifactEntry,
  BACKUP_FORMAT,
  type BackupManifest,
  backupTopDir,
  captureKv,
  EXCLUDED_PREFIXES,
  encodeKvNdjsonGz,
  FORMAT_VERSION,
  fetchArtifact,
  type KvSnapshot,
  type OnBytes,
  paths,
  prettyJson,
  sendVolume,
  type VolumeEntry,
  writeFileAtomically,
} from '@flynn-edge/backup';
import { FLYNN_EDGE_VERSION } from '@flynn-edge/service-kit';
import type { Command } from 'commander';
import { describeNetworkError, getJson } from '../discoverd-http.js';
import { listHosts } from '../hosts.js';
import { CliError } from '../output.js';
import { contextOf } from './context.js';
import type { ClusterTarget } from './target.js';
import { CliTransport } from './transport.js';

// `flynn cluster backup` (flynn-ops.md §8.2): the store at one revision, every `tar` artifact a
// release names, every volume as a gzipped `zfs send` stream, in one ustar file written to
// `<file>.partial` and renamed (or to stdout). The big parts are spooled to temp files first (the
// manifest, which comes first, holds their sizes; so do the tar headers), then streamed into the
// archive. `flynn export` (export.ts) reuses the pieces below.

/** The store's records by key (one revision's). */
export type Records = Map<string, string>;

export function recordsOf(kv: KvSnapshot): Records {
  return new Map(kv.pairs.map((p) => [p.key, p.value]));
}

export function record<T>(records: Records, key: string): T | undefined {
  const v = records.get(key);
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v) as T;
  } catch {
    throw new CliError(`the cluster store holds invalid JSON at ${key}`);
  }
}

/** Every record under a prefix, parsed. */
export function recordsUnder<T>(records: Records, prefix: string): T[] {
  const out: T[] = [];
  for (const key of records.keys()) if (key.startsWith(prefix)) out.push(record<T>(records, key) as T);
  return out;
}

/** The store at one revision, from the first discoverd server that answers. */
export async function captureStore(target: ClusterTarget, t: CliTransport): Promise<KvSnapshot> {
  const failures: string[] = [];
  for (const server of target.discoverd) {
    try {
      return await captureKv(t, server);
    } catch (err) {
      if (err instanceof Error && err.name === 'TransferError') throw new CliError(err.message);
      failures.push(`${server}: ${describeNetworkError(err, 600_000)}`);
    }
  }
  throw new CliError(`no discoverd server answered: ${failures.join('; ')}`);
}

/** The hosts, each API base URL trusted with the cluster key (they come from discoverd). */
export async function clusterHosts(target: ClusterTarget, t: CliTransport): Promise<HostRef[]> {
  const hosts = await listHosts(target.discoverd, target.clusterKey);
  for (const h of hosts) t.trustUrl(target.hostUrl(h));
  return hosts;
}

/** A file an archive entry is copied from, and the entry's path. */
export interface Spooled {
  path: string;
  file: string;
}

/**
 * The tar artifacts among `artifacts`, fetched from the hosts (one fetch per sha256). Those in
 * `optional` (an old release's) are best effort: one that no host gives is left out with a warning.
 */
export async function spoolArtifacts(
  run: CaptureRun,
  artifacts: Artifact[],
  optional: Set<string> = new Set(),
): Promise<{ entries: ArtifactEntry[]; files: Spooled[] }> {
  const urls = run.hosts.map((h) => run.target.hostUrl(h));
  const bySha = new Map<string, { file: string; size: number }>();
  const entries: ArtifactEntry[] = [];
  const files: Spooled[] = [];
  for (const a of artifacts) {
    if (a.type !== 'tar') continue;
    let got = bySha.get(a.sha256);
    if (!got) {
      const file = join(run.dir, `artifact-${a.id}`);
      try {
        const { size } = await fetchArtifact(run.t, urls, a.sha256, file, run.bar.spooled);
        got = { file, size };
      } catch (err) {
        rmSync(file, { force: true });
        if (!optional.has(a.id)) throw new CliError(`artifact ${a.id}: ${(err as Error).message}`);
        run.bar.note(`warning: artifact ${a.id} of an old release left out: ${(err as Error).message}`);
        continue;
      }
      bySha.set(a.sha256, got);
    }
    entries.push({ id: a.id, sha256: a.sha256, size: got.size });
    files.push({ path: paths.artifact(a.id), file: got.file });
  }
  return { entries, files };
}

/** Each volume sent from its host into a gzip file, one after the other. */
export async function spoolVolumes(
  run: CaptureRun,
  volumes: { record: VolumeRecord; app: string }[],
): Promise<{ entries: VolumeEntry[]; files: Spooled[] }> {
  const entries: VolumeEntry[] = [];
  const files: Spooled[] = [];
  for (const { record: v, app } of volumes) {
    const host = run.hosts.find((h) => h.id === v.host_id);
    if (!host) throw new CliError(`cannot back up volume ${v.id}: host ${v.host_id} unreachable`);
    const file = join(run.dir, `volume-${v.id}`);
    let sent: { snapshotId: string; streamBytes: number };
    try {
      sent = await sendVolume(
        run.t,
        { id: host.id, url: run.target.hostUrl(host) },
        { id: v.id, app },
        file,
        run.bar.spooled,
      );
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    entries.push({
      id: v.id,
      app_id: v.app_id,
      app,
      process_type: v.process_type,
      path: v.path,
      host_id: v.host_id,
      snapshot_id: sent.snapshotId,
      created_at: v.created_at,
      stream_bytes: sent.streamBytes,
    });
    files.push({ path: paths.volume(v.id), file });
  }
  return { entries, files };
}

/** Every volume record (`volumes/<app id>/<volume id>`) with its app's name. */
export function volumeRecords(records: Records, appId?: string): { record: VolumeRecord; app: string }[] {
  return recordsUnder<VolumeRecord>(records, appId ? `volumes/${appId}/` : 'volumes/').map((v) => ({
    record: v,
    app: record<string>(records, `app-ids/${v.app_id}`) ?? v.app_id,
  }));
}

/** Bytes as the bar shows them. */
function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/**
 * A one-line bar on a terminal's stderr, redrawn at most 4 times a second: first the bytes
 * spooled from the hosts and their rate (the total is not known yet), then the archive's bytes
 * written against its size.
 */
export class ProgressBar {
  private last = 0;
  private started = Date.now();
  private bytes = 0;
  private total = 0;
  private writing = false;
  private drawn = false;

  constructor(private readonly enabled: boolean) {}

  /** Bytes arrived from a host into the spool dir. */
  readonly spooled: OnBytes = (n) => {
    this.bytes += n;
    this.maybeDraw();
  };

  /** From now on: the archive's bytes written, of `total`. */
  startWriting(total: number): void {
    this.writing = true;
    this.total = total;
    this.bytes = 0;
    this.started = Date.now();
  }

  update(bytes: number): void {
    this.bytes = bytes;
    this.maybeDraw();
  }

  /** A line of its own (a warning); the bar comes back below it. */
  note(line: string): void {
    if (this.enabled && this.drawn) process.stderr.write('\r\x1b[K');
    process.stderr.write(`${line}\n`);
    this.drawn = false;
  }

  private maybeDraw(): void {
    const now = Date.now();
    if (!this.enabled || now - this.last < 250) return;
    this.last = now;
    this.draw(now);
  }

  private draw(now: number): void {
    const secs = Math.max((now - this.started) / 1000, 0.001);
    const rate = `${human(this.bytes)} ${human(this.bytes / secs)}/s`;
    if (!this.writing) {
      process.stderr.write(`\rreading from the hosts: ${rate}\x1b[K`);
    } else {
      const frac = this.total > 0 ? Math.min(this.bytes / this.total, 1) : 0;
      const width = 30;
      const filled = Math.round(frac * width);
      const bar = `[${'='.repeat(filled)}${' '.repeat(width - filled)}]`;
      process.stderr.write(`\r${bar} ${Math.floor(frac * 100)}% ${rate}\x1b[K`);
    }
    this.drawn = true;
  }

  /** Ends the bar's line (also when the backup failed, before its error is printed). */
  finish(): void {
    if (!this.enabled || (!this.drawn && this.bytes === 0)) return;
    this.draw(Date.now());
    process.stderr.write('\n');
    this.drawn = false;
  }
}

export interface ArchiveOptions {
  top: string;
  mtime: Date;
  /** `--file`, or stdout when absent. */
  file?: string;
  bar: ProgressBar;
  /** Roughly the archive's size (the bar's 100%). */
  total: number;
}

/** The archive into `--file` (atomically) or stdout, with the progress bar. */
export async function writeArchive(
  opts: ArchiveOptions,
  fill: (w: ArchiveWriter) => Promise<void>,
): Promise<void> {
  const { bar } = opts;
  bar.startWriting(opts.total);
  const produce = async (out: Writable) => {
    const w = new ArchiveWriter(out, {
      top: opts.top,
      mtime: opts.mtime,
      onProgress: (bytes) => bar.update(bytes),
    });
    await fill(w);
    await w.finish();
  };
  if (opts.file) await writeFileAtomically(opts.file, produce);
  else await produce(process.stdout);
}

/** The spooled files' size (the progress bar's 100%). */
export function spooledBytes(files: Spooled[]): number {
  return files.reduce((n, f) => n + statSync(f.file).size, 0);
}

/** Adds spooled files in order. */
export async function addSpooled(w: ArchiveWriter, files: Spooled[]): Promise<void> {
  for (const f of files) await w.addFile(f.path, f.file);
}

/**
 * Runs `work` with a fresh spool dir (mode 0700): next to `file` (the archive's size again is
 * needed there, and `/tmp` may be small), else in the temp dir; removed afterwards.
 * `<file>.partial` is created first, so a directory that cannot take the file fails before
 * anything is read. A SIGINT, SIGTERM or SIGHUP removes both before the process exits.
 */
export async function withSpoolDir<T>(
  file: string | undefined,
  noun: string,
  work: (dir: string) => Promise<T>,
): Promise<T> {
  const partial = file && `${file}.partial`;
  let dir: string;
  try {
    if (partial) closeSync(openSync(partial, 'w', 0o600));
    dir = mkdtempSync(join(file ? dirname(file) : tmpdir(), '.flynn-backup-'));
  } catch (err) {
    if (partial) rmSync(partial, { force: true });
    throw new CliError(`error creating ${noun} file: ${(err as Error).message}`);
  }
  // Success renamed the partial file; any failure leaves it behind here.
  const clean = () => {
    rmSync(dir, { recursive: true, force: true });
    if (partial) rmSync(partial, { force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    clean();
    process.stderr.write(`flynn: interrupted (${signal}); nothing written\n`);
    process.exit(128 + SIGNAL_NUMBERS[signal]!);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal).once('SIGHUP', onSignal);
  try {
    return await work(dir);
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal).off('SIGHUP', onSignal);
    clean();
  }
}

/** The signals a transfer is stopped by, with their numbers (exit status 128 + n). */
export const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** Refuses to put a tar on a terminal (exit 2). */
export function refuseTerminal(file: string | undefined): void {
  if (!file && process.stdout.isTTY) {
    throw new CliError('refusing to write a tar to a terminal; use --file', 2);
  }
}

/** Any failure as one CliError line (the transfers throw plain Errors). */
export async function asCliError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError((err as Error)?.message ?? String(err));
  }
}

/** `cluster/config`, the discoverd app's DISCOVERD_PEERS (else the Raft peers), the hosts' IPs. */
async function clusterInfo(
  target: ClusterTarget,
  records: Records,
  hosts: HostRef[],
): Promise<BackupManifest['cluster']> {
  const config = record<{ domain?: string; bootstrap_id?: string }>(records, 'cluster/config') ?? {};
  const discoverd = record<App>(records, 'apps/discoverd');
  const release = discoverd?.release
    ? record<Release>(records, `releases/${discoverd.id}/${discoverd.release}`)
    : undefined;
  let peers = release?.env?.DISCOVERD_PEERS ?? '';
  if (peers === '') {
    for (const server of target.discoverd) {
      try {
        const { value } = await getJson<string[]>(`${server}/raft/peers`, { clusterKey: target.clusterKey });
        peers = value.join(',');
        break;
      } catch {
        // the next server
      }
    }
  }
  const ips = [...new Set(hosts.map((h) => h.addr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')))];
  const cluster: BackupManifest['cluster'] = {
    domain: config.domain ?? target.domain ?? '',
    hosts: ips,
    discoverd_peers: peers,
  };
  if (config.bootstrap_id) cluster.bootstrap_id = config.bootstrap_id;
  return cluster;
}

/** The releases apps run now: each app's `release` and its formation's. */
export function currentReleaseIds(records: Records): Set<string> {
  const ids = new Set<string>();
  for (const app of recordsUnder<App>(records, 'apps/')) if (app?.release) ids.add(app.release);
  for (const f of recordsUnder<{ release?: string }>(records, 'formations/'))
    if (f?.release) ids.add(f.release);
  return ids;
}

/** Every artifact record a release names, once, by id. */
export function releasedArtifacts(records: Records, releases: Release[]): Artifact[] {
  const ids = [...new Set(releases.flatMap((r) => r.artifacts ?? []))].sort();
  return ids.map((id) => record<Artifact>(records, `artifacts/${id}`)).filter((a): a is Artifact => !!a);
}

interface BackupOptions {
  file?: string;
  volumes: boolean;
  quiet?: boolean;
}

/** What a backup or an export works from: the store at one revision, the hosts, a spool dir. */
export interface CaptureRun {
  target: ClusterTarget;
  t: CliTransport;
  started: Date;
  dir: string;
  kv: KvSnapshot;
  records: Records;
  hosts: HostRef[];
  bar: ProgressBar;
}

export interface CaptureOptions {
  file?: string;
  quiet?: boolean;
  /** "backup" or "export" (in `error creating <noun> file: …`). */
  noun: string;
}

/** Captures the store and the hosts, then runs `work` with a spool dir; any failure is one line. */
export async function capture(
  cmd: Command,
  opts: CaptureOptions,
  work: (run: CaptureRun) => Promise<void>,
): Promise<void> {
  refuseTerminal(opts.file);
  const ctx = await contextOf(cmd);
  const t = new CliTransport(ctx.target);
  const started = new Date();
  const bar = new ProgressBar(opts.quiet !== true && process.stderr.isTTY === true);
  await withSpoolDir(opts.file, opts.noun, (dir) =>
    asCliError(async () => {
      try {
        const kv = await captureStore(ctx.target, t);
        const records = recordsOf(kv);
        const hosts = await clusterHosts(ctx.target, t);
        await work({ target: ctx.target, t, started, dir, kv, records, hosts, bar });
      } finally {
        bar.finish();
      }
    }),
  );
}

async function backup(opts: BackupOptions, cmd: Command): Promise<void> {
  refuseTerminal(opts.file);
  process.stderr.write('Creating cluster backup...\n');
  await capture(cmd, { file: opts.file, quiet: opts.quiet, noun: 'backup' }, async (run) => {
    const { target, started, kv, records, hosts } = run;
    // The current releases' artifacts are needed to start the apps again; older releases' are
    // taken when a host still has them (docs/backup-format.md, "what a backup may leave out").
    const releases = recordsUnder<Release>(records, 'releases/');
    const current = currentReleaseIds(records);
    const needed = new Set(
      releasedArtifacts(
        records,
        releases.filter((r) => current.has(r.id)),
      ).map((a) => a.id),
    );
    const all = releasedArtifacts(records, releases);
    const artifacts = await spoolArtifacts(
      run,
      all,
      new Set(all.filter((a) => !needed.has(a.id)).map((a) => a.id)),
    );
    const volumes = opts.volumes
      ? await spoolVolumes(run, volumeRecords(records))
      : { entries: [], files: [] };
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      version: FORMAT_VERSION,
      created_at: started.toISOString(),
      flynn_edge_version: FLYNN_EDGE_VERSION,
      cluster: await clusterInfo(target, records, hosts),
      kv: { revision: kv.revision, count: kv.pairs.length, excluded_prefixes: [...EXCLUDED_PREFIXES] },
      artifacts: artifacts.entries,
      volumes: volumes.entries,
      volumes_included: opts.volumes,
    };
    const kvData = await encodeKvNdjsonGz(kv.pairs);
    const total = kvData.length + spooledBytes(artifacts.files) + spooledBytes(volumes.files);
    await writeArchive(
      { top: backupTopDir(started), mtime: started, file: opts.file, bar: run.bar, total },
      async (w) => {
        await w.addBuffer(paths.manifest, prettyJson(manifest));
        await w.addBuffer(paths.kv, kvData);
        await addSpooled(w, artifacts.files);
        await addSpooled(w, volumes.files);
      },
    );
  });
  process.stderr.write('Backup complete.\n');
}

export function registerBackupCommand(cluster: Command): void {
  cluster
    .command('backup')
    .description(
      'write a backup of the cluster (store, artifacts, volumes) as a tar; it holds secrets (mode 0600)',
    )
    .option('--file <file>', 'write to this file (default: stdout)')
    .option('--no-volumes', 'leave the volumes out')
    .option('-q, --quiet', 'no progress bar')
    .action((opts: BackupOptions, cmd: Command) => backup(opts, cmd));
}

import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type App,
  type Artifact,
  appJobs,
  checkAppName,
  type Formation,
  type HostRef,
  isLive,
  keys,
  normalizeApp,
  type Release,
  type StoreOp,
} from '@flynn-edge/app-model';
import {
  ArchiveError,
  destroyVolume,
  type ExportManifest,
  openEntry,
  paths,
  placeVolumes,
  pushArtifact,
  readEntry,
  receiveVolumeRetrying,
  type VerifiedArchive,
  type VolumeEntry,
  verifyExport,
} from '@flynn-edge/backup';
import { type Command, InvalidArgumentError } from 'commander';
import { CliError, println } from '../output.js';
import { SIGNAL_NUMBERS } from './backup.js';
import { contextOf, type FlynnContext } from './context.js';
import { addDefaultRoute } from './default-route.js';
import { say } from './prompt.js';
import { parentRef, type RouteJson, RouterApi, routerError } from './route.js';
import { CliTransport } from './transport.js';

// `flynn import` (flynn-ops §10.2): an app export (`flynn -a APP export`) becomes a new app on this
// cluster: records under new ids, artifacts and volume data onto hosts, jobs as the formation
// says, and with --routes the exported routes pointed at it. The archive is verified whole before
// anything is created; a failure after that undoes what was created before the error is printed.

interface ImportOptions {
  file?: string;
  name?: string;
  quiet?: boolean;
  routes?: boolean;
  jobs: number;
}

/** What an import created, for undoing it. */
interface Created {
  app?: App;
  keys: string[];
  routes: RouteJson[];
  volumes: { host: HostRef; id: string }[];
}

function parseJobs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('want an integer from 1 to 64');
  return n;
}

/** Flynn's renaming: the first occurrence of the old app name in a service name. */
const rename = (service: string, from: string, to: string) =>
  from === to ? service : service.replace(from, to);

function renameServices(processes: Release['processes'], from: string, to: string): Release['processes'] {
  const out: Release['processes'] = {};
  for (const [type, p] of Object.entries(processes)) {
    out[type] = {
      ...p,
      ...(p.service !== undefined && { service: rename(p.service, from, to) }),
      ...(p.ports && {
        ports: p.ports.map((port) =>
          port.service
            ? { ...port, service: { ...port.service, name: rename(port.service.name, from, to) } }
            : port,
        ),
      }),
    };
  }
  return out;
}

/**
 * The archive on disk: the file given, or stdin spooled to a private temp dir, whose removal is
 * handed to `onCleanup` before anything is written into it.
 */
async function archiveFile(
  file: string | undefined,
  onCleanup: (fn: () => Promise<void>) => void,
): Promise<string> {
  // verifyExport says Flynn's `error opening export file: …` for a file it cannot open.
  if (file !== undefined) return file;
  const dir = await mkdtemp(join(tmpdir(), 'flynn-import-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'export.tar');
  await pipeline(process.stdin, createWriteStream(path, { mode: 0o600 }));
  return path;
}

async function json<T>(archive: VerifiedArchive<unknown>, path: string): Promise<T | undefined> {
  if (!archive.entries.has(path)) return undefined;
  const text = (await readEntry(archive, path)).toString('utf8');
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new CliError(`error decoding ${path}: ${(err as Error).message}`);
  }
}

/** Runs `fn` over `items`, at most `n` at a time; the first failure rejects (after the rest settle). */
async function parallel<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const errors: unknown[] = [];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      if (errors.length > 0) return;
      await fn(item).catch((err) => errors.push(err));
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

class Importer {
  readonly created: Created = { keys: [], routes: [], volumes: [] };
  readonly transport: CliTransport;
  private hostList?: HostRef[];

  constructor(
    readonly ctx: FlynnContext,
    readonly archive: VerifiedArchive<ExportManifest>,
    readonly opts: ImportOptions,
  ) {
    this.transport = new CliTransport(ctx.target);
  }

  private progress(line: string): void {
    if (!this.opts.quiet) say(line);
  }

  private async hosts(): Promise<HostRef[]> {
    if (!this.hostList) {
      this.hostList = (await this.ctx.hosts.hosts()).sort((a, b) => a.id.localeCompare(b.id));
      if (this.hostList.length === 0) throw new CliError('no flynn-host is registered in discoverd');
    }
    return this.hostList;
  }

  private hostUrl(host: HostRef): string {
    const url = this.ctx.target.hostUrl(host);
    this.transport.trustUrl(url);
    return url;
  }

  /** `apps/<name>` and `app-ids/<id>`, both absent before. */
  async createApp(name: string, exported: Partial<App>): Promise<App> {
    const t = new Date().toISOString();
    const app = normalizeApp({
      id: randomUUID(),
      name,
      meta: exported.meta,
      strategy: exported.strategy,
      deploy_timeout: exported.deploy_timeout,
      created_at: t,
      updated_at: t,
    });
    const res = await this.ctx.store.kv.txn({
      compare: [
        { key: keys.app(name), op: 'absent' },
        { key: keys.appId(app.id), op: 'absent' },
      ],
      success: [
        { op: 'put', key: keys.app(name), value: JSON.stringify(app) },
        { op: 'put', key: keys.appId(app.id), value: JSON.stringify(name) },
      ],
    });
    if (!res.succeeded) throw new CliError(`error creating app: application "${name}" already exists`);
    this.created.app = app;
    this.created.keys.push(keys.app(name), keys.appId(app.id));
    return app;
  }

  /** Each exported artifact under a new id; `tar` ones pushed (by sha256) to up to two hosts. */
  async artifacts(exported: Artifact[], wanted: string[]): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    const hosts = (await this.hosts()).slice(0, 2);
    for (const a of exported.filter((x) => wanted.includes(x.id))) {
      if (a.type === 'tar') {
        for (const host of hosts)
          await pushArtifact(
            this.transport,
            this.hostUrl(host),
            a.sha256,
            openEntry(this.archive, paths.artifact(a.id)),
          ).catch((err: Error) => {
            throw new CliError(`artifact ${a.id}: ${err.message}`);
          });
      }
      const copy: Artifact = { ...a, id: randomUUID(), created_at: new Date().toISOString() };
      await this.ctx.store.putArtifact(copy);
      this.created.keys.push(keys.artifact(copy.id));
      ids.set(a.id, copy.id);
    }
    const missing = wanted.filter((id) => !ids.has(id));
    if (missing.length > 0) throw new CliError(`artifact ${missing[0]} is not in the export`);
    return ids;
  }

  /**
   * Each volume onto a host, recorded for the new app: the volumes of one old job (its type and
   * old host) go to one new host, so the job started there finds all of them (placeVolumes).
   */
  async volumes(app: App, volumes: VolumeEntry[]): Promise<void> {
    const placed = placeVolumes(volumes, await this.hosts());
    await parallel(placed, this.opts.jobs, async ({ volume: v, host }) => {
      const meta = { app_id: app.id, process_type: v.process_type, path: v.path };
      const { id } = await receiveVolumeRetrying(
        this.transport,
        this.hostUrl(host),
        () => openEntry(this.archive, paths.volume(v.id)),
        meta,
        (err) => this.progress(`volume ${v.id}: ${err.message}; trying again`),
      ).catch((err: Error) => {
        throw new CliError(`volume ${v.id}: ${err.message}`);
      });
      this.created.volumes.push({ host, id });
      await this.ctx.store.putVolume({ id, ...meta, host_id: host.id, created_at: new Date().toISOString() });
      this.created.keys.push(`${keys.volumesPrefix(app.id)}${id}`);
      this.progress(`volume ${v.id} → ${id} on ${host.id}`);
    });
  }

  /** The exported routes, new ids, pointed at the new app; a domain taken here (409) is skipped. */
  async routes(app: App, from: string, routes: RouteJson[]): Promise<number> {
    const router = new RouterApi(this.ctx.target);
    let added = 0;
    for (const r of routes) {
      const {
        id: _id,
        created_at: _c,
        updated_at: _u,
        certificate,
        tls_cert: _tc,
        tls_key: _tk,
        ...rest
      } = r;
      const body: Record<string, unknown> = {
        ...rest,
        service: rename(r.service, from, app.name),
        parent_ref: parentRef(app.id),
      };
      const cert = certificate?.cert ?? r.tls_cert;
      const key = certificate?.key ?? r.tls_key;
      const managed = (r as { managed_certificate?: { domain?: string } }).managed_certificate;
      // A managed certificate is asked for again (this cluster's issuer orders its own); its
      // state and the old cluster's certificate stay behind.
      if (managed) body.managed_certificate = { domain: managed.domain };
      else if (cert && key) body.certificate = { cert, key };
      const answer = await router.send('POST', '/routes', body);
      if (answer.status === 409) continue;
      if (answer.status < 200 || answer.status >= 300) throw routerError('POST', answer);
      this.created.routes.push(JSON.parse(answer.text) as RouteJson);
      added++;
    }
    return added;
  }

  private undoing?: Promise<void>;

  /** undo(), once (a signal and the failure it causes both ask for it). */
  undoOnce(): Promise<void> {
    this.undoing ??= this.undo();
    return this.undoing;
  }

  /** Stops the app's jobs, removes its routes and volumes, deletes its records in one txn. */
  async undo(): Promise<void> {
    const { app } = this.created;
    const problems: string[] = [];
    const attempt = (what: string) => (err: unknown) => problems.push(`${what}: ${(err as Error).message}`);
    if (app) {
      const jobs = (await appJobs(this.ctx.hosts, app.id).catch(() => [])).filter((p) => isLive(p.job));
      await this.ctx.deployer.stopAll(jobs, { drainMs: 0, graceMs: 2000 });
    }
    const router = new RouterApi(this.ctx.target);
    for (const r of this.created.routes)
      await router.send('DELETE', `/routes/${r.type}/${r.id}`).catch(attempt(`route ${r.id}`));
    const kv = this.ctx.store.kv;
    const extra: string[] = [];
    if (app) {
      // What a deploy added meanwhile (volumes of more jobs) goes too.
      for (const v of await this.ctx.store.volumes(app.id).catch(() => [])) {
        const host = (await this.hosts()).find((h) => h.id === v.host_id);
        if (host && !this.created.volumes.some((c) => c.id === v.id))
          this.created.volumes.push({ host, id: v.id });
        extra.push(`${keys.volumesPrefix(app.id)}${v.id}`);
      }
      extra.push(keys.formation(app.id), keys.deployment(app.id));
      for (const e of (await kv.list(keys.releasesPrefix(app.id)).catch(() => ({ entries: [] }))).entries)
        extra.push(e.key);
    }
    for (const v of this.created.volumes)
      await destroyVolume(this.transport, this.hostUrl(v.host), v.id).catch(attempt(`volume ${v.id}`));
    const ops: StoreOp[] = [...new Set([...this.created.keys, ...extra])].map((key) => ({
      op: 'delete',
      key,
    }));
    if (ops.length > 0) await kv.txn({ success: ops }).catch(attempt('records'));
    if (problems.length > 0) say(`warning: the import was not completely undone: ${problems.join('; ')}`);
  }
}

/**
 * A SIGINT, SIGTERM or SIGHUP in the middle: the transfers still running are cut, the import is
 * undone, the spool dir removed, and the process exits 128 + the signal's number. A second
 * signal while that runs kills the process as usual.
 */
class Interruption {
  importer?: Importer;
  /** The import's own flow, waited for (briefly) before the undo so that the two do not race. */
  work?: Promise<unknown>;
  signal?: NodeJS.Signals;
  private readonly handler = (signal: NodeJS.Signals) => void this.stop(signal);

  constructor(private readonly cleanup: () => Promise<void>) {
    for (const sig of Object.keys(SIGNAL_NUMBERS)) process.once(sig, this.handler);
  }

  release(): void {
    for (const sig of Object.keys(SIGNAL_NUMBERS)) process.off(sig, this.handler);
  }

  private async stop(signal: NodeJS.Signals): Promise<void> {
    this.signal = signal;
    this.release();
    say(`flynn: interrupted (${signal}); undoing the import`);
    this.importer?.transport.abort(new Error(`interrupted (${signal})`));
    if (this.work) await Promise.race([this.work.catch(() => {}), sleep(UNDO_WAIT_MS)]);
    await this.importer?.undoOnce().catch(() => {});
    await this.cleanup().catch(() => {});
    process.exit(128 + SIGNAL_NUMBERS[signal]!);
  }
}

/** How long an interrupted import's flow may take to stop before the undo starts anyway. */
const UNDO_WAIT_MS = 5_000;

async function runImport(opts: ImportOptions, cmd: Command): Promise<void> {
  let cleanup = async () => {};
  const interruption = new Interruption(() => cleanup());
  try {
    const file = await archiveFile(opts.file, (fn) => {
      cleanup = fn;
    });
    let archive: VerifiedArchive<ExportManifest>;
    try {
      archive = await verifyExport(file);
    } catch (err) {
      if (err instanceof ArchiveError) throw new CliError(err.message);
      throw err;
    }
    const exportedApp = await json<Partial<App> & { name: string }>(archive, 'app.json');
    if (!exportedApp) throw new CliError('missing app.json');
    const from = exportedApp.name;
    const name = opts.name ?? from;
    try {
      checkAppName(name);
    } catch {
      throw new CliError(`invalid app name "${name}"`, 2);
    }
    const ctx = await contextOf(cmd);
    const importer = new Importer(ctx, archive, opts);
    interruption.importer = importer;
    try {
      const work = importApp(importer, archive, from, name, opts);
      interruption.work = work;
      const out = await work;
      println(`Imported ${name} (added ${out.routes} routes, provisioned ${out.resources} resources)`);
    } catch (err) {
      // Interrupted: the signal's handler undoes the import and exits.
      if (interruption.signal) await new Promise(() => {});
      await importer.undoOnce();
      throw err;
    }
  } finally {
    if (!interruption.signal) {
      interruption.release();
      await cleanup();
    }
  }
}

async function importApp(
  importer: Importer,
  archive: VerifiedArchive<ExportManifest>,
  from: string,
  name: string,
  opts: ImportOptions,
): Promise<{ routes: number; resources: number }> {
  const { ctx } = importer;
  const exportedApp = (await json<Partial<App>>(archive, 'app.json')) ?? {};
  const app = await importer.createApp(name, exportedApp);
  const domain = (await ctx.store.domain()) ?? ctx.target.domain;
  const defaultRoute = await addDefaultRoute(ctx.target, app, domain);
  if (defaultRoute) importer.created.routes.push(defaultRoute);
  let routes = defaultRoute ? 1 : 0;
  const exported = await json<Release>(archive, 'release.json');
  let resources = 0;
  if (exported) {
    const artifacts = (await json<Artifact[]>(archive, 'artifacts.json')) ?? [];
    const ids = await importer.artifacts(artifacts, exported.artifacts);
    const release = await ctx.store.createRelease(app, {
      artifacts: exported.artifacts.map((id) => ids.get(id) ?? id),
      env: exported.env ?? {},
      meta: exported.meta ?? {},
      processes: renameServices(exported.processes ?? {}, from, name),
    });
    importer.created.keys.push(keys.release(app.id, release.id));
    await importer.volumes(app, archive.manifest.volumes ?? []);
    resources = archive.manifest.volumes?.length ?? 0;
    const formation = await json<Partial<Formation>>(archive, 'formation.json');
    const f: Formation = {
      app: app.id,
      release: '',
      processes: formation?.processes ?? {},
      updated_at: new Date().toISOString(),
    };
    await ctx.store.kv.txn({
      success: [{ op: 'put', key: keys.formation(app.id), value: JSON.stringify(f) }],
    });
    importer.created.keys.push(keys.formation(app.id));
    if (opts.routes)
      routes += await importer.routes(app, from, (await json<RouteJson[]>(archive, 'routes.json')) ?? []);
    await ctx.deployer.deploy(name, release, { progress: opts.quiet ? undefined : say });
  } else if (opts.routes) {
    routes += await importer.routes(app, from, (await json<RouteJson[]>(archive, 'routes.json')) ?? []);
  }
  return { routes, resources };
}

export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description(
      'Create a new app from an export (flynn -a APP export): its release, data, and with --routes its routes.',
    )
    .option('-f, --file <file>', 'the export file (default: stdin)')
    .option('-n, --name <name>', 'the new app name (default: the exported name)')
    .option('-q, --quiet', 'no progress lines')
    .option('-r, --routes', 'also create the exported routes (a domain already routed here is skipped)')
    .option('-j, --jobs <n>', 'volumes received in parallel', parseJobs, 4)
    .action((opts: ImportOptions, cmd: Command) => runImport(opts, cmd));
}

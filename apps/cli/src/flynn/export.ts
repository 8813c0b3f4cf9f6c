import { type App, type Artifact, type Formation, normalizeApp, type Release } from '@flynn-edge/app-model';
import { EXPORT_FORMAT, type ExportManifest, FORMAT_VERSION, paths, prettyJson } from '@flynn-edge/backup';
import { type Route, routeToJSON } from '@flynn-edge/router-core';
import { FLYNN_EDGE_VERSION } from '@flynn-edge/service-kit';
import type { Command } from 'commander';
import { CliError } from '../output.js';
import {
  addSpooled,
  capture,
  type Records,
  record,
  recordsUnder,
  releasedArtifacts,
  spoolArtifacts,
  spooledBytes,
  spoolVolumes,
  volumeRecords,
  writeArchive,
} from './backup.js';

// `flynn -a APP export [--file F] [-q]` (flynn-ops.md §10.2): one app from one `GET /kv/` (one
// revision): its record, routes (certificates with their keys), current release, artifacts,
// formation, tar artifacts and volumes, as a ustar file under `<app name>/`. Without a release
// the archive stops after routes.json (as Flynn's export does).

/** The services a release's processes register (a router-API route has no parent_ref). */
function releaseServices(release: Release | undefined): Set<string> {
  const out = new Set<string>();
  for (const p of Object.values(release?.processes ?? {})) {
    if (p.service) out.add(p.service);
    for (const port of p.ports ?? []) if (port.service?.name) out.add(port.service.name);
  }
  return out;
}

/**
 * The app's routes: `parent_ref` the app, or a service of its release. In key order, so a domain's
 * `/` route comes before its sub-paths (`routes/http/<domain>:<port><path>`).
 */
function appRoutes(records: Records, app: App, release: Release | undefined): Route[] {
  const services = releaseServices(release);
  const ref = `controller/apps/${app.id}`;
  const routes: Route[] = [];
  for (const prefix of ['routes/http/', 'routes/tcp/']) {
    for (const r of recordsUnder<Route>(records, prefix)) {
      if (r.parent_ref === ref || services.has(r.service)) routes.push(r);
    }
  }
  return routes;
}

/** `-a`: by name, or by id through `app-ids/`. */
function findApp(records: Records, nameOrId: string): App {
  let raw = record<App>(records, `apps/${nameOrId}`);
  if (!raw) {
    const name = record<string>(records, `app-ids/${nameOrId}`);
    if (name) raw = record<App>(records, `apps/${name}`);
  }
  if (!raw) throw new CliError('error getting app: controller: resource not found');
  return normalizeApp(raw);
}

interface ExportOptions {
  file?: string;
  quiet?: boolean;
}

async function exportApp(opts: ExportOptions, cmd: Command): Promise<void> {
  const name = cmd.optsWithGlobals<{ app?: string }>().app;
  if (!name) throw new CliError('no app given: pass -a NAME (or set FLYNN_APP)', 2);
  await capture(cmd, { file: opts.file, quiet: opts.quiet, noun: 'export' }, async (run) => {
    const { target, started, kv, records } = run;
    const app = findApp(records, name);
    const release = app.release ? record<Release>(records, `releases/${app.id}/${app.release}`) : undefined;
    const routes = appRoutes(records, app, release);
    const artifacts: Artifact[] = release ? releasedArtifacts(records, [release]) : [];
    const spooledArtifacts = await spoolArtifacts(run, artifacts);
    const spooledVolumes = release
      ? await spoolVolumes(run, volumeRecords(records, app.id))
      : { entries: [], files: [] };
    const manifest: ExportManifest = {
      format: EXPORT_FORMAT,
      version: FORMAT_VERSION,
      created_at: started.toISOString(),
      flynn_edge_version: FLYNN_EDGE_VERSION,
      app: app.name,
      app_id: app.id,
      cluster_domain: record<{ domain?: string }>(records, 'cluster/config')?.domain ?? target.domain ?? '',
      kv_revision: kv.revision,
      volumes: spooledVolumes.entries,
    };
    const formation: Formation = record<Formation>(records, `formations/${app.id}`) ?? {
      app: app.id,
      release: app.release,
      processes: {},
      updated_at: started.toISOString(),
    };
    const total = spooledBytes(spooledArtifacts.files) + spooledBytes(spooledVolumes.files);
    await writeArchive({ top: app.name, mtime: started, file: opts.file, bar: run.bar, total }, async (w) => {
      await w.addBuffer(paths.manifest, prettyJson(manifest));
      await w.addBuffer('app.json', prettyJson(app));
      await w.addBuffer('routes.json', prettyJson(routes.map(routeToJSON)));
      if (!release) return;
      await w.addBuffer('release.json', prettyJson(release));
      await w.addBuffer('artifacts.json', prettyJson(artifacts));
      await w.addBuffer('formation.json', prettyJson(formation));
      await addSpooled(w, spooledArtifacts.files);
      await addSpooled(w, spooledVolumes.files);
    });
  });
}

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description(
      "write the app (record, routes, release, artifacts, formation, volumes) as a tar; it holds the app's secrets",
    )
    .option('-f, --file <file>', 'write to this file (default: stdout)')
    .option('-q, --quiet', 'no progress bar')
    .action((opts: ExportOptions, cmd: Command) => exportApp(opts, cmd));
}

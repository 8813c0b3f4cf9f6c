import { readFileSync } from 'node:fs';
import type { Release } from '@flynn-edge/app-model';
import type { Command } from 'commander';
import { CliError, formatTable, println } from '../output.js';
import { manifestInTarball, parseManifest, readTarball, tarArtifact, uploadTarball } from './artifacts.js';
import { contextOf, type FlynnContext } from './context.js';
import { humanTime } from './human-time.js';
import { confirm, say } from './prompt.js';

// flynn release: list, show, add (a tarball and its process manifest), rollback (Flynn's
// cli/release.go). Adding a release deploys it (§1.3) when the app runs jobs.

/** Deploys `release` and says how it went; a failed deploy exits 1 and leaves the old release. */
export async function deployRelease(ctx: FlynnContext, appName: string, release: Release): Promise<void> {
  const result = await ctx.deployer.deploy(appName, release, { progress: say });
  if (result.started.length > 0 || result.stopped.length > 0) {
    say(
      `deployed release ${release.id} in ${(result.ms / 1000).toFixed(3)}s (${result.started.length} jobs started, ${result.stopped.length} stopped)`,
    );
  }
}

export function registerReleaseCommands(program: Command): void {
  const release = program
    .command('release')
    .description('Manage app releases. With no arguments, lists the releases of the app.')
    .option('-q, --quiet', 'only print release IDs')
    .action(async (o: { quiet?: boolean }, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const app = await ctx.app();
      const list = await ctx.store.releases(app.value.id);
      if (o.quiet) {
        for (const r of list) println(r.id);
        return;
      }
      println(
        formatTable(
          ['ID', 'Created'],
          list.map((r) => [r.id, humanTime(r.created_at)]),
          2,
        ),
      );
    });

  release
    .command('show [id]')
    .description('Show information about a release (default: the current one).')
    .option('--json', 'print release configuration in JSON format')
    .action(async (id: string | undefined, o: { json?: boolean }, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const app = await ctx.app();
      const r = id ? await ctx.store.release(app.value.id, id) : await ctx.store.currentRelease(app.value);
      if (!r) throw new CliError(id ? `release ${id} not found` : 'no app release found');
      if (o.json) return println(JSON.stringify(r));
      const rows: string[][] = [['ID:', r.id]];
      for (const [i, aid] of r.artifacts.entries()) {
        const a = await ctx.store.artifact(aid);
        rows.push([`Artifact[${i}]:`, a ? `${a.type}+${a.uri}` : aid]);
      }
      rows.push(['Process Types:', Object.keys(r.processes).join(', ')]);
      rows.push(['Created At:', r.created_at]);
      for (const [k, v] of Object.entries(r.env)) rows.push([`ENV[${k}]`, v]);
      for (const [k, v] of Object.entries(r.meta)) rows.push([`META[${k}]`, v]);
      const [head, ...rest] = rows;
      println(formatTable(head, rest, 2));
    });

  release
    .command('add <tarball>')
    .description(
      'Create a release from a gzip tarball of the app and its configuration (-f, else release.json in the tarball), and deploy it.',
    )
    .option(
      '-f, --file <file>',
      'release configuration file: {"env": {...}, "processes": {"web": {"args": [...], ...}}}',
    )
    .option('--sha256 <hex>', 'refuse the tarball unless its sha256 is this')
    .option('-t <type>', "release type; only 'tar' here", 'tar')
    .action(async (file: string, o: { file?: string; sha256?: string; t: string }, cmd: Command) => {
      if (o.t !== 'tar') throw new CliError(`Release type ${o.t} not supported.`, 2);
      const tarball = readTarball(file, o.sha256);
      const text = o.file ? readText(o.file) : manifestInTarball(tarball);
      if (text === undefined)
        throw new CliError(`no release configuration: pass -f FILE or put release.json in ${file}`, 2);
      const manifest = parseManifest(text, o.file ?? `${file}:release.json`);
      const ctx = await contextOf(cmd);
      const app = await ctx.app();
      const current = await ctx.store.currentRelease(app.value);
      await uploadTarball(ctx.target, await ctx.hosts.hosts(), tarball);
      const artifact = tarArtifact(tarball);
      await ctx.store.putArtifact(artifact);
      const created = await ctx.store.createRelease(app.value, {
        artifacts: [artifact.id],
        // The running release's env carries over (keys, settings), the file's wins.
        env: { ...(current?.env ?? {}), ...manifest.env },
        processes: manifest.processes,
        meta: manifest.meta,
      });
      say(`Created release ${created.id}.`);
      await deployRelease(ctx, app.value.name, created);
    });

  release
    .command('rollback [id]')
    .description('Deploy the previous release, or the one given.')
    .option('-y, --yes', 'skip the confirmation prompt')
    .action(async (id: string | undefined, o: { yes?: boolean }, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const app = await ctx.app();
      const current = app.value.release;
      let target: Release | undefined;
      if (!id) {
        const list = await ctx.store.releases(app.value.id);
        if (list.length < 2) throw new CliError('Not enough releases to perform a rollback.');
        target = list[1].id === current ? list[0] : list[1];
      } else {
        if (id === current) throw new CliError('Release id given is the current release.');
        target = await ctx.store.release(app.value.id, id);
        if (!target) throw new CliError(`release ${id} not found`);
      }
      if (
        !o.yes &&
        !(await confirm(`Are you sure you want to rollback to release ${JSON.stringify(target.id)}?`))
      )
        return;
      say(`Rolling back to release ${target.id} from ${current}.`);
      await deployRelease(ctx, app.value.name, target);
      say(`Successfully rolled back to release ${target.id}.`);
    });
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

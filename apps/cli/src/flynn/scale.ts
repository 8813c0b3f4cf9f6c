import { parseScaleArgs } from '@flynn-edge/app-model';
import type { Command } from 'commander';
import { CliError, println } from '../output.js';
import { contextOf } from './context.js';

// flynn scale [TYPE=N...] (Flynn's cli/scale.go): without arguments the current counts; with
// them, the change, a line per job up or down, and the time it took.

export function registerScaleCommand(program: Command): void {
  program
    .command('scale [counts...]')
    .description('Change the number of jobs for each process type of the current release (web=2 worker=1).')
    .option('-n, --no-wait', 'accepted for compatibility: scaling always waits for the jobs')
    .option('-r, --release <release>', 'only the current release can be scaled here')
    .action(async (args: string[], o: { release?: string }, cmd: Command) => {
      const wanted = parseScaleArgs(args);
      const ctx = await contextOf(cmd);
      const app = await ctx.app();
      if (o.release && o.release !== app.value.release) {
        throw new CliError(
          'only the current release can be scaled (deploy it first: flynn release rollback ID)',
          2,
        );
      }
      const release = await ctx.store.currentRelease(app.value);
      if (!release) throw new CliError('No app release, specify a release with --release');
      const current = (await ctx.store.formation(app.value.id))?.value.processes ?? {};
      const types = Object.keys(release.processes).sort();
      if (args.length === 0) {
        println(types.map((t) => `${t}=${current[t] ?? 0}`).join(' '));
        return;
      }
      const unknown = Object.keys(wanted).filter((t) => !release.processes[t]);
      if (unknown.length > 0)
        throw new CliError(`ERROR: unknown process types: ${unknown.sort().join(', ')}`);
      const changes = types.filter((t) => t in wanted && (current[t] ?? 0) !== wanted[t]);
      if (changes.length === 0) {
        println('requested scale equals current scale, nothing to do!');
        return;
      }
      println(`scaling ${changes.map((t) => `${t}: ${current[t] ?? 0}=>${wanted[t]}`).join(', ')}\n`);
      const res = await ctx.deployer.scale(app.value.name, wanted, { progress: (l) => println(l) });
      println(`\nscale completed in ${(res.ms / 1000).toFixed(3)}s`);
    });
}

import { appJobs, jobRequest, placeJobs } from '@flynn-edge/app-model';
import type { Command } from 'commander';
import { ndjsonLines, openStream } from '../ndjson.js';
import { CliError, println } from '../output.js';
import { contextOf } from './context.js';

// flynn run [-d] [-r RELEASE] [--] CMD ARGS... (Flynn's cli/run.go): a one-off job of a release
// on the least-loaded host, its output streamed here, its exit status returned.

interface LogLine {
  stream?: string;
  msg?: string;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run <command> [args...]')
    .description(
      'Run a one-off job of the current release; its output is streamed and its exit status returned.',
    )
    .option('-d, --detached', 'run the job without connecting to its output (print its id)')
    .option('-r <release>', 'id of the release to run (default: the current one)')
    .passThroughOptions()
    .action(async (command: string, args: string[], o: { detached?: boolean; r?: string }, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const app = await ctx.app();
      const release = o.r
        ? await ctx.store.release(app.value.id, o.r)
        : await ctx.store.currentRelease(app.value);
      if (!release)
        throw new CliError(
          o.r ? `release ${o.r} not found` : 'No app release, specify a release with --release',
        );
      const artifact = release.artifacts[0] ? await ctx.store.artifact(release.artifacts[0]) : undefined;
      const hosts = await ctx.hosts.hosts();
      const [host] = placeJobs('run', 1, hosts, await appJobs(ctx.hosts, app.value.id, hosts), app.value.id);
      if (!host) throw new CliError('no host is registered in discoverd');
      const job = await ctx.hosts.run(
        host,
        jobRequest(app.value, release, 'run', artifact, { args: [command, ...args], oneOff: true }),
      );
      if (o.detached) return println(job.id);
      const url = `${ctx.target.hostUrl(host)}/host/jobs/${encodeURIComponent(job.id)}/log?follow=true`;
      const res = await openStream(url, ctx.target.clusterKey);
      await ndjsonLines<LogLine>(url, res, {
        onLine: (l) => (l.stream === 'stderr' ? process.stderr : process.stdout).write(`${l.msg ?? ''}\n`),
      });
      const done = await ctx.hosts.job(host, job.id);
      if (done.exitStatus === 0) return;
      // The job's own status, as Flynn returned it; only a job that could not run says why.
      if (typeof done.exitStatus === 'number') throw new CliError('', done.exitStatus);
      throw new CliError(
        done.error ?? `job ${job.id} ended without an exit status (${done.signal ?? done.state})`,
      );
    });
}

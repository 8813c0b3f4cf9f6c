import { appJobs, type HostJobView } from '@flynn-edge/app-model';
import type { Command } from 'commander';
import { answerError, request } from '../discoverd-http.js';
import { CliError, formatTable, println } from '../output.js';
import { contextOf } from './context.js';
import { humanTime } from './human-time.js';
import { say } from './prompt.js';

// flynn ps and flynn kill (Flynn's cli/ps.go, cli/kill.go): an app's jobs on every host.

/** Flynn's controller job states. */
export function flynnState(j: HostJobView): string {
  if (j.stopRequested && (j.state === 'running' || j.state === 'starting')) return 'stopping';
  switch (j.state) {
    case 'starting':
      return 'pending';
    case 'running':
      return 'up';
    case 'done':
      return 'down';
    default:
      return j.state;
  }
}

export function registerPsCommands(program: Command): void {
  program
    .command('ps')
    .description("List the app's jobs (default: those up or pending).")
    .option('-a, --all', 'show all jobs')
    .option('-c, --command', 'show command')
    .option('-q, --quiet', 'only display IDs')
    .option('-t, --type <type>', 'show jobs of type <type>')
    .action(async (o: { all?: boolean; command?: boolean; quiet?: boolean; type?: string }, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const app = await ctx.app();
      const jobs = (
        await appJobs(ctx.hosts, app.value.id, undefined, (host, err) =>
          say(`warning: host ${host.id}: ${err.message}`),
        )
      )
        .map((p) => p.job)
        .filter((j) => o.all || ['up', 'pending'].includes(flynnState(j)))
        .filter((j) => !o.type || (j.processType || 'run') === o.type)
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      if (o.quiet) {
        for (const j of jobs) println(j.id);
        return;
      }
      const header = ['ID', 'TYPE', 'STATE', 'CREATED', 'RELEASE', ...(o.command ? ['COMMAND'] : [])];
      const rows = jobs.map((j) => [
        j.id,
        j.processType || 'run',
        flynnState(j),
        humanTime(j.createdAt),
        j.meta?.FLYNN_RELEASE_ID ?? '',
        ...(o.command ? [[j.cmd ?? '', ...(j.args ?? [])].join(' ')] : []),
      ]);
      println(formatTable(header, rows, 2));
    });

  program
    .command('kill <jobs...>')
    .description(
      'Kill jobs (SIGTERM, SIGKILL after 10 s). Nothing starts a replacement: scale or flynn-host fix does.',
    )
    .action(async (ids: string[], _o, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const app = await ctx.app();
      let failed = false;
      for (const id of ids) {
        try {
          const host = await ctx.hosts.hostOf(id);
          const job = await ctx.hosts.job(host, id);
          if (job.app.id !== app.value.id) throw new CliError(`job ${id} belongs to the app ${job.app.name}`);
          const answer = await request(
            'DELETE',
            `${ctx.target.hostUrl(host)}/host/jobs/${encodeURIComponent(id)}?drain=1000`,
            {
              clusterKey: ctx.target.clusterKey,
              timeoutMs: 30_000,
            },
          );
          if (answer.status !== 200) throw answerError('DELETE', answer);
          say(`Job ${id} killed.`);
        } catch (err) {
          if (!(err instanceof CliError)) throw err;
          failed = true;
          say(`ERROR: could not kill job ${id}: ${err.message}`);
        }
      }
      if (failed) throw new CliError('some jobs were not killed');
    });
}

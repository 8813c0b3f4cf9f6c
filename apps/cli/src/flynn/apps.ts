import { randomBytes } from 'node:crypto';
import { AppModelError, appJobs, isLive, isSystemApp } from '@flynn-edge/app-model';
import type { Command } from 'commander';
import { CliError, formatTable, println } from '../output.js';
import { contextOf } from './context.js';
import { addDefaultRoute } from './default-route.js';
import { confirm, say } from './prompt.js';
import { parentRef, type RouteJson, RouterApi } from './route.js';

// flynn apps, create, delete, info (Flynn's cli/app.go).

const WORDS_A = ['amber', 'brisk', 'calm', 'dusty', 'eager', 'fuzzy', 'gentle', 'humble', 'lucky', 'misty'];
const WORDS_B = [
  'otter',
  'pine',
  'quartz',
  'river',
  'sparrow',
  'tundra',
  'willow',
  'falcon',
  'meadow',
  'cedar',
];

function randomName(): string {
  const [a, b, c] = randomBytes(3);
  return `${WORDS_A[a % WORDS_A.length]}-${WORDS_B[b % WORDS_B.length]}-${(c % 90) + 10}`;
}

function appRoutes(router: RouterApi, appId: string): Promise<RouteJson[]> {
  return router.json<RouteJson[]>('GET', `/routes?parent_ref=${encodeURIComponent(parentRef(appId))}`);
}

export function registerAppCommands(program: Command): void {
  program
    .command('apps')
    .description('List all apps.')
    .action(async (_o, cmd: Command) => {
      const { store } = await contextOf(cmd);
      const apps = await store.apps();
      println(
        formatTable(
          ['ID', 'NAME'],
          apps.map((a) => [a.id, a.name]),
          2,
        ),
      );
    });

  program
    .command('create [name]')
    .description(
      'Create an application in Flynn. If a name is not provided, a random name will be generated.',
    )
    .option('-r, --remote <remote>', 'accepted for compatibility (there is no git remote here)', 'flynn')
    .option('-y, --yes', 'skip the confirmation prompt')
    .action(async (name: string | undefined, _o, cmd: Command) => {
      const { store, target } = await contextOf(cmd);
      const app = await store.createApp(name ?? randomName());
      await addDefaultRoute(target, app, await store.domain());
      say(`Created ${app.name}`);
    });

  program
    .command('delete')
    .description('Delete an app: its jobs, routes and releases.')
    .option('-y, --yes', 'skip the confirmation prompt')
    .option('-r, --remote <remote>', 'accepted for compatibility', 'flynn')
    .action(async (o: { yes?: boolean }, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const app = await ctx.app();
      if (isSystemApp(app.value)) throw new CliError('validation_error: cannot delete system app');
      if (
        !o.yes &&
        !(await confirm(`Are you sure you want to delete the app ${JSON.stringify(app.value.name)}?`))
      )
        return;
      const deploy = await ctx.store.deployment(app.value.id);
      if (deploy)
        throw new AppModelError(
          `a deployment of ${app.value.name} is running (release ${deploy.release}); try again when it is done`,
        );
      const jobs = (await appJobs(ctx.hosts, app.value.id)).filter((p) => isLive(p.job));
      await ctx.deployer.stopAll(jobs, {});
      const router = new RouterApi(ctx.target);
      const routes = await appRoutes(router, app.value.id);
      for (const r of routes) await router.json('DELETE', `/routes/${r.type}/${r.id}`);
      const { releases } = await ctx.store.deleteApp(app);
      say(
        `Deleted ${app.value.name} (removed ${routes.length} routes, deleted ${releases} releases, deprovisioned 0 resources)`,
      );
    });

  program
    .command('info')
    .description('Show information for an app.')
    .action(async (_o, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const app = await ctx.app();
      println(`=== ${app.value.name}`);
      const routes = await appRoutes(new RouterApi(ctx.target), app.value.id).catch(() => []);
      const web = routes.find((r) => r.type === 'http');
      if (web)
        println(formatTable(['Web URL:', `${web.certificate ? 'https' : 'http'}://${web.domain}`], [], 2));
    });
}

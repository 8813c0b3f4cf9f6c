import { AppModelError, parseEnvPairs, type Release } from '@flynn-edge/app-model';
import type { Command } from 'commander';
import { getJson } from '../discoverd-http.js';
import { CliError, println } from '../output.js';
import { contextOf, type FlynnContext } from './context.js';
import { say } from './prompt.js';
import { deployRelease } from './release.js';

// flynn env, env get/set/unset [-t PROC] (Flynn's cli/env.go; flynn-ops.md §6): a release's env,
// changed by copying the current release, editing it and deploying the copy. Values are never
// logged.

const ATTEMPTS = 5;

/**
 * discoverd's DISCOVERD_PEERS as its entries (`ip:port`, comma separated; a trailing comma and
 * empty entries allowed), or a usage error (exit 2) naming the first bad entry.
 */
export function parsePeers(value: string): string[] {
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0)
    throw new CliError('invalid DISCOVERD_PEERS "": want ip:port entries, comma separated', 2);
  for (const e of entries) {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9A-Za-z.-]+)):(\d{1,5})$/.exec(e);
    if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535)
      throw new CliError(`invalid DISCOVERD_PEERS entry ${JSON.stringify(e)}: want ip:port`, 2);
  }
  return [...new Set(entries)];
}

/**
 * In flynn-edge the Raft log, not this value, holds the membership (flynn-ops.md §6.2): a value
 * that names other nodes than the voters is allowed (the operator may be mid-procedure), but said.
 */
async function warnIfNotVoters(ctx: FlynnContext, peers: string[]): Promise<void> {
  let voters: string[] | undefined;
  let why = '';
  for (const server of ctx.target.discoverd) {
    try {
      const { value } = await getJson<unknown>(`${server}/raft/peers`, { clusterKey: ctx.target.clusterKey });
      if (Array.isArray(value)) voters = value.map(String);
      break;
    } catch (err) {
      why = (err as Error).message;
    }
  }
  if (!voters) {
    say(`warning: cannot compare DISCOVERD_PEERS with the Raft voters: ${why}`);
    return;
  }
  const a = [...peers].sort();
  const b = [...voters].sort();
  if (a.join(',') !== b.join(','))
    say(`warning: DISCOVERD_PEERS (${a.join(',')}) differs from the Raft voters (${b.join(',')})`);
}

/** The current release with `edit` applied, recorded, then deployed; retried when the app moved. */
async function editEnv(
  ctx: FlynnContext,
  proc: string | undefined,
  edit: (env: Record<string, string>) => void,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const app = await ctx.store.app((await ctx.app()).value.name);
    const current = await ctx.store.currentRelease(app.value);
    const next: Pick<Release, 'artifacts' | 'env' | 'processes' | 'meta'> = current
      ? structuredClone({
          artifacts: current.artifacts,
          env: current.env,
          processes: current.processes,
          meta: current.meta,
        })
      : { artifacts: [], env: {}, processes: {}, meta: {} };
    if (proc) {
      const p = next.processes[proc];
      if (!p) throw new CliError(`process ${JSON.stringify(proc)} in release ${current?.id ?? ''} not found`);
      p.env ??= {};
      edit(p.env);
    } else {
      edit(next.env);
    }
    const release = await ctx.store.createRelease(app.value, next);
    say(`Created release ${release.id}.`);
    try {
      await deployRelease(ctx, app.value.name, release);
      return;
    } catch (err) {
      // Someone else switched the release between our read and our switch: start over from theirs.
      if (err instanceof AppModelError && /changed during the deploy/.test(err.message) && attempt < ATTEMPTS)
        continue;
      if (err instanceof AppModelError && /changed during the deploy/.test(err.message)) {
        throw new CliError('the app changed while setting env; retry');
      }
      throw err;
    }
  }
}

async function releaseOf(ctx: FlynnContext): Promise<Release | undefined> {
  const app = await ctx.app();
  return ctx.store.currentRelease(app.value);
}

export function registerEnvCommands(program: Command): void {
  const env = program
    .command('env')
    .description("Manage the app's environment: list, get, set, unset.")
    .option('-t, --process <proc>', 'the env of one process type')
    .action(async (o: { process?: string }, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const release = await releaseOf(ctx);
      if (!release) return;
      const vars = { ...release.env };
      if (o.process) {
        const p = release.processes[o.process];
        if (!p)
          throw new CliError(`process type ${JSON.stringify(o.process)} not found in release ${release.id}`);
        Object.assign(vars, p.env ?? {});
      }
      for (const k of Object.keys(vars).sort()) println(`${k}=${vars[k]}`);
    });

  env
    .command('get <var>')
    .option('-t, --process <proc>', 'the env of one process type')
    .action(async (name: string, o: { process?: string }, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const release = await releaseOf(ctx);
      if (!release) throw new CliError('no app release found');
      if (o.process) {
        const p = release.processes[o.process];
        if (!p)
          throw new CliError(`process type ${JSON.stringify(o.process)} not found in release ${release.id}`);
        if (p.env && name in p.env) return println(p.env[name]);
      }
      if (name in release.env) return println(release.env[name]);
      throw new CliError(`var ${JSON.stringify(name)} not found in release ${JSON.stringify(release.id)}`);
    });

  env
    .command('set <pairs...>')
    .option('-t, --process <proc>', 'the env of one process type')
    .action(async (pairs: string[], o: { process?: string }, cmd: Command) => {
      const vars = parseEnvPairs(pairs);
      const ctx = await contextOf(cmd);
      if (!o.process && 'DISCOVERD_PEERS' in vars && (await ctx.app()).value.name === 'discoverd')
        await warnIfNotVoters(ctx, parsePeers(vars.DISCOVERD_PEERS));
      await editEnv(ctx, o.process, (e) => Object.assign(e, vars));
    });

  env
    .command('unset <vars...>')
    .option('-t, --process <proc>', 'the env of one process type')
    .action(async (names: string[], o: { process?: string }, cmd: Command) => {
      const ctx = await contextOf(cmd);
      await editEnv(ctx, o.process, (e) => {
        for (const n of names) delete e[n];
      });
    });
}

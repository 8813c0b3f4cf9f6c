import type { Deployer } from '@flynn-edge/app-model';
import { type HostAt, UpdateCalls, type UpdateHost } from './host-calls.js';
import type { ReleaseFile } from './release-file.js';
import { rollRouters, routersBehind } from './router-workers.js';
import { type AppBehind, appsBehind, redeployApps } from './system-apps.js';
import { planHosts, UpdateError } from './versions.js';

// flynn-host update (flynn-ops.md §5.2): refuse a downgrade and an unhealthy cluster, put the
// release on every host before any daemon restarts, hand each daemon over in turn and see its
// successor answer, then move the system apps. Every step starts from what the hosts and the
// store say now, so a rerun after a failure picks up where the last run stopped.

export interface UpdateOptions {
  release: ReleaseFile;
  /** The hosts registered in discoverd. */
  hosts: UpdateHost[];
  clusterKey?: string;
  /** Throws an UpdateError `cluster is unhealthy: …` unless the status service says healthy. */
  requireHealthy: () => Promise<void>;
  /** Without one (--skip-apps), the system apps are left as they are. */
  deployer?: Deployer;
  /** Asked once before anything changes (no --yes); false stops with nothing done. */
  confirm?: (question: string) => Promise<boolean>;
  say: (line: string) => void;
  /** How long one host's new daemon may take to answer (default 60 s). */
  handoverTimeoutMs?: number;
  /** Per-call timeout of the host API (default 10 s). */
  callTimeoutMs?: number;
  /** Aborted (Ctrl-C): the step under way finishes, then the update stops; a rerun goes on. */
  signal?: AbortSignal;
}

export type UpdateResult = 'current' | 'updated' | 'declined';

export async function runUpdate(o: UpdateOptions): Promise<UpdateResult> {
  const { release, say } = o;
  const v = release.version;
  const calls = new UpdateCalls(o.clusterKey, o.callTimeoutMs);
  const checkpoint = async () => {
    if (o.signal?.aborted)
      throw new UpdateError(
        `interrupted; hosts: ${await calls.versionsLine(o.hosts)}; run the same command again to go on`,
      );
  };
  const hosts = await calls.states(o.hosts);
  const plan = planHosts(hosts, v, release.minUpdateFrom);
  const pending: HostAt[] = plan.kind === 'update' ? plan.pending : [];
  // With every daemon moved, only apps a stopped run left behind remain (none: nothing to do).
  let apps: AppBehind[] | undefined;
  let routers = 0;
  if (pending.length === 0) {
    apps = o.deployer ? await appsBehind(o.deployer, v, say) : [];
    routers = o.deployer ? await routersBehind(o.deployer, v, o.clusterKey) : 0;
    if (apps.length === 0 && routers === 0) {
      say(`already at ${v}`);
      return 'current';
    }
  }
  await o.requireHealthy();
  if (o.confirm) {
    const what =
      pending.length > 0
        ? `Update ${pending.length} host(s) from ${[...new Set(pending.map((h) => h.version))].join(', ')} to ${v}`
        : `Move ${[...(apps ?? []).map((a) => a.name), ...(routers > 0 ? [`${routers} router(s)`] : [])].join(', ')} to ${v}`;
    if (!(await o.confirm(`${what}?`))) return 'declined';
  }

  if (pending.length > 0) {
    say(`sending release ${v} to ${pending.map((h) => h.id).join(', ')}`);
    const paths = await calls.distribute(pending, release);
    for (const host of pending) {
      await checkpoint();
      try {
        const answer = await calls.handOver(host, paths.get(host.id) as string);
        const now = await calls.waitFor(host, v, host.pid, o.handoverTimeoutMs ?? 60_000);
        say(
          `host ${host.id}: ${host.version} → ${now.version} (pid ${host.pid ?? '?'} → ${now.pid ?? answer.pid ?? '?'})`,
        );
      } catch (err) {
        throw new UpdateError(`${(err as Error).message}; hosts: ${await calls.versionsLine(hosts)}`);
      }
    }
  }

  if (o.deployer) {
    const behind = apps ?? (await appsBehind(o.deployer, v, say));
    const [first, rest] = [
      behind.filter((a) => a.name === 'discoverd'),
      behind.filter((a) => a.name !== 'discoverd'),
    ];
    await redeployApps(o.deployer, first, v, say, checkpoint);
    await checkpoint();
    await rollRouters(o.deployer, v, { clusterKey: o.clusterKey, say, checkpoint });
    await redeployApps(o.deployer, rest, v, say, checkpoint);
  }
  say('update complete');
  return 'updated';
}

import type { App, Release } from '@flynn-edge/app-model';
import type { BackupManifest, KvPair, VerifiedArchive } from '@flynn-edge/backup';

// What a restore carries through the bootstrap run (flynn-ops.md §9.2): the verified backup, its
// store as a map, and what the run rewrote (so the check after it knows what to compare).

export interface RestoreContext {
  archive: VerifiedArchive<BackupManifest>;
  kv: Map<string, string>;
  /** Keys the restore writes itself (system apps' records, cluster/config, volumes): not seeded. */
  rewritten: Set<string>;
  /** What was put onto the hosts, for the summary. */
  restored: { keys: number; volumes: number; artifacts: number };
}

export function restoreContext(archive: VerifiedArchive<BackupManifest> & { kv: KvPair[] }): RestoreContext {
  return {
    archive,
    kv: new Map(archive.kv.map((p) => [p.key, p.value])),
    rewritten: new Set(),
    restored: { keys: 0, volumes: 0, artifacts: 0 },
  };
}

/** A backed-up JSON record, or undefined. */
export function backedUp<T>(ctx: RestoreContext, key: string): T | undefined {
  const v = ctx.kv.get(key);
  return v === undefined ? undefined : (JSON.parse(v) as T);
}

/** The backup's app and its current release, by app name. */
export function backedUpApp(ctx: RestoreContext, name: string): { app: App; release?: Release } | undefined {
  const app = backedUp<App>(ctx, `apps/${name}`);
  if (!app?.id) return undefined;
  const release = app.release ? backedUp<Release>(ctx, `releases/${app.id}/${app.release}`) : undefined;
  return { app, release };
}

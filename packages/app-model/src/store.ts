import { randomUUID } from 'node:crypto';
import { AppModelError } from './errors.js';
import { keys } from './keys.js';
import { checkAppName } from './parse.js';
import type { StoreKv, StoreOp } from './store-kv.js';
import {
  type App,
  type Artifact,
  type Deployment,
  type Formation,
  type Release,
  SYSTEM_APP_META,
  type VolumeRecord,
} from './types.js';

// Reading and writing the app model's records (flynn-ops.md §1.2). Every multi-key change is one
// transaction guarded by the revisions it read, so two operators cannot half-overwrite each other.

export const DEFAULT_DEPLOY_TIMEOUT_S = 120;

/** A record and the mod_revision it was read at (for compare-and-set). */
export interface Versioned<T> {
  value: T;
  revision: number;
}

const now = () => new Date().toISOString();

/** A stored app record with Flynn's defaults for missing fields (the daemon's old {id,name,env}). */
export function normalizeApp(raw: Partial<App> & { id: string; name: string }): App {
  return {
    id: raw.id,
    name: raw.name,
    meta: raw.meta ?? { 'gc.max_inactive_slug_releases': '10' },
    strategy: raw.strategy ?? 'all-at-once',
    release: raw.release ?? '',
    deploy_timeout: raw.deploy_timeout ?? DEFAULT_DEPLOY_TIMEOUT_S,
    created_at: raw.created_at ?? '',
    updated_at: raw.updated_at ?? '',
  };
}

export function isSystemApp(app: App): boolean {
  return app.meta[SYSTEM_APP_META] === 'true';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class AppStore {
  constructor(readonly kv: StoreKv) {}

  private async read<T>(key: string): Promise<Versioned<T> | undefined> {
    const e = await this.kv.get(key);
    if (!e) return undefined;
    try {
      return { value: JSON.parse(e.value) as T, revision: e.mod_revision };
    } catch {
      throw new AppModelError(`the cluster store holds invalid JSON at ${key}`);
    }
  }

  async domain(): Promise<string | undefined> {
    return (await this.read<{ domain?: string }>(keys.clusterConfig))?.value.domain;
  }

  /** By name, or by id (`app-ids/`) when the argument is one. */
  async findApp(nameOrId: string): Promise<Versioned<App> | undefined> {
    let rec = await this.read<App>(keys.app(nameOrId));
    if (!rec && UUID.test(nameOrId)) {
      const name = await this.read<string>(keys.appId(nameOrId));
      if (name) rec = await this.read<App>(keys.app(name.value));
    }
    return rec && { value: normalizeApp(rec.value), revision: rec.revision };
  }

  async app(nameOrId: string): Promise<Versioned<App>> {
    const rec = await this.findApp(nameOrId);
    if (!rec) throw new AppModelError(`app not found: ${JSON.stringify(nameOrId)}`);
    return rec;
  }

  async apps(): Promise<App[]> {
    const { entries } = await this.kv.list(keys.appsPrefix);
    return entries
      .map((e) => normalizeApp(JSON.parse(e.value) as App))
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || a.name.localeCompare(b.name));
  }

  /** Creates `apps/<name>` and `app-ids/<id>` at once; Flynn's 409 message when the name is taken. */
  async createApp(name: string, init: Partial<App> = {}): Promise<App> {
    checkAppName(name);
    const t = now();
    const app = normalizeApp({ ...init, id: init.id ?? randomUUID(), name, created_at: t, updated_at: t });
    const res = await this.kv.txn({
      compare: [{ key: keys.app(name), op: 'absent' }],
      success: [
        { op: 'put', key: keys.app(name), value: JSON.stringify(app) },
        { op: 'put', key: keys.appId(app.id), value: JSON.stringify(name) },
      ],
    });
    if (!res.succeeded)
      throw new AppModelError(`object_exists: application ${JSON.stringify(name)} already exists`);
    return app;
  }

  /**
   * Records an app whatever is there: a system app whose jobs started before the store could take
   * its record (a flynn-host daemon then wrote a bare {id, name}) gets its full record now.
   */
  async putApp(name: string, init: Partial<App> & { id: string }): Promise<App> {
    checkAppName(name);
    const t = now();
    const app = normalizeApp({ created_at: t, updated_at: t, ...init, name });
    await this.kv.txn({
      success: [
        { op: 'put', key: keys.app(name), value: JSON.stringify(app) },
        { op: 'put', key: keys.appId(app.id), value: JSON.stringify(name) },
      ],
    });
    return app;
  }

  /** Removes the app and everything recorded under its id (jobs and routes are the caller's). */
  async deleteApp(app: Versioned<App>): Promise<{ releases: number }> {
    const id = app.value.id;
    const releases = (await this.kv.list(keys.releasesPrefix(id))).entries;
    const volumes = (await this.kv.list(keys.volumesPrefix(id))).entries;
    const ops: StoreOp[] = [
      { op: 'delete', key: keys.app(app.value.name) },
      { op: 'delete', key: keys.appId(id) },
      { op: 'delete', key: keys.formation(id) },
      ...[...releases, ...volumes].map((e) => ({ op: 'delete' as const, key: e.key })),
    ];
    const res = await this.kv.txn({
      compare: [{ key: keys.app(app.value.name), op: '=', mod_revision: app.revision }],
      success: ops,
    });
    if (!res.succeeded) throw new AppModelError(`the app ${app.value.name} changed meanwhile; retry`);
    return { releases: releases.length };
  }

  async release(appId: string, id: string): Promise<Release | undefined> {
    return (await this.read<Release>(keys.release(appId, id)))?.value;
  }

  /** Newest first. */
  async releases(appId: string): Promise<Release[]> {
    const { entries } = await this.kv.list(keys.releasesPrefix(appId));
    return entries
      .map((e) => JSON.parse(e.value) as Release)
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
  }

  async currentRelease(app: App): Promise<Release | undefined> {
    return app.release ? this.release(app.id, app.release) : undefined;
  }

  /** Records a new release (a fresh id and time); it serves once a deploy switches to it. */
  async createRelease(
    app: App,
    r: Pick<Release, 'artifacts' | 'env' | 'processes'> & { meta?: Record<string, string>; id?: string },
  ): Promise<Release> {
    const release: Release = {
      id: r.id ?? randomUUID(),
      app_id: app.id,
      artifacts: r.artifacts,
      env: r.env,
      meta: r.meta ?? {},
      processes: r.processes,
      created_at: now(),
    };
    const res = await this.kv.txn({
      compare: [{ key: keys.app(app.name), op: 'present' }],
      success: [{ op: 'put', key: keys.release(app.id, release.id), value: JSON.stringify(release) }],
    });
    if (!res.succeeded) throw new AppModelError(`app not found: ${JSON.stringify(app.name)}`);
    return release;
  }

  async artifact(id: string): Promise<Artifact | undefined> {
    return (await this.read<Artifact>(keys.artifact(id)))?.value;
  }

  async putArtifact(a: Artifact): Promise<void> {
    await this.kv.txn({ success: [{ op: 'put', key: keys.artifact(a.id), value: JSON.stringify(a) }] });
  }

  /** The app's data volumes, as deploys recorded them. */
  async volumes(appId: string): Promise<VolumeRecord[]> {
    const { entries } = await this.kv.list(keys.volumesPrefix(appId));
    return entries.map((e) => JSON.parse(e.value) as VolumeRecord);
  }

  async putVolume(v: VolumeRecord): Promise<void> {
    await this.kv.txn({
      success: [{ op: 'put', key: `${keys.volumesPrefix(v.app_id)}${v.id}`, value: JSON.stringify(v) }],
    });
  }

  async formation(appId: string): Promise<Versioned<Formation> | undefined> {
    return this.read<Formation>(keys.formation(appId));
  }

  async deployment(appId: string): Promise<Deployment | undefined> {
    return (await this.read<Deployment>(keys.deployment(appId)))?.value;
  }

  /** Takes the app's deploy lock, or says who holds it. */
  async lock(app: App, release: string): Promise<Deployment> {
    const d: Deployment = { id: randomUUID(), release, old_release: app.release, started_at: now() };
    const res = await this.kv.txn({
      compare: [{ key: keys.deployment(app.id), op: 'absent' }],
      success: [{ op: 'put', key: keys.deployment(app.id), value: JSON.stringify(d) }],
    });
    if (!res.succeeded) {
      const held = await this.deployment(app.id);
      throw new AppModelError(
        `a deployment of ${app.name} is already running (release ${held?.release ?? '?'}, since ${held?.started_at ?? '?'})`,
      );
    }
    return d;
  }

  async unlock(app: App, lock: Deployment): Promise<void> {
    const cur = await this.kv.get(keys.deployment(app.id));
    if (!cur || (JSON.parse(cur.value) as Deployment).id !== lock.id) return;
    await this.kv.txn({
      compare: [{ key: keys.deployment(app.id), op: '=', mod_revision: cur.mod_revision }],
      success: [{ op: 'delete', key: keys.deployment(app.id) }],
    });
  }

  /**
   * Switches the app to `release` with these counts, in one transaction guarded by the app record's
   * revision (§1.3 step 4). Returns the new app record.
   */
  async switchRelease(app: Versioned<App>, release: string, processes: Record<string, number>): Promise<App> {
    const t = now();
    const next: App = { ...app.value, release, updated_at: t };
    const formation: Formation = { app: app.value.id, release, processes, updated_at: t };
    const res = await this.kv.txn({
      compare: [{ key: keys.app(app.value.name), op: '=', mod_revision: app.revision }],
      success: [
        { op: 'put', key: keys.app(app.value.name), value: JSON.stringify(next) },
        { op: 'put', key: keys.formation(app.value.id), value: JSON.stringify(formation) },
      ],
    });
    if (!res.succeeded) throw new AppModelError(`the app ${app.value.name} changed during the deploy; retry`);
    return next;
  }
}

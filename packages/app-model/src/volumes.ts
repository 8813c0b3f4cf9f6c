import { AppModelError } from './errors.js';
import type { HostRef, HostsPort } from './hosts-port.js';
import { volumeEnvName } from './job-spec.js';
import type { AppStore } from './store.js';
import type { App, Release } from './types.js';

// Volumes as app data (flynn-ops.md §1.2): a process type's `volumes` become ZFS data volumes on
// the host that runs the job, recorded in `volumes/<app id>/<volume id>`. A job placed on a host
// that already holds the type's volume for that path gets it again (its data is there); otherwise
// a new, empty one. Volumes are never moved or replicated: a backup is a dead host's only copy.

/** Host ids holding a recorded volume of this app's process type. */
export async function volumeHosts(
  store: AppStore,
  app: App,
  release: Release,
  type: string,
): Promise<Set<string>> {
  if (!release.processes[type]?.volumes?.length) return new Set();
  return new Set((await store.volumes(app.id)).filter((v) => v.process_type === type).map((v) => v.host_id));
}

/**
 * The volumes a new job of `type` on `host` mounts, reusing recorded ones not `taken` by another
 * job of this deploy, creating the rest. Returns the job spec's `volumes`.
 */
export async function attachVolumes(
  store: AppStore,
  port: HostsPort,
  app: App,
  release: Release,
  type: string,
  host: HostRef,
  taken: Set<string>,
): Promise<{ id: string; env: string }[] | undefined> {
  const reqs = release.processes[type]?.volumes ?? [];
  if (reqs.length === 0) return undefined;
  if (!port.createVolume)
    throw new AppModelError(`process type ${type} needs volumes, which this client cannot create`);
  const recorded = await store.volumes(app.id);
  const out: { id: string; env: string }[] = [];
  for (const req of reqs) {
    let id = recorded.find(
      (v) => v.process_type === type && v.path === req.path && v.host_id === host.id && !taken.has(v.id),
    )?.id;
    if (!id) {
      ({ id } = await port.createVolume(host, { app_id: app.id, process_type: type, path: req.path }));
      await store.putVolume({
        id,
        app_id: app.id,
        process_type: type,
        path: req.path,
        host_id: host.id,
        created_at: new Date().toISOString(),
      });
    }
    taken.add(id);
    out.push({ id, env: req.env ?? volumeEnvName(req.path) });
  }
  return out;
}

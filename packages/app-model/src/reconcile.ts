import type { Deployer, DeployOptions } from './deploy.js';
import { AppModelError } from './errors.js';
import { appJobs, type HostRef, isLive, type PlacedJob } from './hosts-port.js';
import { placeJobs } from './placement.js';

// Brings one app back to its formation on the hosts that are left (flynn-ops.md §7, what
// `flynn-host fix` does after discoverd is back): no scheduler runs here, so jobs lost with a
// dead host stay lost until someone starts them again. Omni types get one job on every live host
// that has none; other types get `count - live jobs of the current release`, placed as a scale
// places them. The app's deploy lock is held meanwhile, so a deploy and a fix never interleave.

export type ReconcileResult =
  | { app: string; status: 'reconciled'; started: PlacedJob[] }
  /** Another deploy holds the app's lock: nothing was touched. */
  | { app: string; status: 'locked' }
  /** No current release or formation: nothing to run. */
  | { app: string; status: 'no-formation' };

/** What a formation is missing on these hosts, as `{type, host}` to start. */
export function missingJobs(
  processes: Record<string, number>,
  omni: (type: string) => boolean,
  releaseId: string,
  appId: string,
  hosts: HostRef[],
  live: PlacedJob[],
): { type: string; host: HostRef }[] {
  const plan: { type: string; host: HostRef }[] = [];
  for (const [type, count] of Object.entries(processes).sort(([a], [b]) => a.localeCompare(b))) {
    if (!(count > 0)) continue;
    const ofType = live.filter((p) => p.job.app.id === appId && p.job.processType === type);
    if (omni(type)) {
      // Any release counts: an omni job holds fixed ports, a second one on the host would clash.
      for (const host of hosts) {
        if (!ofType.some((p) => p.host.id === host.id)) plan.push({ type, host });
      }
      continue;
    }
    const have = ofType.filter((p) => p.job.meta?.FLYNN_RELEASE_ID === releaseId).length;
    for (const host of placeJobs(type, count - have, hosts, live, appId)) plan.push({ type, host });
  }
  return plan;
}

/**
 * Starts what the app's formation misses on the hosts the deployer's port lists, waits until the
 * new jobs are up (Deployer.startAll: a job that fails stops the others), and reports them.
 */
export async function reconcileFormation(
  deployer: Deployer,
  appName: string,
  opts: DeployOptions = {},
): Promise<ReconcileResult> {
  const { store, port } = deployer;
  const app = (await store.app(appName)).value;
  const release = await store.currentRelease(app);
  const formation = await store.formation(app.id);
  if (!release || !formation || formation.value.release !== release.id) {
    return { app: app.name, status: 'no-formation' };
  }
  if (await store.deployment(app.id)) return { app: app.name, status: 'locked' };
  let lock: Awaited<ReturnType<typeof store.lock>>;
  try {
    lock = await store.lock(app, release.id);
  } catch (err) {
    // Taken between the look and the lock.
    if (err instanceof AppModelError && (await store.deployment(app.id))) {
      return { app: app.name, status: 'locked' };
    }
    throw err;
  }
  try {
    const hosts = await port.hosts();
    const live = (await appJobs(port, app.id, hosts)).filter((p) => isLive(p.job));
    const plan = missingJobs(
      formation.value.processes,
      (type) => release.processes[type]?.omni === true,
      release.id,
      app.id,
      hosts,
      live,
    ).filter((step) => release.processes[step.type]);
    const started = plan.length > 0 ? await deployer.startAll(app, release, plan, opts) : [];
    return { app: app.name, status: 'reconciled', started };
  } finally {
    await store.unlock(app, lock);
  }
}

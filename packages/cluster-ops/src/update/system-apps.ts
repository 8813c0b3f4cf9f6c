import { appJobs, type Deployer, type HostJobView, isLive, type Release } from '@flynn-edge/app-model';

// Step 5: the system apps onto the new tree. Builtins resolve to the installed tree when a job
// spawns, so a new release with the same env, deployed host by host (the apps' one-by-one
// strategy for discoverd and router), runs the new code. That release carries the update's
// version in its meta: an app is done when its current release has it and every live job of the
// app runs that release (a rerun skips it).

/**
 * Flynn's order, restricted to the apps flynn-edge runs. The router is not redeployed: its
 * workers are replaced in place (router-workers.ts) between discoverd and the rest.
 */
export const SYSTEM_APPS = ['discoverd', 'router', 'controller', 'logaggregator', 'status'] as const;
export const REDEPLOYED_APPS = SYSTEM_APPS.filter((a) => a !== 'router');

/** Release meta: the flynn-edge version this release was made for by `flynn-host update`. */
export const UPDATED_FOR = 'flynn-edge.update-version';

/** True when the app's release is the one made for `version` and every live job runs it. */
export function appIsCurrent(release: Release | undefined, jobs: HostJobView[], version: string): boolean {
  if (!release || release.meta?.[UPDATED_FOR] !== version) return false;
  // An app scaled to 0 has nothing left to move once its release is marked.
  return jobs.filter(isLive).every((j) => j.meta?.FLYNN_RELEASE_ID === release.id);
}

/** A system app not yet on the update's version, and the release it runs now. */
export interface AppBehind {
  name: string;
  release: Release;
}

/** The system apps still to redeploy for `version`, in order; missing ones are said and skipped. */
export async function appsBehind(
  deployer: Deployer,
  version: string,
  say: (line: string) => void,
  apps: readonly string[] = REDEPLOYED_APPS,
): Promise<AppBehind[]> {
  const { store, port } = deployer;
  const behind: AppBehind[] = [];
  for (const name of apps) {
    const app = await store.findApp(name);
    const release = app && (await store.currentRelease(app.value));
    if (!app || !release) {
      say(`app ${name}: ${app ? 'no release' : 'not installed'}, skipped`);
      continue;
    }
    const jobs = (await appJobs(port, app.value.id)).map((p) => p.job);
    if (!appIsCurrent(release, jobs, version)) behind.push({ name, release });
  }
  return behind;
}

/** Each app in turn: a copy of its release marked for `version`, deployed by the app model. */
export async function redeployApps(
  deployer: Deployer,
  behind: AppBehind[],
  version: string,
  say: (line: string) => void,
  /** Between apps: throws to stop (an interrupted update). */
  checkpoint: () => Promise<void> = async () => {},
): Promise<void> {
  for (const { name, release } of behind) {
    await checkpoint();
    const app = await deployer.store.app(name);
    const next = await deployer.store.createRelease(
      app.value,
      structuredClone({
        artifacts: release.artifacts,
        env: release.env,
        processes: release.processes,
        meta: { ...release.meta, [UPDATED_FOR]: version },
      }),
    );
    say(`app ${name}: deploying release ${next.id}`);
    const result = await deployer.deploy(name, next, { progress: say });
    say(
      `app ${name}: on ${version} (${result.started.length} jobs started, ${result.stopped.length} stopped)`,
    );
  }
}

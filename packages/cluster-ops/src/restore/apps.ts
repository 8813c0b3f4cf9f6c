import { Deployer } from '@flynn-edge/app-model';
import { type State, type Step, storeOf } from '../bootstrap/state.js';

// restore-apps (§9.2 step 7): every app the manifest does not run — the user apps, and system
// apps this version no longer ships — started at its formation's counts of its current release
// (a scale to the same counts: the deployer places them, preferring the hosts that received
// their volumes, and waits until each job is up and registered).

export async function restoreApps(step: Step, state: State): Promise<void> {
  const system = new Set((step.system_apps as string[] | undefined) ?? []);
  const store = storeOf(state);
  const deployer = new Deployer(store, state.api);
  let started = 0;
  let apps = 0;
  const failed: string[] = [];
  for (const app of await store.apps()) {
    if (system.has(app.name) || !app.release) continue;
    const formation = await store.formation(app.id);
    const counts = formation?.value.processes ?? {};
    if (!Object.values(counts).some((n) => n > 0)) continue;
    // One app that does not start must not keep the others (and the checks after) from running.
    try {
      const r = await deployer.scale(app.name, {}, { timeoutMs: state.config.jobTimeoutMs });
      state.note?.(`${app.name}: ${r.started.length} jobs`);
      started += r.started.length;
      apps++;
    } catch (err) {
      state.note?.(`${app.name}: ${(err as Error).message}`);
      failed.push(app.name);
    }
  }
  if (failed.length > 0) throw new Error(`apps that did not start: ${failed.join(', ')} (the others run)`);
  state.stepData[step.id] = `${apps} apps, ${started} jobs`;
}

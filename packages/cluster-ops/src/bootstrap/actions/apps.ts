import { Deployer } from '@flynn-edge/app-model';
import type { State, Step } from '../state.js';
import { storeOf } from '../state.js';
import { appOfStep, recordApp, recordClusterConfig, scaledCounts } from '../system-apps.js';

// add-app records what a run-app step started (app, artifact, release, formation); deploy-app
// records an app and runs its formation through the app model's Deployer (one-by-one for fixed
// ports), waiting until every job is up and registered.

export async function addApp(step: Step, state: State): Promise<void> {
  const from = String(step.from_step ?? '');
  const ran = state.ranApps[from];
  if (!ran) throw new Error(`bootstrap: add-app: no run-app step ${JSON.stringify(from)}`);
  const store = storeOf(state);
  await recordClusterConfig(store, state);
  await recordApp(store, ran);
  await store.switchRelease(await store.app(ran.app.name), ran.release.id, ran.processes);
}

export async function deployApp(step: Step, state: State): Promise<void> {
  const ran = appOfStep(step, state);
  const store = storeOf(state);
  await recordClusterConfig(store, state);
  await recordApp(store, ran);
  const deployer = new Deployer(store, state.api);
  const opts = { timeoutMs: state.config.jobTimeoutMs };
  await deployer.deploy(ran.app.name, ran.release, opts);
  await deployer.scale(ran.app.name, scaledCounts(ran, state), opts);
}

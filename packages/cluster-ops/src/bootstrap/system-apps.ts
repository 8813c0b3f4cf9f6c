import { randomUUID } from 'node:crypto';
import {
  type App,
  type AppStore,
  type Artifact,
  keys,
  normalizeApp,
  type ProcessType,
  type Release,
  SYSTEM_APP_META,
} from '@flynn-edge/app-model';
import { restoredSystemApp } from '../restore/system-apps.js';
import type { RanApp, State, Step } from './state.js';

// A run-app or deploy-app step as the app model's records (Flynn's ExpandedFormation: app,
// release, artifact, per-type counts), and their writes into the cluster store.

interface AppStepFields {
  app?: Partial<App> & { name?: string };
  artifact?: { type?: string; uri?: string };
  artifacts?: { type?: string; uri?: string }[];
  release?: { env?: Record<string, string>; processes?: Record<string, ProcessType> };
  processes?: Record<string, number>;
}

/** In a restore, the backup's records of the app with this version's args (restore/system-apps.ts). */
export function appOfStep(step: Step, state?: State): RanApp {
  const fresh = freshAppOfStep(step);
  return state?.restore ? restoredSystemApp(fresh, state.restore) : fresh;
}

function freshAppOfStep(step: Step): RanApp {
  const f = step as Step & AppStepFields;
  const name = f.app?.name ?? step.id;
  const now = new Date().toISOString();
  const app = normalizeApp({
    ...f.app,
    id: f.app?.id ?? randomUUID(),
    name,
    meta: { ...f.app?.meta, [SYSTEM_APP_META]: 'true' },
    created_at: now,
    updated_at: now,
  });
  const a = f.artifact ?? f.artifacts?.[0];
  const uri = a?.uri ?? `builtin:${name}`;
  if ((a?.type ?? 'builtin') !== 'builtin' || !uri.startsWith('builtin:')) {
    throw new Error(
      `bootstrap: step ${step.id}: only builtin artifacts are supported (got ${JSON.stringify(a)})`,
    );
  }
  const artifact: Artifact = { id: randomUUID(), type: 'builtin', uri, meta: {}, created_at: now };
  const processes = f.release?.processes ?? {};
  if (Object.keys(processes).length === 0)
    throw new Error(`bootstrap: step ${step.id}: the release has no processes`);
  const release: Release = {
    id: randomUUID(),
    app_id: app.id,
    artifacts: [artifact.id],
    env: f.release?.env ?? {},
    meta: {},
    processes,
    created_at: now,
  };
  return { app, release, artifact, processes: { ...(f.processes ?? {}) } };
}

/**
 * Counts as they will run: a singleton cluster caps every count at 1; otherwise a non-omni count
 * is capped at the number of hosts (two of a system app on one host buys nothing).
 */
export function scaledCounts(ran: RanApp, state: State): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [type, n] of Object.entries(ran.processes)) {
    if (!ran.release.processes[type])
      throw new Error(`bootstrap: unknown process type ${JSON.stringify(type)}`);
    const cap = state.config.singleton ? 1 : ran.release.processes[type].omni ? n : state.hosts.length;
    out[type] = Math.min(n, cap);
  }
  return out;
}

/** The app, its artifact and release; the release is not current yet. */
export async function recordApp(store: AppStore, ran: RanApp): Promise<void> {
  await store.putArtifact(ran.artifact);
  const app = await store.putApp(ran.app.name, ran.app);
  await store.createRelease(app, ran.release);
}

/** cluster/config, written once (the first add-app or deploy-app). */
export async function recordClusterConfig(store: AppStore, state: State): Promise<void> {
  const id = state.stepData['bootstrap-id'] as { data?: string } | undefined;
  await store.kv.txn({
    compare: [{ key: keys.clusterConfig, op: 'absent' }],
    success: [
      {
        op: 'put',
        key: keys.clusterConfig,
        value: JSON.stringify({
          domain: state.config.env.CLUSTER_DOMAIN,
          bootstrap_id: id?.data,
          created_at: new Date().toISOString(),
        }),
      },
    ],
  });
}

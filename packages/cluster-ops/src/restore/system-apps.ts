import { type Artifact, keys, SYSTEM_APP_META } from '@flynn-edge/app-model';
import type { RanApp } from '../bootstrap/state.js';
import { backedUp, backedUpApp, type RestoreContext } from './context.js';

// A system app of the manifest, restored (§9.2 step 5): the backup's app id, release id and env
// (COOKIE_KEY, AUTH_KEY, TLS keys, anything the operator set), this version's process args and
// builtin artifacts; DISCOVERD_PEERS names the new hosts. The restore writes these records itself,
// so the store seed leaves them out.

/** Env the manifest computes from the new hosts: it wins over the backup's. */
const NEW_HOSTS_ENV = ['DISCOVERD_PEERS'];

export function restoredSystemApp(fresh: RanApp, ctx: RestoreContext): RanApp {
  const prior = backedUpApp(ctx, fresh.app.name);
  if (!prior) return fresh;
  const app = { ...fresh.app, ...prior.app, meta: { ...prior.app.meta, [SYSTEM_APP_META]: 'true' } };
  const env = { ...fresh.release.env, ...prior.release?.env };
  for (const k of NEW_HOSTS_ENV) {
    if (fresh.release.env[k] !== undefined) env[k] = fresh.release.env[k];
  }
  // The backup's builtin artifact record when it names the same component (same id, same value).
  const priorArtifact = prior.release?.artifacts[0]
    ? backedUp<Artifact>(ctx, keys.artifact(prior.release.artifacts[0]))
    : undefined;
  const artifact =
    priorArtifact?.type === 'builtin' && priorArtifact.uri === fresh.artifact.uri
      ? priorArtifact
      : fresh.artifact;
  const release = {
    ...fresh.release,
    id: prior.release?.id ?? fresh.release.id,
    app_id: app.id,
    artifacts: [artifact.id],
    env,
    meta: { ...prior.release?.meta },
    created_at: prior.release?.created_at ?? fresh.release.created_at,
  };
  for (const k of [
    keys.app(app.name),
    keys.appId(app.id),
    keys.release(app.id, release.id),
    keys.formation(app.id),
    keys.artifact(artifact.id),
  ])
    ctx.rewritten.add(k);
  return { ...fresh, app, release, artifact };
}

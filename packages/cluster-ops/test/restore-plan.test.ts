import { describe, expect, it } from 'vitest';
import { defaultManifest } from '../src/bootstrap/default-manifest.js';
import type { RanApp } from '../src/bootstrap/state.js';
import { restoreContext } from '../src/restore/context.js';
import { markRewritten } from '../src/restore/seed.js';
import { manifestAppNames, restoreSteps } from '../src/restore/steps.js';
import { restoredSystemApp } from '../src/restore/system-apps.js';

// The restore's plan (flynn-ops.md §9.2), without hosts: where the restore steps go in the
// shipped manifest, and how a system app's records come from the backup and the manifest.

describe('restoreSteps', () => {
  const steps = defaultManifest();
  const ids = restoreSteps(steps).map((s) => s.id);

  it('seeds the store after discoverd runs and before the first app is recorded', () => {
    expect(ids.indexOf('restore-store')).toBeGreaterThan(ids.indexOf('wait-hosts'));
    expect(ids.indexOf('restore-store')).toBe(ids.indexOf('add-discoverd') - 3);
    expect(ids.indexOf('restore-data')).toBe(ids.indexOf('restore-store') + 1);
    // Compared with the backup before anything runs that changes records on purpose.
    expect(ids.indexOf('restore-verify')).toBe(ids.indexOf('restore-data') + 1);
  });

  it('starts the user apps after the system apps and routes, checks before the final message', () => {
    expect(ids.indexOf('restore-apps')).toBe(ids.indexOf('controller-route') + 1);
    expect(ids.indexOf('restore-apps')).toBeLessThan(ids.indexOf('status-wait'));
    expect(ids.indexOf('restore-summary')).toBe(ids.indexOf('log-complete') - 1);
  });

  it('waits up to 600 s for status, as Flynn restores', () => {
    expect(restoreSteps(steps).find((s) => s.action === 'status-check')?.timeout).toBe(600);
  });

  it('names the apps the manifest runs', () => {
    expect(manifestAppNames(steps)).toEqual(['discoverd', 'router', 'logaggregator', 'status', 'controller']);
  });
});

describe('restoredSystemApp', () => {
  const t = '2025-01-01T00:00:00.000Z';
  const backedUp = {
    app: { id: 'a-old', name: 'router', meta: { 'flynn-system-app': 'true', note: 'x' }, release: 'r-old' },
    release: {
      id: 'r-old',
      app_id: 'a-old',
      artifacts: ['art-old'],
      env: { COOKIE_KEY: 'old-cookie', EXTRA: 'operator set', DISCOVERD_PEERS: '10.0.0.1:1111,' },
      meta: {},
      processes: { app: { args: ['bin/router.js', '-old-flag'], omni: true } },
      created_at: t,
    },
    artifact: { id: 'art-old', type: 'builtin', uri: 'builtin:router', meta: {}, created_at: t },
  };
  const archive = {
    file: 'b.tar',
    top: 'flynn-backup-x',
    entries: new Map(),
    manifest: {} as never,
    kv: [
      { key: 'apps/router', value: JSON.stringify(backedUp.app) },
      { key: 'releases/a-old/r-old', value: JSON.stringify(backedUp.release) },
      { key: 'artifacts/art-old', value: JSON.stringify(backedUp.artifact) },
    ],
  };
  const fresh: RanApp = {
    app: { id: 'a-new', name: 'router', meta: {}, strategy: 'one-by-one', deploy_timeout: 120 } as never,
    release: {
      id: 'r-new',
      app_id: 'a-new',
      artifacts: ['art-new'],
      env: { COOKIE_KEY: 'new-cookie', DISCOVERD_PEERS: '10.9.9.9:1111,' },
      meta: {},
      processes: { app: { args: ['bin/router.js', '-http-port', '80'], omni: true } },
      created_at: t,
    },
    artifact: { id: 'art-new', type: 'builtin', uri: 'builtin:router', meta: {}, created_at: t },
    processes: { app: 1 },
  };

  it("keeps the backup's ids and env, takes this version's args and the new hosts' peers", () => {
    const ctx = restoreContext(archive as never);
    const r = restoredSystemApp(fresh, ctx);
    expect(r.app.id).toBe('a-old');
    expect(r.app.meta).toMatchObject({ note: 'x', 'flynn-system-app': 'true' });
    expect(r.release.id).toBe('r-old');
    expect(r.release.env).toEqual({
      COOKIE_KEY: 'old-cookie',
      EXTRA: 'operator set',
      DISCOVERD_PEERS: '10.9.9.9:1111,',
    });
    expect(r.release.processes.app.args).toEqual(['bin/router.js', '-http-port', '80']);
    expect(r.artifact.id).toBe('art-old');
    expect(r.release.artifacts).toEqual(['art-old']);
  });

  it('leaves an app the backup does not have as the manifest makes it', () => {
    const ctx = restoreContext({ ...archive, kv: [] } as never);
    expect(restoredSystemApp(fresh, ctx)).toBe(fresh);
  });

  it('marks what the restore writes itself, so the seed leaves it out', () => {
    const ctx = restoreContext(archive as never);
    markRewritten(ctx, ['router', 'status']);
    expect([...ctx.rewritten].sort()).toEqual([
      'app-ids/a-old',
      'apps/router',
      'artifacts/art-old',
      'cluster/config',
      'formations/a-old',
      'releases/a-old/r-old',
    ]);
  });
});

import { type App, isSystemApp } from '@flynn-edge/app-model';
import { say } from './prompt.js';
import { parentRef, type RouteJson, RouterApi } from './route.js';
import type { ClusterTarget } from './target.js';

// Flynn's default route of a new app (`flynn create`, `flynn import`): `<name>.<domain>` →
// `<name>-web`, draining, owned by the app; not for system apps (flynn-ops.md §1.1).

/** Flynn's default route of a new app (controller/app.go): `<name>.<domain>` → `<name>-web`. */
export async function addDefaultRoute(
  target: ClusterTarget,
  app: App,
  domain: string | undefined,
): Promise<RouteJson | undefined> {
  if (!domain || isSystemApp(app)) return undefined;
  try {
    return await new RouterApi(target).json<RouteJson>('POST', '/routes', {
      type: 'http',
      domain: `${app.name}.${domain}`,
      service: `${app.name}-web`,
      drain_backends: true,
      parent_ref: parentRef(app.id),
    });
  } catch (err) {
    // A failure is only reported, as Flynn only logged it.
    say(`warning: the default route ${app.name}.${domain} was not created: ${(err as Error).message}`);
    return undefined;
  }
}

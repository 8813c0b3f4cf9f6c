import type { State, Step } from '../state.js';
import { discoverdOf, storeOf } from '../state.js';
import type { TlsCert } from './basic.js';

// add-route: a route through the router API (any router-api instance), owned by an app recorded
// by an earlier step (`app_step`), with the certificate of a gen-tls-cert step (`cert_step`).

export async function addRoute(step: Step, state: State): Promise<void> {
  const route = { ...((step.route as Record<string, unknown> | undefined) ?? {}) };
  const appName = String(step.app_step ?? '');
  if (appName) route.parent_ref = `controller/apps/${(await storeOf(state).app(appName)).value.id}`;
  if (step.cert_step) {
    const cert = state.stepData[String(step.cert_step)] as TlsCert | undefined;
    if (!cert)
      throw new Error(`bootstrap: add-route: no certificate from step ${JSON.stringify(step.cert_step)}`);
    route.certificate = { cert: cert.cert, key: cert.privateKey };
  }
  const deadline = Date.now() + state.config.jobTimeoutMs * 2;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const [api] = await discoverdOf(state).instances('router-api');
      if (api) {
        const r = await fetch(`http://${api.addr}/routes`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(state.config.clusterKey ? { authorization: `Bearer ${state.config.clusterKey}` } : {}),
          },
          body: JSON.stringify(route),
          signal: AbortSignal.timeout(5000),
        });
        const text = await r.text();
        if (r.ok || r.status === 409) return;
        if (r.status === 401 || r.status === 400) throw new Error(`router API: ${r.status} ${text}`);
        last = `${r.status} ${text}`;
      } else last = 'no router-api instance';
    } catch (err) {
      if ((err as Error).message.startsWith('router API')) throw err;
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`bootstrap: add-route ${step.id}: ${last}`);
}

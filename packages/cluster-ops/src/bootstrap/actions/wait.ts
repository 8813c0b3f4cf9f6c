import type { DiscoverdClient } from '@flynn-edge/discoverd-client';
import type { State, Step } from '../state.js';
import { discoverdOf } from '../state.js';

// wait-hosts, wait and status-check: polls with deadlines. `http://<service>.discoverd/…` URLs
// resolve through discoverd's registry (the bootstrap machine need not use discoverd's DNS).

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Each host registered as flynn-host, discoverd answering with a leader. */
export async function waitHosts(_step: Step, state: State): Promise<void> {
  const client = discoverdOf(state);
  const deadline = Date.now() + Math.max(state.config.hostTimeoutMs, 60_000);
  let missing = state.hosts.map((h) => h.id);
  while (Date.now() < deadline) {
    try {
      const up = new Set((await client.instances('flynn-host')).map((i) => i.meta?.id));
      missing = state.hosts.filter((h) => !up.has(h.id)).map((h) => h.id);
      if (missing.length === 0) return;
    } catch {
      // no leader yet
    }
    await sleep(500);
  }
  throw new Error(`bootstrap: timed out waiting for hosts to come up: ${missing.join(', ')}`);
}

/** `http://svc.discoverd/path` → `http://<a registered instance>/path`; other URLs unchanged. */
async function resolveUrl(url: string, state: State): Promise<string> {
  return serviceUrl(url, discoverdOf(state));
}

/** `http://<service>.discoverd/…` → the address of one of its instances; other URLs as they are. */
async function serviceUrl(url: string, discoverd: Pick<DiscoverdClient, 'instances'>): Promise<string> {
  const u = new URL(url);
  if (!u.hostname.endsWith('.discoverd')) return url;
  const svc = u.hostname.slice(0, -'.discoverd'.length);
  const insts = await discoverd.instances(svc);
  if (insts.length === 0) throw new Error(`no instance of ${svc}`);
  return `${u.protocol}//${insts[0].addr}${u.pathname}${u.search}`;
}

export async function waitUrl(step: Step, state: State): Promise<void> {
  const url = String(step.url);
  // Without a status, any answer will do (the service serves).
  const want = typeof step.status === 'number' ? step.status : undefined;
  const deadline = Date.now() + (typeof step.timeout === 'number' ? step.timeout * 1000 : 300_000);
  let last = 'none';
  while (Date.now() < deadline) {
    try {
      const r = await fetch(await resolveUrl(url, state), { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (want === undefined || r.status === want) return;
      last = String(r.status);
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(500);
  }
  throw new Error(`bootstrap: timed out waiting for ${url}, last response ${last}`);
}

/** Prints as Flynn's StatusData. */
export class StatusData {
  constructor(
    readonly healthy: boolean,
    readonly unhealthy: string[],
  ) {}
  toString(): string {
    return this.healthy
      ? 'all services healthy'
      : `unhealthy services detected!\n\n${this.unhealthy.join('\n')}`;
  }
}

interface StatusAnswer {
  data?: { status?: string; detail?: Record<string, { status?: string; reason?: string }> };
}

/** The status service says healthy within `timeout` (default 60 s); still unhealthy fails (+). */
export async function statusCheck(step: Step, state: State): Promise<void> {
  const url = String(step.url ?? 'http://status-web.discoverd');
  const timeoutMs = typeof step.timeout === 'number' ? step.timeout * 1000 : 60_000;
  const bad = await unhealthyComponents(discoverdOf(state), url, timeoutMs);
  if (bad.length > 0) throw new Error(new StatusData(false, bad).toString());
  state.stepData[step.id] = new StatusData(true, []);
}

/**
 * Asks the status service at `url` (`http://<service>.discoverd/…` is found through discoverd)
 * until it says healthy or `timeoutMs` ends; resolves with what is still unhealthy then
 * (`<component>: <reason>`), or [] once healthy.
 */
export async function unhealthyComponents(
  discoverd: Pick<DiscoverdClient, 'instances'>,
  url: string,
  timeoutMs: number,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let bad = ['status (no answer)'];
  while (Date.now() < deadline) {
    try {
      const r = await fetch(await serviceUrl(url, discoverd), {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(5000),
      });
      const body = (await r.json()) as StatusAnswer;
      if (body.data?.status === 'healthy') return [];
      bad = Object.entries(body.data?.detail ?? {})
        .filter(([, d]) => d.status !== 'healthy')
        .map(([name, d]) => `${name}: ${d.reason ?? d.status}`);
    } catch (err) {
      bad = [`status: ${(err as Error).message}`];
    }
    await sleep(1000);
  }
  return bad;
}

import { appJobs, type Deployer, isLive, type PlacedJob } from '@flynn-edge/app-model';
import { HostApi } from '../host-api.js';
import { UpdateError } from './versions.js';

// Step 5 for the router: not a redeploy. A router job holds ports 80, 443 and the TCP route
// ports; a new job on the same host could bind them only once the old one let go, and every
// request in between would be refused. Its primary owns the listening sockets and its workers
// proxy, so a SIGHUP replaces the workers one at a time (a new one serves before an old one
// leaves) and, since builtins run through `current`, the new workers are the new release. The
// primary (route API, store watches, ACME) stays on the old release until that router restarts.

/** What a router's /router/status says of its processes. */
interface RouterStatus {
  healthy: boolean;
  reason?: string;
  /** The primary's pid and release. */
  pid?: number;
  version?: string;
  workers: { pid: number; version?: string }[];
}

export interface RouterRollOptions {
  clusterKey?: string;
  say: (line: string) => void;
  /** Per router, for its workers to be replaced (default 60 s). */
  timeoutMs?: number;
  /** Between routers: throws to stop (an interrupted update). */
  checkpoint?: () => Promise<void>;
}

/** The router's -api-port default (apps/router/src/config.ts). */
const DEFAULT_API_PORT = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The router jobs, host by host, with the address of each one's route API. */
async function routerJobs(deployer: Deployer, api: HostApi): Promise<{ placed: PlacedJob; url: string }[]> {
  const app = await deployer.store.findApp('router');
  if (!app) return [];
  const placed = (await appJobs(deployer.port, app.value.id)).filter(
    (p) => isLive(p.job) && p.job.state === 'running',
  );
  placed.sort((a, b) => a.host.id.localeCompare(b.host.id));
  return Promise.all(
    placed.map(async (p) => {
      const full = (await api.request(p.host.addr, 'GET', `/host/jobs/${p.job.id}`)) as {
        args?: string[];
        ports?: number[];
      };
      const port = apiPort(full);
      const ip = p.host.addr.replace(/:\d+$/, '');
      return { placed: p, url: `http://${ip}:${port}/router/status` };
    }),
  );
}

/** The router's -api-port flag, else its first allocated port ($PORT), else the flag's default. */
function apiPort(job: { args?: string[]; ports?: number[] }): number {
  const args = job.args ?? [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--?api-port(?:=(\d+))?$/.exec(args[i]!);
    if (m) return Number(m[1] ?? args[i + 1]);
  }
  return job.ports?.[0] ?? DEFAULT_API_PORT;
}

async function statusOf(url: string, clusterKey: string | undefined): Promise<RouterStatus> {
  const r = await fetch(url, {
    headers: clusterKey ? { authorization: `Bearer ${clusterKey}` } : {},
    signal: AbortSignal.timeout(5000),
  });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return (await r.json()) as RouterStatus;
}

/** Every worker on `version`, routes loaded, none of `oldPids` left. */
const settled = (s: RouterStatus, version: string, oldPids: Set<number> = new Set()) =>
  s.healthy && s.workers.length > 0 && s.workers.every((w) => w.version === version && !oldPids.has(w.pid));

/** -workers 0: the primary proxies itself, so a SIGHUP replaces nothing. */
const proxiesInPrimary = (s: RouterStatus) => s.workers.length === 1 && s.workers[0]?.pid === s.pid;

/** Routers whose workers are not all on `version` yet (or cannot say). */
export async function routersBehind(
  deployer: Deployer,
  version: string,
  clusterKey?: string,
): Promise<number> {
  const api = new HostApi([], clusterKey);
  let behind = 0;
  for (const { url } of await routerJobs(deployer, api)) {
    const s = await statusOf(url, clusterKey).catch(() => undefined);
    if (!s || (!proxiesInPrimary(s) && !settled(s, version))) behind++;
  }
  return behind;
}

/** SIGHUP each router in turn and wait until its workers are `version`; a router on it is skipped. */
export async function rollRouters(deployer: Deployer, version: string, o: RouterRollOptions): Promise<void> {
  const api = new HostApi([], o.clusterKey);
  const timeoutMs = o.timeoutMs ?? 60_000;
  for (const { placed, url } of await routerJobs(deployer, api)) {
    await o.checkpoint?.();
    const where = `router on ${placed.host.id}`;
    const before = await statusOf(url, o.clusterKey);
    if (settled(before, version)) {
      o.say(`${where}: workers already on ${version}`);
      continue;
    }
    // -workers 0: the primary proxies itself and a SIGHUP replaces nothing; only a restart of
    // the router job would move it, which refuses connections on this host meanwhile.
    if (proxiesInPrimary(before)) {
      o.say(
        `${where}: proxies in its primary (-workers 0), left on ${before.version ?? '?'}; restart it to move it`,
      );
      continue;
    }
    const oldPids = new Set(before.workers.map((w) => w.pid));
    await api.request(placed.host.addr, 'PUT', `/host/jobs/${placed.job.id}/signal/SIGHUP`);
    const deadline = Date.now() + timeoutMs;
    let last: RouterStatus | string = before;
    for (;;) {
      last = await statusOf(url, o.clusterKey).catch((err: Error) => err.message);
      if (typeof last !== 'string' && settled(last, version, oldPids)) break;
      if (Date.now() > deadline) {
        const now =
          typeof last === 'string' ? last : last.workers.map((w) => `${w.pid} ${w.version}`).join(', ');
        throw new UpdateError(
          `${where}: workers not replaced by ${version} within ${Math.round(timeoutMs / 1000)} s (now: ${now})`,
        );
      }
      await sleep(250);
    }
    o.say(
      `${where}: ${last.workers.length} worker(s) on ${version} (its primary, job ${placed.job.id}, stays on ${last.version ?? '?'})`,
    );
  }
}

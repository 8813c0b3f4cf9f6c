import type { Instance } from '@flynn-edge/discoverd-state';
import { HOST_ID_META } from '@flynn-edge/service-kit';
import type { CheckOutcome } from '../envelope.js';
import { type Discovery, getJson, probeEvery } from '../probe.js';
import { type Check, errorReason } from '../runner.js';
import { CertificateWatch } from './certificates.js';

// router: every `router-api` instance answers GET /router/status, reports itself healthy (route
// table loaded in every worker) and each worker's store watch was alive within `watchStaleMs`
// by the router's own clock (no skew between hosts can fake freshness).

export const ROUTER_API_SERVICE = 'router-api';
export const DEFAULT_WATCH_STALE_MS = 10_000;

export interface RouterStatus {
  healthy: boolean;
  reason?: string;
  workers: { pid: number; synced: boolean; watchAliveAt: number; routes?: number }[];
  now: number;
}

export interface RouterCheckOptions {
  discovery: Discovery;
  service?: string;
  watchStaleMs?: number;
  headers?: Record<string, string>;
  /** Managed certificates to note in the detail; default: from `discovery.kvValues` when it has one. */
  certificates?: CertificateWatch;
}

/** Judges one router's /router/status answer. */
export function judgeRouter(s: RouterStatus, watchStaleMs = DEFAULT_WATCH_STALE_MS): CheckOutcome {
  if (typeof s !== 'object' || s === null || !Array.isArray(s.workers)) {
    return { healthy: false, reason: 'unexpected /router/status answer' };
  }
  if (s.healthy !== true) return { healthy: false, reason: s.reason || 'reports itself unhealthy' };
  if (s.workers.length === 0) return { healthy: false, reason: 'no data plane is running' };
  for (const w of s.workers) {
    if (!w.synced) return { healthy: false, reason: `process ${w.pid} has not loaded the route table` };
    const silent = s.now - w.watchAliveAt;
    if (!(silent <= watchStaleMs)) {
      return { healthy: false, reason: `process ${w.pid}: store watch silent for ${silent} ms` };
    }
  }
  return { healthy: true };
}

async function probeRouter(
  inst: Instance,
  opts: RouterCheckOptions,
  signal: AbortSignal,
): Promise<CheckOutcome> {
  try {
    const s = await getJson<RouterStatus>(`http://${inst.addr}/router/status`, {
      signal,
      headers: opts.headers,
    });
    return judgeRouter(s, opts.watchStaleMs);
  } catch (err) {
    return { healthy: false, reason: errorReason(err) };
  }
}

export function routerCheck(opts: RouterCheckOptions): Check {
  const service = opts.service ?? ROUTER_API_SERVICE;
  const kvValues = opts.discovery.kvValues?.bind(opts.discovery);
  const certs = opts.certificates ?? (kvValues ? new CertificateWatch({ list: kvValues }) : undefined);
  return {
    name: 'router',
    async run(signal): Promise<CheckOutcome> {
      const [instances, certificates] = await Promise.all([
        opts.discovery.instances(service, signal),
        certs?.current() ?? [],
      ]);
      // A note only: a failed or expiring certificate leaves the router (and the cluster) healthy.
      const detail = certificates.length > 0 ? { instances: instances.length, certificates } : undefined;
      if (instances.length === 0) {
        return { healthy: false, reason: `no ${service} instance is registered`, detail };
      }
      return probeEvery(
        instances,
        (i) => probeRouter(i, opts, signal),
        detail ?? { instances: instances.length },
      );
    },
  };
}

/** Host scope: the router of `hostId` (the router-api instance whose meta HOST_ID matches). */
export function hostRouterCheck(opts: RouterCheckOptions & { hostId: string }): Check {
  const service = opts.service ?? ROUTER_API_SERVICE;
  return {
    name: 'router',
    async run(signal): Promise<CheckOutcome> {
      const instances = (await opts.discovery.instances(service, signal)).filter(
        (i) => i.meta?.[HOST_ID_META] === opts.hostId,
      );
      const detail = { host: opts.hostId };
      if (instances.length === 0) {
        return { healthy: false, reason: `no ${service} instance with HOST_ID ${opts.hostId}`, detail };
      }
      return probeEvery(instances, (i) => probeRouter(i, opts, signal), detail);
    },
  };
}

import type { Instance } from '@flynn-edge/discoverd-state';
import type { CheckOutcome } from '../envelope.js';
import { type Discovery, getJson, probeEvery } from '../probe.js';
import { type Check, errorReason } from '../runner.js';

// flynn-host: every daemon answers GET /host/status, its log disk has room, and its ZFS pool
// (when volumes are enabled) is ONLINE.
//
// "Room" means at least 5 % of the filesystem AND at least 256 MiB free (both adjustable). Logs
// rotate at 100 MB per app keeping one old file, so 256 MiB is about one app's worth of headroom
// while rotation catches up; the 5 % keeps a large disk from running to the last block, and is
// where ext4 starts eating into root's reserve. The daemon reports `bavail` (what an
// unprivileged writer can still use).

export const FLYNN_HOST_SERVICE = 'flynn-host';
export const DEFAULT_MIN_FREE_RATIO = 0.05;
export const DEFAULT_MIN_FREE_BYTES = 256 * 1024 * 1024;

export interface HostStatusBody {
  id?: string;
  log_disk?: { total_bytes: number; free_bytes: number } | { error: string };
  volumes?: { enabled: true; pool: string; health: string } | { enabled: false; reason: string };
}

export interface FlynnHostCheckOptions {
  discovery: Discovery;
  minFreeRatio?: number;
  minFreeBytes?: number;
  headers?: Record<string, string>;
}

const MiB = 1024 * 1024;

/** Judges one daemon's /host/status answer. */
export function judgeHost(
  s: HostStatusBody,
  minFreeRatio = DEFAULT_MIN_FREE_RATIO,
  minFreeBytes = DEFAULT_MIN_FREE_BYTES,
): CheckOutcome {
  const disk = s?.log_disk;
  if (!disk) return { healthy: false, reason: 'no log_disk in /host/status' };
  if ('error' in disk) return { healthy: false, reason: `log disk: ${disk.error}` };
  const { total_bytes: total, free_bytes: free } = disk;
  if (!Number.isFinite(total) || !Number.isFinite(free) || total <= 0) {
    return { healthy: false, reason: 'log disk: unreadable sizes' };
  }
  if (free < minFreeBytes || free / total < minFreeRatio) {
    const pct = ((free / total) * 100).toFixed(1);
    return {
      healthy: false,
      reason: `log disk nearly full: ${Math.floor(free / MiB)} MiB (${pct} %) free, needs ${Math.floor(minFreeBytes / MiB)} MiB and ${minFreeRatio * 100} %`,
    };
  }
  const vol = s.volumes;
  if (vol?.enabled && vol.health !== 'ONLINE') {
    return { healthy: false, reason: `pool ${vol.pool} is ${vol.health}` };
  }
  return { healthy: true };
}

async function probeHost(
  inst: Instance,
  opts: FlynnHostCheckOptions,
  signal: AbortSignal,
): Promise<CheckOutcome> {
  try {
    const s = await getJson<HostStatusBody>(`http://${inst.addr}/host/status`, {
      signal,
      headers: opts.headers,
    });
    return judgeHost(s, opts.minFreeRatio, opts.minFreeBytes);
  } catch (err) {
    return { healthy: false, reason: errorReason(err) };
  }
}

export function flynnHostCheck(opts: FlynnHostCheckOptions): Check {
  return {
    name: 'flynn-host',
    async run(signal): Promise<CheckOutcome> {
      const instances = await opts.discovery.instances(FLYNN_HOST_SERVICE, signal);
      if (instances.length === 0) return { healthy: false, reason: 'no flynn-host daemon is registered' };
      return probeEvery(instances, (i) => probeHost(i, opts, signal), { hosts: instances.length });
    },
  };
}

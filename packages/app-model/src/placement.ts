import type { HostRef, PlacedJob } from './hosts-port.js';
import type { Release } from './types.js';

// Where new jobs go: for each job, the host with the fewest jobs of this app and type, then one
// that holds the type's volumes (its data is there), then the fewest jobs overall, then by id —
// so two web jobs land on two hosts whenever two answer.

export function placeJobs(
  type: string,
  count: number,
  hosts: HostRef[],
  live: PlacedJob[],
  appId: string,
  prefer: ReadonlySet<string> = new Set(),
): HostRef[] {
  if (hosts.length === 0) return [];
  const same = new Map<string, number>();
  const total = new Map<string, number>();
  for (const { host, job } of live) {
    total.set(host.id, (total.get(host.id) ?? 0) + 1);
    if (job.app.id === appId && job.processType === type) same.set(host.id, (same.get(host.id) ?? 0) + 1);
  }
  const out: HostRef[] = [];
  for (let i = 0; i < count; i++) {
    const host = [...hosts].sort(
      (a, b) =>
        (same.get(a.id) ?? 0) - (same.get(b.id) ?? 0) ||
        Number(prefer.has(b.id)) - Number(prefer.has(a.id)) ||
        (total.get(a.id) ?? 0) - (total.get(b.id) ?? 0) ||
        a.id.localeCompare(b.id),
    )[0];
    out.push(host);
    same.set(host.id, (same.get(host.id) ?? 0) + 1);
    total.set(host.id, (total.get(host.id) ?? 0) + 1);
  }
  return out;
}

/**
 * Jobs to run for a formation count: an omni type's count is per host (Flynn: `{app: 1}` with
 * omni is one job on every host), any other type's is the cluster's.
 */
export function jobsWanted(release: Release, type: string, count: number, hosts: number): number {
  return release.processes[type]?.omni ? count * hosts : count;
}

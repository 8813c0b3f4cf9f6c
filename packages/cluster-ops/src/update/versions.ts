// Which hosts `flynn-host update` has to move, and when it must refuse (flynn-ops.md §5.2 step 1).
// A version is `<semver>[-<short commit>]` (scripts/release.mjs): releases are ordered by the
// semver part alone; two builds of the same release with different commits are neither older
// nor newer, so moving between them is allowed (an exact match counts as done).

export class UpdateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpdateError';
  }
}

/** `0.2.0-abc1234` → [0, 2, 0]; a part that is not a number counts as 0. */
export function releaseParts(version: string): number[] {
  const dash = version.indexOf('-');
  const release = (dash < 0 ? version : version.slice(0, dash)).replace(/^v/, '');
  return release.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : 0));
}

/** <0 when a's release is older than b's, 0 when the same release, >0 when newer. */
export function compareReleases(a: string, b: string): number {
  const pa = releaseParts(a);
  const pb = releaseParts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** A host as the plan sees it: its id and the version its daemon reports. */
export interface HostVersion {
  id: string;
  version: string;
}

export type HostPlan<H extends HostVersion> =
  | { kind: 'current'; message: string }
  | { kind: 'update'; pending: H[]; done: H[] };

/** Flynn's ErrIncompatibleVersion, on one line. */
export function incompatibleText(minVersion: string): string {
  return (
    `Versions prior to ${minVersion} cannot be updated in-place to this version of Flynn. ` +
    'In order to update to this version a cluster backup/restore is required.'
  );
}

/**
 * Every host on `target` → nothing to do; any host newer than it, or below the release's
 * `min_update_from`, → refused (UpdateError); else the hosts still to move, in id order.
 */
export function planHosts<H extends HostVersion>(
  hosts: H[],
  target: string,
  minUpdateFrom?: string,
): HostPlan<H> {
  if (hosts.length === 0) throw new UpdateError('no hosts found');
  const sorted = [...hosts].sort((a, b) => a.id.localeCompare(b.id));
  for (const h of sorted) {
    if (compareReleases(h.version, target) > 0)
      throw new UpdateError(`refusing to downgrade ${h.id} from ${h.version} to ${target}`);
  }
  const pending = sorted.filter((h) => h.version !== target);
  if (pending.length === 0) return { kind: 'current', message: `already at ${target}` };
  if (minUpdateFrom) {
    const old = pending.find((h) => compareReleases(h.version, minUpdateFrom) < 0);
    if (old) throw new UpdateError(`${incompatibleText(minUpdateFrom)} (${old.id} is at ${old.version})`);
  }
  return { kind: 'update', pending, done: sorted.filter((h) => h.version === target) };
}

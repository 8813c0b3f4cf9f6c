import type { BackendPool } from './pool.js';
import type { Backend } from './types.js';

/**
 * Flynn's backend choice: the sticky backend first (when present and not quarantined), then the
 * less loaded of two random backends not tried yet, skipping quarantined ones unless every
 * remaining backend is quarantined.
 */
export function selectBackend(
  pool: BackendPool,
  backends: readonly Backend[],
  stickyAddr: string | undefined,
  tried: readonly string[],
): Backend | undefined {
  const n = backends.length;
  if (n === 0) return undefined;
  if (tried.length === 0 && stickyAddr !== undefined) {
    for (let i = 0; i < n; i++) {
      if (backends[i].addr === stickyAddr && !pool.isQuarantined(stickyAddr)) return backends[i];
    }
  }
  if (tried.length === 0 && !pool.anyQuarantined()) return twoChoices(pool, backends);
  const fresh = backends.filter((b) => !tried.includes(b.addr));
  if (fresh.length === 0) return undefined;
  const healthy = fresh.filter((b) => !pool.isQuarantined(b.addr));
  return twoChoices(pool, healthy.length > 0 ? healthy : fresh);
}

function twoChoices(pool: BackendPool, list: readonly Backend[]): Backend {
  const n = list.length;
  if (n === 1) return list[0];
  const i = Math.floor(Math.random() * n);
  let j = Math.floor(Math.random() * (n - 1));
  if (j >= i) j++;
  return pool.inFlight(list[j].addr) < pool.inFlight(list[i].addr) ? list[j] : list[i];
}

/** Upgrade order: shuffled, the sticky backend first. */
export function upgradeOrder(backends: readonly Backend[], stickyAddr: string | undefined): string[] {
  const addrs = backends.map((b) => b.addr);
  for (let i = addrs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [addrs[i], addrs[j]] = [addrs[j], addrs[i]];
  }
  if (stickyAddr !== undefined) {
    const k = addrs.indexOf(stickyAddr);
    if (k > 0) [addrs[0], addrs[k]] = [addrs[k], addrs[0]];
  }
  return addrs;
}

import type { PortRange } from './types.js';

/**
 * The lowest port of `range` (inclusive) that is not in `usedEver`, or undefined when all are.
 *
 * Flynn's controller (migration 45) picked the lowest port that never appeared in `tcp_routes`,
 * soft-deleted rows included, so a port is not handed to a new service while old clients still
 * connect to it. `usedEver` must therefore hold every port any TCP route ever had, and it must
 * live in the cluster store (e.g. one `routes/tcp-used/<port>` key per port, see
 * `usedPortKey`), not in one router's memory: otherwise another router, or this one after a
 * restart, would reuse a port. The transaction that creates the route puts that marker and
 * compares `routes/tcp/<port>` absent, so two allocators racing for one port cannot both win.
 */
export function allocatePort(range: PortRange, usedEver: ReadonlySet<number>): number | undefined {
  for (let p = range.start; p <= range.end; p++) {
    if (!usedEver.has(p)) return p;
  }
  return undefined;
}

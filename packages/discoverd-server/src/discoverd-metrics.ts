import type { Metrics } from '@flynn-edge/service-kit';

// discoverd's Prometheus metrics (design.md conventions: flynn_discoverd_ prefix, base units,
// bounded labels). Gauges read their value at scrape time, so nothing is updated on hot paths.

export interface DiscoverdMetricSources {
  raft(): { term: number; commit: number; applied: number; lastIndex: number; isLeader: boolean };
  sseSubscribers(): number;
  instances(): number;
  services(): number;
  /** Registered instances by service name (services are operator-chosen, so bounded). */
  instancesByService(): Map<string, number>;
}

/** How a proposal ended, as counted by `flynn_discoverd_raft_proposals_total{result}`. */
export type ProposalResult =
  /** Committed and applied; the state machine accepted it. */
  | 'applied'
  /** Refused by the state machine's rules (not found, precondition…): before proposing, or when applied. */
  | 'refused'
  /** Not the leader (any more): the client was redirected or told there is none. */
  | 'not_leader'
  /** Not committed within the proposal timeout: the outcome is unknown. */
  | 'timeout'
  /** Anything else (leadership lost mid-way, stopped, storage failure). */
  | 'failed';

export const PROPOSAL_RESULTS: readonly ProposalResult[] = [
  'applied',
  'refused',
  'not_leader',
  'timeout',
  'failed',
];

/** Where a snapshot came from: taken here, or installed from the leader. */
export type SnapshotSource = 'local' | 'leader';

export interface DiscoverdMetrics {
  leaderChanges: { inc(): void };
  expiries: { inc(n: number): void };
  observeTiming(kind: 'proposal' | 'fsync', seconds: number): void;
  proposal(result: ProposalResult): void;
  /** A snapshot of `bytes` taken or installed; `null`: loaded from disk at start (size only). */
  snapshot(source: SnapshotSource | null, bytes: number): void;
}

/** Latency buckets for Raft proposals and WAL writes: 0.5 ms (one fdatasync) to 2.5 s. */
const RAFT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function registerDiscoverdMetrics(m: Metrics, src: DiscoverdMetricSources): DiscoverdMetrics {
  const gauge = (name: string, help: string, read: () => number) =>
    m.gauge(name, help, [], {
      collect() {
        this.set(read());
      },
    });
  gauge('flynn_discoverd_raft_term', 'Current Raft term.', () => src.raft().term);
  gauge('flynn_discoverd_raft_commit_index', 'Raft commit index known here.', () => src.raft().commit);
  gauge(
    'flynn_discoverd_raft_applied_index',
    'Last Raft index applied to the registry here.',
    () => src.raft().applied,
  );
  gauge('flynn_discoverd_raft_last_index', 'Last index in the local Raft log.', () => src.raft().lastIndex);
  gauge('flynn_discoverd_raft_leader', '1 when this node is the Raft leader.', () =>
    src.raft().isLeader ? 1 : 0,
  );
  gauge('flynn_discoverd_sse_subscribers', 'Open registry event streams.', () => src.sseSubscribers());
  gauge('flynn_discoverd_instances', 'Registered instances, all services.', () => src.instances());
  gauge('flynn_discoverd_services', 'Services with a configuration.', () => src.services());
  m.gauge(
    'flynn_discoverd_service_instances',
    'Registered instances by service (the replicated registry as this node has applied it).',
    ['service'],
    {
      collect() {
        // Reset first: a service whose last instance went away must not keep its old value.
        this.reset();
        for (const [service, n] of src.instancesByService()) this.set({ service }, n);
      },
    },
  );
  const leaderChanges = m.counter(
    'flynn_discoverd_raft_leader_changes_total',
    'Raft leader changes seen by this node.',
  );
  const expiries = m.counter(
    'flynn_discoverd_instance_expiries_total',
    'Instances expired for missing heartbeats.',
  );
  const proposals = m.counter(
    'flynn_discoverd_raft_proposals_total',
    'Raft proposals made by this node, by outcome (applied, refused, not_leader, timeout, failed).',
    ['result'],
  );
  // Every outcome exported from the start, so rate() sees the first one.
  for (const result of PROPOSAL_RESULTS) proposals.inc({ result }, 0);
  const proposalLatency = m.histogram(
    'flynn_discoverd_raft_proposal_duration_seconds',
    'Time from proposing an entry on this node to applying it here (successful proposals).',
    [],
    { buckets: RAFT_BUCKETS },
  );
  const fsyncLatency = m.histogram(
    'flynn_discoverd_raft_fsync_duration_seconds',
    'One write of the Raft log (and snapshot, if any) including its fdatasync.',
    [],
    { buckets: RAFT_BUCKETS },
  );
  const snapshots = m.counter(
    'flynn_discoverd_raft_snapshots_total',
    'Raft snapshots taken here (source="local") or installed from the leader (source="leader").',
    ['source'],
  );
  snapshots.inc({ source: 'local' }, 0);
  snapshots.inc({ source: 'leader' }, 0);
  const snapshotSize = m.gauge(
    'flynn_discoverd_raft_snapshot_size_bytes',
    'Size of the latest snapshot taken or installed here (0 before the first one).',
  );
  snapshotSize.set(0);
  return {
    leaderChanges: { inc: () => leaderChanges.inc() },
    expiries: { inc: (n) => expiries.inc(n) },
    observeTiming: (kind, seconds) => (kind === 'proposal' ? proposalLatency : fsyncLatency).observe(seconds),
    proposal: (result) => proposals.inc({ result }),
    snapshot: (source, bytes) => {
      if (source) snapshots.inc({ source });
      snapshotSize.set(bytes);
    },
  };
}

/** Counts of `keys` by service: what `flynn_discoverd_service_instances` exports. */
export function countByService(keys: Iterable<{ service: string }>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { service } of keys) counts.set(service, (counts.get(service) ?? 0) + 1);
  return counts;
}

import type { Metrics } from '@flynn-edge/service-kit';

// discoverd's Prometheus metrics (design.md conventions: flynn_discoverd_ prefix, base units,
// bounded labels). Gauges read their value at scrape time, so nothing is updated on hot paths.

export interface DiscoverdMetricSources {
  raft(): { term: number; commit: number; applied: number; lastIndex: number; isLeader: boolean };
  sseSubscribers(): number;
  instances(): number;
  services(): number;
}

export interface DiscoverdMetrics {
  leaderChanges: { inc(): void };
  expiries: { inc(n: number): void };
  observeTiming(kind: 'proposal' | 'fsync', seconds: number): void;
}

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
  const leaderChanges = m.counter(
    'flynn_discoverd_raft_leader_changes_total',
    'Raft leader changes seen by this node.',
  );
  const expiries = m.counter(
    'flynn_discoverd_instance_expiries_total',
    'Instances expired for missing heartbeats.',
  );
  const latency = m.histogram(
    'flynn_discoverd_raft_duration_seconds',
    'Proposal (propose to applied) and WAL write+fdatasync latency.',
    ['kind'],
    {
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    },
  );
  return {
    leaderChanges: { inc: () => leaderChanges.inc() },
    expiries: { inc: (n) => expiries.inc(n) },
    observeTiming: (kind, seconds) => latency.observe({ kind }, seconds),
  };
}

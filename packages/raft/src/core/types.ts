// Wire and storage types of the Raft core. Everything here is plain data: the core never does I/O,
// so these are what crosses its boundary to storage (WAL, snapshots) and transport (TCP frames).

export type NodeId = string;

export enum EntryType {
  /** Application command (or an empty no-op a new leader appends). */
  Normal = 0,
  /** A single-server membership change; `data` is an encoded ConfChange (see confchange.ts). */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** The durable part of a node's state: must be on disk before any message that depends on it is sent. */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

/** Cluster membership. Learners receive the log but neither vote nor count towards a quorum. */
export interface ClusterConfig {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  /** Membership as of `index`. */
  config: ClusterConfig;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** Opaque state-machine image produced by the application. */
  data: Uint8Array;
}

export enum MessageType {
  PreVote = 1,
  PreVoteResp = 2,
  Vote = 3,
  VoteResp = 4,
  /** AppendEntries: `index`/`logTerm` name the entry preceding `entries`. */
  App = 5,
  /**
   * `index` is the last index matched (or, with `reject`, the index that failed). On a rejection,
   * `rejectHint`/`logTerm` name the follower's highest entry that may still match: index <= the
   * failed one, term <= the leader's term there.
   */
  AppResp = 6,
  Heartbeat = 7,
  HeartbeatResp = 8,
  /** One chunk of an InstallSnapshot: `snapshot.meta`, bytes at `offset`, `done` on the last chunk. */
  Snap = 9,
  /** Acknowledges a chunk: `index` is the snapshot index, `offset` the next byte wanted. */
  SnapResp = 10,
  /** Leadership transfer: the recipient campaigns at once, skipping pre-vote and the leader lease. */
  TimeoutNow = 11,
}

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** App: index of the entry before `entries`. AppResp: see MessageType. Vote: candidate's last index. HeartbeatResp: the follower's last index. */
  index: number;
  /** App: term at `index`. Vote: candidate's last log term. AppResp reject: follower's term at `rejectHint`. */
  logTerm: number;
  commit: number;
  entries: Entry[];
  reject: boolean;
  rejectHint: number;
  /** Heartbeat and HeartbeatResp: the ReadIndex round this heartbeat confirms (0 = none). Vote: 1 when it comes from a leadership transfer. */
  context: number;
  /** Snap only. */
  snapshot?: SnapshotMeta;
  /** Snap and SnapResp: byte offset of `data` in the snapshot (SnapResp: next byte wanted). */
  offset: number;
  /** Snap: the chunk bytes. */
  data?: Uint8Array;
  /** Snap: last chunk. */
  done: boolean;
}

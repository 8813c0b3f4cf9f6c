import {
  applyConfChange,
  type ConfChange,
  cloneConfig,
  decodeConfChange,
  emptyConfig,
  encodeConfChange,
  validateConfChange,
} from './confchange.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { committedIndex, tallyVotes } from './quorum.js';
import { ReadOnlyQueue, type ReadState } from './read-only.js';
import {
  type ClusterConfig,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  type Snapshot,
  type SnapshotMeta,
} from './types.js';

// The Raft state machine. Pure: step() and tick() change memory only; everything the outside world
// must do (persist, send, apply) is collected into a Ready. The host persists the Ready's hard state,
// entries and snapshot first, then sends its messages, then applies its committed entries, then
// calls advance(). Because messages leave only after the state they promise is durable, a vote or
// an acknowledgement can never be forgotten by a crash.

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Deliberately broken variants, used only to prove that the simulator's checks can fail. */
export type RaftBug =
  /** Grant a vote even after voting for someone else in the same term. */
  | 'double-vote'
  /** Commit an entry from an earlier term by counting replicas (Raft paper, figure 8). */
  | 'commit-old-term'
  /** Answer ReadIndex at once, without confirming leadership with a quorum. */
  | 'stale-read'
  /** Follower keeps its own entries on a term conflict instead of taking the leader's. */
  | 'keep-conflicting';

export interface RaftOptions {
  id: NodeId;
  /** Ticks without a leader before a follower campaigns (randomised in [electionTick, 2*electionTick)). */
  electionTick?: number;
  heartbeatTick?: number;
  /** Source of randomness in [0, 1): seeded in the simulator. */
  random?: () => number;
  preVote?: boolean;
  checkQuorum?: boolean;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  maxInflightBytes?: number;
  /** Proposals are refused while the leader's uncommitted entries exceed this (backpressure). */
  maxUncommittedBytes?: number;
  snapshotChunkBytes?: number;
  maxCommittedPerReady?: number;
  bugs?: ReadonlySet<RaftBug>;
}

export interface InitialState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Entries after the snapshot, as recovered from disk. */
  entries: Entry[];
}

export interface SoftState {
  role: Role;
  leader: NodeId | null;
  term: number;
}

export interface Ready {
  softState: SoftState;
  /** Set when term, vote or commit changed: persist before sending messages. */
  hardState: HardState | null;
  /** Entries to append to the log (replacing any suffix from entries[0].index). */
  entries: Entry[];
  /** A snapshot received from the leader: persist it and restore the state machine from it. */
  snapshot: Snapshot | null;
  /** Send after persisting. */
  messages: Message[];
  /** Apply in order, after persisting. */
  committedEntries: Entry[];
  /** ReadIndex results: serve read `id` once applied >= index. */
  readStates: ReadState[];
  /** Reads that can no longer be confirmed (leadership lost): fail them, the client retries. */
  droppedReads: number[];
  /** True when hardState or entries must be fsynced before messages go out. */
  mustSync: boolean;
}

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | {
      ok: false;
      error: 'not_leader' | 'transferring' | 'conf_change_pending' | 'invalid_conf_change' | 'overloaded';
      leader: NodeId | null;
      message?: string;
    };

export type ReadIndexResult =
  | { ok: true; id: number }
  | { ok: false; error: 'not_leader'; leader: NodeId | null };

export interface ProgressStatus {
  match: number;
  next: number;
  state: string;
  recentActive: boolean;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId | null;
  leader: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  lastTerm: number;
  firstIndex: number;
  snapshotIndex: number;
  config: ClusterConfig;
  progress: Record<NodeId, ProgressStatus>;
  leadTransferee: NodeId | null;
}

const EMPTY = new Uint8Array(0);

/** A message with every field at its zero value; callers set what their type uses. */
export function blankMessage(type: MessageType, from: NodeId, to: NodeId, term: number): Message {
  return {
    type,
    from,
    to,
    term,
    index: 0,
    logTerm: 0,
    commit: 0,
    entries: [],
    reject: false,
    rejectHint: 0,
    context: 0,
    offset: 0,
    done: false,
  };
}

export class RaftNode {
  readonly id: NodeId;
  private role: Role = 'follower';
  private term = 0;
  private vote: NodeId | null = null;
  private leader: NodeId | null = null;
  private readonly log: RaftLog;
  /** Membership as of the commit index, with the history since the snapshot for configAt(). */
  private config: ClusterConfig;
  private configHistory: { index: number; config: ClusterConfig }[] = [];
  private snapshotConfig: ClusterConfig;
  private latestSnapshot: Snapshot | null;
  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId | null = null;
  /** Index of the newest conf change in the log; another may be proposed only once it commits. */
  private pendingConfIndex = 0;
  /** First index of this leader's term: reads and conf changes wait until it commits. */
  private termStartIndex = 0;
  private uncommittedBytes = 0;
  private readonly readOnly = new ReadOnlyQueue();
  private waitingReads: number[] = [];
  private nextReadId = 1;

  // Ready accumulation.
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private droppedReads: number[] = [];
  private pendingSnapshot: Snapshot | null = null;
  private prevHardState: HardState;
  /** Chunks of a snapshot being received from the leader. */
  private incomingSnapshot: { meta: SnapshotMeta; chunks: Uint8Array[]; received: number } | null = null;

  private readonly electionTick: number;
  private readonly heartbeatTick: number;
  private readonly random: () => number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxSizePerMsg: number;
  private readonly maxInflightMsgs: number;
  private readonly maxInflightBytes: number;
  private readonly maxUncommittedBytes: number;
  private readonly snapshotChunkBytes: number;
  private readonly maxCommittedPerReady: number;
  private readonly bugs: ReadonlySet<RaftBug>;

  constructor(opts: RaftOptions, initial: InitialState) {
    this.id = opts.id;
    this.electionTick = opts.electionTick ?? 10;
    this.heartbeatTick = opts.heartbeatTick ?? 1;
    if (this.heartbeatTick >= this.electionTick) throw new Error('heartbeatTick must be below electionTick');
    this.random = opts.random ?? Math.random;
    this.preVote = opts.preVote ?? true;
    this.checkQuorum = opts.checkQuorum ?? true;
    this.maxSizePerMsg = opts.maxSizePerMsg ?? 1024 * 1024;
    this.maxInflightMsgs = opts.maxInflightMsgs ?? 256;
    this.maxInflightBytes = opts.maxInflightBytes ?? 32 * 1024 * 1024;
    this.maxUncommittedBytes = opts.maxUncommittedBytes ?? 64 * 1024 * 1024;
    this.snapshotChunkBytes = opts.snapshotChunkBytes ?? 256 * 1024;
    this.maxCommittedPerReady = opts.maxCommittedPerReady ?? 4096;
    this.bugs = opts.bugs ?? new Set();

    const snap = initial.snapshot;
    this.latestSnapshot = snap;
    const lastIndex = (snap?.meta.index ?? 0) + initial.entries.length;
    // The hard state is written before the entries of its batch, so a torn write can leave a commit
    // index past the last entry. Commit is only a hint that the leader repeats: lowering it is safe.
    const commit = Math.min(initial.hardState.commit, lastIndex);
    this.log = new RaftLog(snap?.meta.index ?? 0, snap?.meta.term ?? 0, [...initial.entries], commit);
    this.snapshotConfig = snap ? cloneConfig(snap.meta.config) : emptyConfig();
    this.config = cloneConfig(this.snapshotConfig);
    this.applyConfChangesUpTo(this.log.snapshotIndex, this.log.committed);
    this.term = initial.hardState.term;
    this.vote = initial.hardState.vote;
    this.prevHardState = { ...initial.hardState, commit: this.log.committed };
    this.resetRandomizedElectionTimeout();
  }

  /**
   * The entry every founding member writes identically at index 1 (term 1), so that the initial
   * membership lives in the log like any later change and a restart never depends on -peers again.
   */
  static bootstrapState(voters: NodeId[], learners: NodeId[] = []): InitialState {
    const cc: ConfChange = { type: 'bootstrap', voters: [...voters].sort(), learners: [...learners].sort() };
    return {
      hardState: { term: 1, vote: null, commit: 1 },
      snapshot: null,
      entries: [{ index: 1, term: 1, type: EntryType.ConfChange, data: encodeConfChange(cc) }],
    };
  }

  /**
   * Lost-quorum recovery (etcd's --force-new-cluster): keep this node's whole log and append a
   * membership entry naming this node the only voter, committed at once. The whole log, not just
   * up to the stored commit index: that index is a hint written lazily, and every write a client
   * saw acknowledged is in the log of any member of the majority that committed it; an entry that
   * never committed had an unknown outcome for its client anyway. Safe only when the other voters
   * are gone for good: the operator's decision. Returns the new state and the appended entries.
   */
  static forceNewCluster(state: InitialState, self: NodeId): { state: InitialState; appended: Entry[] } {
    const base = state.snapshot?.meta.index ?? 0;
    const lastIndex = base + state.entries.length;
    const lastTerm =
      state.entries.length > 0
        ? state.entries[state.entries.length - 1].term
        : (state.snapshot?.meta.term ?? 0);
    const term = Math.max(state.hardState.term, lastTerm) + 1;
    const cc: ConfChange = { type: 'bootstrap', voters: [self], learners: [] };
    const entry: Entry = {
      index: lastIndex + 1,
      term,
      type: EntryType.ConfChange,
      data: encodeConfChange(cc),
    };
    return {
      state: {
        hardState: { term, vote: null, commit: lastIndex + 1 },
        snapshot: state.snapshot,
        entries: [...state.entries, entry],
      },
      appended: [entry],
    };
  }

  // ---- inputs -------------------------------------------------------------------------------

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  propose(data: Uint8Array): ProposeResult {
    return this.appendProposal(EntryType.Normal, data);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    if (this.role === 'leader') {
      const invalid = validateConfChange(this.config, cc);
      if (invalid) return { ok: false, error: 'invalid_conf_change', leader: this.id, message: invalid };
      if (this.pendingConfIndex > this.log.committed || this.log.committed < this.termStartIndex) {
        return { ok: false, error: 'conf_change_pending', leader: this.id };
      }
    }
    const res = this.appendProposal(EntryType.ConfChange, encodeConfChange(cc));
    if (res.ok) this.pendingConfIndex = res.index;
    return res;
  }

  /** Starts a linearizable read; its ReadState arrives in a later Ready. */
  readIndex(): ReadIndexResult {
    if (this.role !== 'leader') return { ok: false, error: 'not_leader', leader: this.leader };
    const id = this.nextReadId++;
    if (this.bugs.has('stale-read') || this.config.voters.length === 1) {
      this.readStates.push({ id, index: this.log.committed });
    } else if (this.log.committed < this.termStartIndex) {
      // The commit index of a new leader may lag the cluster's until an entry of its own term commits.
      this.waitingReads.push(id);
    } else {
      this.readOnly.add(id, this.log.committed, this.id);
    }
    return { ok: true, id };
  }

  transferLeadership(to: NodeId): boolean {
    if (this.role !== 'leader' || to === this.id || !this.config.voters.includes(to)) return false;
    if (this.leadTransferee === to) return true;
    this.leadTransferee = to;
    // The transfer must finish within one election timeout or it is abandoned.
    this.electionElapsed = 0;
    const pr = this.progress.get(to);
    if (pr && pr.match === this.log.lastIndex())
      this.send(blankMessage(MessageType.TimeoutNow, this.id, to, this.term));
    // Even with nothing new to send (appends believed in flight), an empty append makes a follower
    // that lost them reject now, so its catch-up starts without waiting for a heartbeat.
    else this.sendAppend(to, true);
    return true;
  }

  /** Starts an election now (an operator's or a test's nudge); pre-vote still applies. */
  campaign(): void {
    if (this.role !== 'leader' && this.promotable()) this.startElection(false);
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const forced = m.context === 1;
        const inLease = this.checkQuorum && this.leader !== null && this.electionElapsed < this.electionTick;
        // A node that still hears from a leader ignores campaigns: it keeps a partitioned or removed
        // node from disrupting a healthy cluster.
        if (inLease && !forced) return;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The term is the one we would campaign at; stays hypothetical until we really campaign.
      } else {
        const fromLeader =
          m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap;
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.term) {
      if (
        (this.checkQuorum || this.preVote) &&
        (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap)
      ) {
        // Tell a stale leader about the newer term so it steps down.
        this.send(blankMessage(MessageType.AppResp, this.id, m.from, this.term));
      } else if (m.type === MessageType.PreVote) {
        const resp = blankMessage(MessageType.PreVoteResp, this.id, m.from, this.term);
        resp.reject = true;
        this.send(resp);
      }
      return;
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }

    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  // ---- outputs ------------------------------------------------------------------------------

  hasReady(): boolean {
    return (
      this.msgs.length > 0 ||
      this.readOnly.unsentRound > 0 ||
      this.log.hasUnstable() ||
      this.log.hasNextCommitted() ||
      this.pendingSnapshot !== null ||
      this.readStates.length > 0 ||
      this.droppedReads.length > 0 ||
      !this.sameHardState(this.hardState(), this.prevHardState)
    );
  }

  ready(): Ready {
    if (this.readOnly.unsentRound > 0) {
      this.broadcastHeartbeat(this.readOnly.unsentRound);
      this.readOnly.unsentRound = 0;
    }
    const hs = this.hardState();
    const hsChanged = !this.sameHardState(hs, this.prevHardState);
    const entries = this.log.unstableEntries();
    const committedEntries = this.log.nextCommitted(this.maxCommittedPerReady);
    if (committedEntries.length > 0) this.log.appliedTo(committedEntries[committedEntries.length - 1].index);
    const rd: Ready = {
      softState: { role: this.role, leader: this.leader, term: this.term },
      hardState: hsChanged ? hs : null,
      entries,
      snapshot: this.pendingSnapshot,
      messages: this.msgs,
      committedEntries,
      readStates: this.readStates,
      droppedReads: this.droppedReads,
      mustSync:
        entries.length > 0 ||
        (hsChanged && (hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote)),
    };
    this.msgs = [];
    this.readStates = [];
    this.droppedReads = [];
    this.pendingSnapshot = null;
    if (hsChanged) this.prevHardState = hs;
    return rd;
  }

  /** The host has persisted, sent and applied `rd`. */
  advance(rd: Ready): void {
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      this.log.stableTo(last.index, last.term);
      if (this.role === 'leader') {
        const self = this.progress.get(this.id);
        if (self?.maybeUpdate(this.log.stable)) this.maybeCommitAndBroadcast();
      }
    }
  }

  /**
   * The application captured its state at `index` (which it has applied) as `data`. Returns the
   * snapshot for the host to persist; the log before it is dropped, keeping `keepEntries` of them
   * so that slightly lagging followers can still catch up from the log.
   */
  createSnapshot(index: number, data: Uint8Array, keepEntries = 0): Snapshot {
    if (index > this.log.applied) throw new Error(`snapshot at ${index} is past applied ${this.log.applied}`);
    const term = this.log.term(index);
    if (term === undefined) throw new Error(`snapshot at ${index}: index not in the log`);
    const config = this.configAt(index);
    const snap: Snapshot = { meta: { index, term, config }, data };
    this.latestSnapshot = snap;
    const compactTo = Math.min(index, Math.max(this.log.snapshotIndex, index - keepEntries));
    if (compactTo > this.log.snapshotIndex) {
      this.snapshotConfig = this.configAt(compactTo);
      this.configHistory = this.configHistory.filter((h) => h.index > compactTo);
      this.log.compact(compactTo);
    }
    return snap;
  }

  // ---- inspection (tests, metrics, the simulator's invariant checks) -------------------------

  status(): RaftStatus {
    const progress: Record<NodeId, ProgressStatus> = {};
    for (const [id, pr] of this.progress) {
      progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive };
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
      firstIndex: this.log.firstIndex(),
      snapshotIndex: this.log.snapshotIndex,
      config: cloneConfig(this.config),
      progress,
      leadTransferee: this.leadTransferee,
    };
  }

  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  entryAt(index: number): Entry | undefined {
    return this.log.entry(index);
  }

  get commitIndex(): number {
    return this.log.committed;
  }

  get lastIndex(): number {
    return this.log.lastIndex();
  }

  get snapshotIndex(): number {
    return this.log.snapshotIndex;
  }

  get currentRole(): Role {
    return this.role;
  }

  get currentLeader(): NodeId | null {
    return this.leader;
  }

  get currentTerm(): number {
    return this.term;
  }

  get membership(): ClusterConfig {
    return cloneConfig(this.config);
  }

  // ---- roles --------------------------------------------------------------------------------

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomePreCandidate(): void {
    // No term change and no vote: a pre-candidate that cannot win disturbs nobody.
    this.role = 'preCandidate';
    this.votes = new Map();
    this.leader = null;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.role = 'candidate';
    this.vote = this.id;
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    for (const id of [...this.config.voters, ...this.config.learners]) this.addProgress(id);
    const self = this.progress.get(this.id);
    if (self) {
      self.maybeUpdate(this.log.stable);
      self.becomeReplicate();
    }
    // Conservatively treat every uncommitted entry as a possible conf change.
    this.pendingConfIndex = this.log.lastIndex();
    this.termStartIndex = this.log.lastIndex() + 1;
    this.appendEntry(EntryType.Normal, EMPTY);
    this.broadcastAppend();
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.votes = new Map();
    this.progress = new Map();
    this.uncommittedBytes = 0;
    const dropped = this.readOnly.drain();
    this.droppedReads.push(...dropped, ...this.waitingReads);
    this.waitingReads = [];
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTick + Math.floor(this.random() * this.electionTick);
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = null;
  }

  private promotable(): boolean {
    return this.config.voters.includes(this.id);
  }

  private addProgress(id: NodeId): void {
    if (this.progress.has(id)) return;
    const pr = new Progress(this.log.lastIndex() + 1, this.maxInflightMsgs, this.maxInflightBytes);
    this.progress.set(id, pr);
  }

  // ---- ticks --------------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startElection(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTick) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, null);
        return;
      }
      this.abortLeaderTransfer();
    }
    if (this.heartbeatElapsed >= this.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat(0);
      for (const [id, pr] of this.progress) {
        if (id === this.id || pr.state !== 'snapshot') continue;
        // A lost chunk stalls the transfer: resend from the acknowledged offset.
        if (++pr.snapshotIdleTicks >= 2) this.sendSnapshotChunk(id, pr);
      }
    }
  }

  /** Check-quorum: has a majority of voters been heard from since the last round? */
  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.config.voters) {
      const pr = this.progress.get(v);
      if (v === this.id || pr?.recentActive) active++;
    }
    for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
    return active >= Math.floor(this.config.voters.length / 2) + 1;
  }

  // ---- elections ----------------------------------------------------------------------------

  /** `transfer`: started by TimeoutNow, so no pre-vote, and the Vote is flagged to bypass leases. */
  private startElection(transfer: boolean): void {
    if (this.preVote && !transfer) {
      this.becomePreCandidate();
      this.requestVotes(MessageType.PreVote, this.term + 1, false);
    } else {
      this.startVote(transfer);
    }
  }

  private startVote(transfer: boolean): void {
    this.becomeCandidate();
    this.requestVotes(MessageType.Vote, this.term, transfer);
  }

  private requestVotes(type: MessageType, term: number, transfer: boolean): void {
    const respType = type === MessageType.PreVote ? MessageType.PreVoteResp : MessageType.VoteResp;
    this.votes.set(this.id, true);
    if (tallyVotes(this.config.voters, this.votes) === 'won') {
      this.handleElectionWon(respType);
      return;
    }
    for (const v of this.config.voters) {
      if (v === this.id) continue;
      const m = blankMessage(type, this.id, v, term);
      m.index = this.log.lastIndex();
      m.logTerm = this.log.lastTerm();
      m.context = transfer ? 1 : 0;
      this.send(m);
    }
  }

  private handleElectionWon(respType: MessageType): void {
    // A won pre-vote is no transfer: its Vote must respect the leases of nodes that still hear a leader.
    if (respType === MessageType.PreVoteResp) this.startVote(false);
    else this.becomeLeader();
  }

  private handleVoteRequest(m: Message): void {
    const isPre = m.type === MessageType.PreVote;
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (isPre && m.term > this.term) ||
      (this.bugs.has('double-vote') && !isPre);
    const respType = isPre ? MessageType.PreVoteResp : MessageType.VoteResp;
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A pre-vote answer carries the candidate's proposed term so it counts towards that election.
      this.send(blankMessage(respType, this.id, m.from, m.term));
      if (!isPre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      const resp = blankMessage(respType, this.id, m.from, this.term);
      resp.reject = true;
      this.send(resp);
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === 'preCandidate' ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapChunk(m);
        return;
      case myResp: {
        this.votes.set(m.from, !m.reject);
        const result = tallyVotes(this.config.voters, this.votes);
        if (result === 'won') this.handleElectionWon(myResp);
        else if (result === 'lost') this.becomeFollower(this.term, null);
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapChunk(m);
        return;
      case MessageType.TimeoutNow:
        if (this.promotable()) this.startElection(true);
        return;
      default:
        return;
    }
  }

  // ---- follower side of replication ---------------------------------------------------------

  private handleAppend(m: Message): void {
    const resp = blankMessage(MessageType.AppResp, this.id, m.from, this.term);
    if (m.index < this.log.committed) {
      resp.index = this.log.committed;
      this.send(resp);
      return;
    }
    let entries = m.entries;
    if (this.bugs.has('keep-conflicting')) entries = entries.map((e) => this.log.entry(e.index) ?? e);
    const prevCommit = this.log.committed;
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, entries);
    if (lastNew !== null) {
      this.applyConfChangesUpTo(prevCommit, this.log.committed);
      resp.index = lastNew;
    } else {
      const hint = this.log.findConflictByTerm(m.index, m.logTerm);
      resp.reject = true;
      resp.index = m.index;
      resp.rejectHint = hint;
      resp.logTerm = this.log.term(hint) ?? 0;
    }
    this.send(resp);
  }

  private handleHeartbeat(m: Message): void {
    const prevCommit = this.log.committed;
    // The leader sends min(our match, its commit), so this never commits past what we share with it.
    if (m.commit > this.log.committed && m.commit <= this.log.lastIndex()) {
      this.log.commitTo(m.commit);
      this.applyConfChangesUpTo(prevCommit, this.log.committed);
    }
    const resp = blankMessage(MessageType.HeartbeatResp, this.id, m.from, this.term);
    resp.context = m.context;
    // Lets the leader notice a follower whose log shrank (a lost or replaced disk).
    resp.index = this.log.lastIndex();
    this.send(resp);
  }

  private handleSnapChunk(m: Message): void {
    const meta = m.snapshot;
    if (!meta) return;
    const ack = blankMessage(MessageType.SnapResp, this.id, m.from, this.term);
    ack.index = meta.index;
    if (meta.index <= this.log.committed) {
      // Already have everything it covers.
      const resp = blankMessage(MessageType.AppResp, this.id, m.from, this.term);
      resp.index = this.log.committed;
      this.send(resp);
      return;
    }
    let inc = this.incomingSnapshot;
    if (m.offset === 0 && (!inc || inc.meta.index !== meta.index || inc.meta.term !== meta.term)) {
      inc = { meta, chunks: [], received: 0 };
      this.incomingSnapshot = inc;
    }
    if (!inc || inc.meta.index !== meta.index || inc.meta.term !== meta.term || m.offset !== inc.received) {
      // Out of order or from an older transfer: tell the leader where we are.
      ack.offset = inc && inc.meta.index === meta.index && inc.meta.term === meta.term ? inc.received : 0;
      this.send(ack);
      return;
    }
    const data = m.data ?? EMPTY;
    inc.chunks.push(data);
    inc.received += data.byteLength;
    if (!m.done) {
      ack.offset = inc.received;
      this.send(ack);
      return;
    }
    this.incomingSnapshot = null;
    const full = new Uint8Array(inc.received);
    let off = 0;
    for (const c of inc.chunks) {
      full.set(c, off);
      off += c.byteLength;
    }
    this.installSnapshot({ meta, data: full });
    const resp = blankMessage(MessageType.AppResp, this.id, m.from, this.term);
    resp.index = meta.index;
    this.send(resp);
  }

  private installSnapshot(snap: Snapshot): void {
    const { index, term } = snap.meta;
    if (this.log.matchTerm(index, term)) {
      // We already hold the entry it ends at: just move the commit index, keeping the log.
      const prevCommit = this.log.committed;
      this.log.commitTo(index);
      this.applyConfChangesUpTo(prevCommit, index);
      return;
    }
    this.log.restore(index, term);
    this.latestSnapshot = snap;
    this.pendingSnapshot = snap;
    this.snapshotConfig = cloneConfig(snap.meta.config);
    this.config = cloneConfig(snap.meta.config);
    this.configHistory = [];
  }

  // ---- leader side --------------------------------------------------------------------------

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp:
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp: {
        pr.recentActive = true;
        pr.probeSent = false;
        if (m.index < pr.match) {
          // The follower no longer holds what it acknowledged: start over from what it has.
          pr.match = m.index;
          pr.becomeProbe();
        }
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        // An empty append from `next` makes a follower that lost appends reject, which starts a probe.
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        if (m.context > 0) this.readStates.push(...this.readOnly.ack(m.from, m.context, this.config.voters));
        return;
      }
      case MessageType.SnapResp:
        pr.recentActive = true;
        if (pr.state !== 'snapshot' || m.index !== pr.pendingSnapshot) return;
        pr.snapshotOffset = m.offset;
        pr.snapshotIdleTicks = 0;
        this.sendSnapshotChunk(m.from, pr);
        return;
      default:
        return;
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    if (m.reject) {
      // The follower names the last index (and its term there) at which its log may match ours.
      // None of our entries above it with a higher term can match, so skip them all at once.
      const hint = m.logTerm > 0 ? this.log.findConflictByTerm(m.rejectHint, m.logTerm) : m.rejectHint;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    // An answer that confirms the match of a probing follower also ends the probe.
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === 'probe')) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot') {
      if (pr.match + 1 >= this.log.firstIndex()) {
        // Snapshot installed (or no longer needed): the log covers the rest.
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.match >= pr.pendingSnapshot) {
        // Installed, but the log was compacted past it meanwhile: a newer snapshot follows.
        pr.becomeProbe();
      }
    } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

    if (this.maybeCommitAndBroadcast()) {
      // Applying a committed conf change may have removed this leader.
      if (this.role !== 'leader') return;
    } else if (pr.canBumpCommit(this.log.committed)) {
      // A commit broadcast skips a follower whose probe is outstanding: tell it now.
      this.sendAppend(m.from, true);
    }
    // Keep the pipeline full.
    while (this.sendAppend(m.from)) {}
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send(blankMessage(MessageType.TimeoutNow, this.id, m.from, this.term));
    }
  }

  /** Commits what a quorum holds; on progress, tells every follower. */
  private maybeCommitAndBroadcast(): boolean {
    const idx = committedIndex(this.config.voters, (id) => this.progress.get(id)?.match ?? 0);
    if (idx <= this.log.committed) return false;
    // Only an entry of the leader's own term is committed by counting replicas (Raft §5.4.2).
    if (this.log.term(idx) !== this.term && !this.bugs.has('commit-old-term')) return false;
    const prevCommit = this.log.committed;
    this.log.commitTo(idx);
    this.releaseUncommitted(prevCommit, idx);
    this.applyConfChangesUpTo(prevCommit, idx);
    if (this.role !== 'leader') return true;
    if (prevCommit < this.termStartIndex && idx >= this.termStartIndex) {
      for (const id of this.waitingReads) this.readOnly.add(id, this.log.committed, this.id);
      this.waitingReads = [];
    }
    this.broadcastAppend();
    return true;
  }

  private releaseUncommitted(from: number, to: number): void {
    for (let i = from + 1; i <= to; i++) {
      const e = this.log.entry(i);
      if (e) this.uncommittedBytes -= e.data.byteLength;
    }
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
  }

  private appendProposal(type: EntryType, data: Uint8Array): ProposeResult {
    if (this.role !== 'leader') return { ok: false, error: 'not_leader', leader: this.leader };
    if (this.leadTransferee !== null) return { ok: false, error: 'transferring', leader: this.id };
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.byteLength > this.maxUncommittedBytes) {
      return { ok: false, error: 'overloaded', leader: this.id };
    }
    const e = this.appendEntry(type, data);
    this.broadcastAppend();
    return { ok: true, index: e.index, term: e.term };
  }

  private appendEntry(type: EntryType, data: Uint8Array): Entry {
    const e: Entry = { index: this.log.lastIndex() + 1, term: this.term, type, data };
    this.log.append([e]);
    this.uncommittedBytes += data.byteLength;
    return e;
  }

  /** Sends new entries, or an empty append that carries a new commit index, to every follower. */
  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private broadcastHeartbeat(context: number): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      const m = blankMessage(MessageType.Heartbeat, this.id, id, this.term);
      m.commit = Math.min(pr.match, this.log.committed);
      m.context = context;
      pr.sentCommit = m.commit;
      this.send(m);
    }
  }

  /** Sends the next append (or snapshot) to a follower; false when flow control holds it back. */
  private sendAppend(to: NodeId, sendIfEmpty = false): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries =
      prevTerm === undefined
        ? undefined
        : this.log.slice(pr.next, Number.MAX_SAFE_INTEGER, this.maxSizePerMsg);
    if (prevTerm === undefined || entries === undefined) {
      return this.startSnapshot(to, pr);
    }
    if (entries.length === 0 && pr.state === 'replicate' && !sendIfEmpty) return false;
    const m = blankMessage(MessageType.App, this.id, to, this.term);
    m.index = prevIndex;
    m.logTerm = prevTerm;
    m.entries = entries;
    m.commit = this.log.committed;
    this.send(m);
    pr.sentCommit = m.commit;
    if (pr.state === 'replicate' && entries.length > 0) {
      const last = entries[entries.length - 1].index;
      let size = 0;
      for (const e of entries) size += e.data.byteLength;
      pr.optimisticUpdate(last);
      pr.inflights.add(last, size);
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return pr.state === 'replicate' && entries.length > 0;
  }

  private startSnapshot(to: NodeId, pr: Progress): boolean {
    const snap = this.latestSnapshot;
    if (!snap || !pr.recentActive) return false;
    pr.becomeSnapshot(snap.meta.index);
    this.sendSnapshotChunk(to, pr);
    return false;
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const snap = this.latestSnapshot;
    if (!snap || snap.meta.index !== pr.pendingSnapshot) {
      // The snapshot was replaced while sending: start over with the newest one.
      pr.becomeProbe();
      this.sendAppend(to);
      return;
    }
    pr.snapshotIdleTicks = 0;
    const offset = Math.min(pr.snapshotOffset, snap.data.byteLength);
    const end = Math.min(offset + this.snapshotChunkBytes, snap.data.byteLength);
    const m = blankMessage(MessageType.Snap, this.id, to, this.term);
    m.snapshot = snap.meta;
    m.offset = offset;
    m.data = snap.data.subarray(offset, end);
    m.done = end >= snap.data.byteLength;
    this.send(m);
  }

  // ---- membership ---------------------------------------------------------------------------

  private configAt(index: number): ClusterConfig {
    let c = this.snapshotConfig;
    for (const h of this.configHistory) {
      if (h.index > index) break;
      c = h.config;
    }
    return cloneConfig(c);
  }

  /** Applies the conf changes committed in (from, to]: membership takes effect at commit. */
  private applyConfChangesUpTo(from: number, to: number): void {
    for (let i = Math.max(from, this.log.snapshotIndex) + 1; i <= to; i++) {
      const e = this.log.entry(i);
      if (!e || e.type !== EntryType.ConfChange) continue;
      let cc: ConfChange;
      try {
        cc = decodeConfChange(e.data);
      } catch {
        continue;
      }
      this.config = applyConfChange(this.config, cc);
      this.configHistory.push({ index: i, config: cloneConfig(this.config) });
      this.onConfigChanged();
    }
  }

  private onConfigChanged(): void {
    if (this.role !== 'leader') return;
    const members = new Set([...this.config.voters, ...this.config.learners]);
    for (const id of members) {
      if (!this.progress.has(id)) {
        this.addProgress(id);
        this.sendAppend(id);
      }
    }
    for (const id of [...this.progress.keys()]) {
      if (!members.has(id) && id !== this.id) {
        // One last append carrying the commit index, so the removed node learns of its removal
        // and stops acting as a member, instead of campaigning forever.
        this.sendAppend(id, true);
        this.progress.delete(id);
      }
    }
    if (this.leadTransferee !== null && !this.config.voters.includes(this.leadTransferee)) {
      this.abortLeaderTransfer();
    }
    if (!this.config.voters.includes(this.id)) {
      // Removed (or demoted) leader: hand over to the most caught-up voter so that the cluster
      // does not wait a whole election timeout, then stop leading.
      let best: NodeId | null = null;
      let bestMatch = -1;
      for (const v of this.config.voters) {
        const m = this.progress.get(v)?.match ?? 0;
        if (m > bestMatch) {
          best = v;
          bestMatch = m;
        }
      }
      this.broadcastHeartbeat(0);
      if (best !== null && bestMatch === this.log.lastIndex()) {
        this.send(blankMessage(MessageType.TimeoutNow, this.id, best, this.term));
      }
      const term = this.term;
      this.becomeFollower(term, null);
    } else if (this.config.voters.length > 0) {
      // A smaller quorum may already cover entries that were waiting.
      this.maybeCommitAndBroadcast();
    }
  }

  // ---- helpers ------------------------------------------------------------------------------

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private sameHardState(a: HardState, b: HardState): boolean {
    return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
  }
}

import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { ConfChange } from '../core/confchange.js';
import {
  type InitialState,
  type ProposeResult,
  type RaftBug,
  RaftNode,
  type RaftStatus,
  type Ready,
} from '../core/raft.js';
import { EntryType, type NodeId } from '../core/types.js';
import { RaftHost } from '../host/raft-host.js';
import { FileStorage, type StorageFaults } from '../storage/index.js';
import { TcpTransport } from '../transport/index.js';
import {
  LeadershipLostError,
  NotLeaderError,
  ProposalRejectedError,
  ProposalTimeoutError,
  ServerStoppedError,
} from './errors.js';

// A Raft member with real I/O: the WAL for durability, TCP for peers, timers for ticks. The
// application plugs in a state machine; it proposes with propose() and reads linearizably after
// readBarrier(). Node ids are the advertised host:port addresses, as Flynn's discoverd used them.

export interface StateMachine<R> {
  /** Applies a committed command; the value resolves the proposer's promise. Must not throw. */
  apply(index: number, data: Uint8Array): R;
  snapshot(): Uint8Array;
  /**
   * Optional: the state as of this call, serialised without blocking the event loop for long
   * (applies go on meanwhile). Used for the periodic snapshots when present.
   */
  snapshotAsync?(): Promise<Uint8Array>;
  restore(index: number, data: Uint8Array): void;
}

export interface ServerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RaftServerOptions<R> {
  id: NodeId;
  dataDir: string;
  /** Voters of a brand-new cluster; ignored once the data directory holds state (the log's membership wins). */
  peers?: NodeId[];
  /** Start with no membership and wait to be added by a leader (a node joining an existing cluster). */
  join?: boolean;
  stateMachine: StateMachine<R>;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  snapshotEvery?: number;
  snapshotKeepEntries?: number;
  /** At most one snapshot per this many ms (Flynn's discoverd: 120 s), however fast entries arrive. */
  snapshotMinIntervalMs?: number;
  proposalTimeoutMs?: number;
  logger?: ServerLogger;
  storageFaults?: StorageFaults;
  bugs?: ReadonlySet<RaftBug>;
  /** Called with how long each proposal took to apply here, and each WAL write plus fdatasync. */
  onTiming?: (kind: 'proposal' | 'fsync', seconds: number) => void;
  /** Lost-quorum recovery: restart as the only voter of a new cluster, keeping the committed data. */
  forceNewCluster?: boolean;
  /** Dial peers from this IP (the one the node listens on). */
  localAddress?: string;
  /** The cluster key: Raft connections prove they hold it (see transport/hello.ts). */
  clusterKey?: string;
}

interface PendingProposal<R> {
  term: number;
  started: number;
  deadline: number;
  resolve(v: R): void;
  reject(e: Error): void;
}

interface PendingRead {
  deadline: number;
  resolve(index: number): void;
  reject(e: Error): void;
}

const silent: ServerLogger = { info() {}, warn() {}, error() {} };

export interface RaftServerEvents {
  leader: [NodeId | null, number];
  fatal: [Error];
  /** The applied index moved (once per applied batch, no-ops and membership changes included). */
  applied: [index: number];
}

export class RaftServer<R> extends EventEmitter<RaftServerEvents> {
  readonly id: NodeId;
  private readonly node: RaftNode;
  private readonly host: RaftHost;
  private readonly transport: TcpTransport;
  private readonly sm: StateMachine<R>;
  private readonly log: ServerLogger;
  private readonly proposals = new Map<number, PendingProposal<R>>();
  private readonly reads = new Map<number, PendingRead>();
  /** Confirmed reads waiting for the state machine to reach their index. */
  private readyReads: { index: number; read: PendingRead }[] = [];
  private applied: number;
  private snapshotIndex: number;
  private snapshotting = false;
  private lastSnapshotAt = 0;
  private scheduled = false;
  private stopped = false;
  private leader: NodeId | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly knownPeers = new Set<NodeId>();
  private readonly onTiming: RaftServerOptions<R>['onTiming'];
  private readonly opts: Required<
    Pick<
      RaftServerOptions<R>,
      'snapshotEvery' | 'snapshotKeepEntries' | 'proposalTimeoutMs' | 'snapshotMinIntervalMs'
    >
  >;

  private constructor(
    opts: RaftServerOptions<R>,
    private readonly storage: FileStorage,
    initial: InitialState,
  ) {
    super();
    this.id = opts.id;
    this.sm = opts.stateMachine;
    this.onTiming = opts.onTiming;
    this.log = opts.logger ?? silent;
    this.opts = {
      snapshotEvery: opts.snapshotEvery ?? 8192,
      snapshotKeepEntries: opts.snapshotKeepEntries ?? 1024,
      proposalTimeoutMs: opts.proposalTimeoutMs ?? 10_000,
      snapshotMinIntervalMs: opts.snapshotMinIntervalMs ?? 0,
    };
    this.node = new RaftNode(
      {
        id: opts.id,
        electionTick: opts.electionTicks ?? 10,
        heartbeatTick: opts.heartbeatTicks ?? 1,
        bugs: opts.bugs,
      },
      initial,
    );
    if (initial.snapshot) this.sm.restore(initial.snapshot.meta.index, initial.snapshot.data);
    this.applied = initial.snapshot?.meta.index ?? 0;
    this.snapshotIndex = this.applied;
    this.transport = new TcpTransport({
      id: opts.id,
      localAddress: opts.localAddress,
      clusterKey: opts.clusterKey,
      isPeer: (from) => this.acceptsFrom(from),
      onError: (err) => this.log.warn({ err: err.message, kind: err.kind }, 'raft transport'),
    });
    this.transport.on('message', (m) => {
      this.node.step(m);
      this.kick();
    });
    this.host = new RaftHost(this.node, {
      persist: (rd, done) => this.persist(rd, done),
      send: (msgs) => {
        for (const m of msgs) {
          // Ids are addresses: a node outside the configuration (a joining learner, or a removed
          // node's last words) still gets an answer.
          if (!this.knownPeers.has(m.to)) this.addPeer(m.to);
          this.transport.send(m);
        }
      },
      apply: (rd) => this.apply(rd),
      fatal: (err) => this.fail(err),
    });
    this.syncPeers();
    const tickMs = opts.tickMs ?? 100;
    this.timers.push(
      setInterval(() => {
        this.node.tick();
        this.kick();
      }, tickMs),
      setInterval(() => this.expire(), Math.min(1000, this.opts.proposalTimeoutMs)),
    );
    this.kick();
  }

  static async start<R>(opts: RaftServerOptions<R>): Promise<RaftServer<R>> {
    const { storage, state } = await FileStorage.open(opts.dataDir, { faults: opts.storageFaults });
    let initial: InitialState = state;
    const fresh = !state.snapshot && state.entries.length === 0 && state.hardState.term === 0;
    if (fresh && !opts.join) {
      // First boot of a founding member: write the membership as entry 1, identically on every member.
      const peers = opts.peers && opts.peers.length > 0 ? opts.peers : [opts.id];
      if (!peers.includes(opts.id))
        throw new Error(`-peers ${peers.join(',')} does not include this node (${opts.id})`);
      initial = RaftNode.bootstrapState(peers);
      await storage.save(initial.hardState, initial.entries);
    } else if (opts.forceNewCluster) {
      const forced = RaftNode.forceNewCluster(initial, opts.id);
      initial = forced.state;
      await storage.save(initial.hardState, forced.appended);
      opts.logger?.warn(
        { commit: initial.hardState.commit },
        'forced a new single-voter cluster from local data',
      );
    }
    return new RaftServer(opts, storage, initial);
  }

  /** Hands over an inbound Raft connection (first byte 0xFF) from a port multiplexer. */
  acceptConnection(socket: net.Socket, head?: Buffer): void {
    this.transport.acceptConnection(socket, head);
  }

  async listen(host: string, port: number): Promise<void> {
    await this.transport.listen(host, port);
  }

  /** Proposes a command; resolves with the state machine's result once it is applied here. */
  propose(data: Uint8Array): Promise<R> {
    if (this.stopped) return Promise.reject(new ServerStoppedError());
    return this.awaitApplied(this.node.propose(data));
  }

  /**
   * Resolves once local state reflects every write committed before the call (ReadIndex): a read
   * of the state machine after it is linearizable. Only the leader can serve it.
   */
  readBarrier(): Promise<number> {
    if (this.stopped) return Promise.reject(new ServerStoppedError());
    const res = this.node.readIndex();
    if (!res.ok) return Promise.reject(new NotLeaderError(res.leader));
    this.kick();
    return new Promise<number>((resolve, reject) => {
      this.reads.set(res.id, { deadline: Date.now() + this.opts.proposalTimeoutMs, resolve, reject });
    });
  }

  /** Proposes a membership change; resolves once it is committed and applied here. */
  changeMembership(cc: ConfChange): Promise<unknown> {
    if (this.stopped) return Promise.reject(new ServerStoppedError());
    return this.awaitApplied(this.node.proposeConfChange(cc));
  }

  private awaitApplied(res: ProposeResult): Promise<R> {
    if (!res.ok) return Promise.reject(this.proposeError(res));
    this.kick();
    return new Promise<R>((resolve, reject) => {
      this.proposals.set(res.index, {
        term: res.term,
        started: performance.now(),
        deadline: Date.now() + this.opts.proposalTimeoutMs,
        resolve,
        reject,
      });
    });
  }

  transferLeadership(to: NodeId): boolean {
    const ok = this.node.transferLeadership(to);
    this.kick();
    return ok;
  }

  status(): RaftStatus & { appliedIndex: number } {
    return { ...this.node.status(), appliedIndex: this.applied };
  }

  /** Index of the last entry applied to the state machine here. */
  get appliedIndex(): number {
    return this.applied;
  }

  get membership(): { voters: NodeId[]; learners: NodeId[] } {
    return this.node.membership;
  }

  get isLeader(): boolean {
    return this.node.currentRole === 'leader';
  }

  get leaderId(): NodeId | null {
    return this.node.currentLeader;
  }

  transportStats() {
    return this.transport.stats();
  }

  storageStats() {
    return this.storage.stats();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.host.stop();
    for (const t of this.timers) clearInterval(t);
    this.failPending(new ServerStoppedError());
    await this.transport.close();
    await this.storage.close().catch(() => {});
  }

  // ---- the loop -----------------------------------------------------------------------------

  /** Coalesces everything that arrives in one turn of the event loop into one Ready. */
  private kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.stopped) this.host.process();
    });
  }

  private persist(rd: Ready, done: (err?: Error) => void): void {
    const hs = rd.mustSync || rd.entries.length > 0 ? rd.hardState : null;
    if (!rd.snapshot && rd.entries.length === 0 && !hs) {
      // Only the commit index moved: it is a hint that is re-learned after a restart, not worth an fsync.
      done();
      return;
    }
    const started = performance.now();
    const write = async () => {
      if (rd.snapshot) await this.storage.saveSnapshot(rd.snapshot);
      if (rd.entries.length > 0 || hs) await this.storage.save(hs, rd.entries);
      this.onTiming?.('fsync', (performance.now() - started) / 1000);
    };
    write().then(
      () => done(),
      (err: Error) => done(err),
    );
  }

  private apply(rd: Ready): void {
    const appliedBefore = this.applied;
    if (rd.softState.leader !== this.leader) {
      const wasLeader = this.leader === this.id;
      this.leader = rd.softState.leader;
      this.emit('leader', this.leader, rd.softState.term);
      if (wasLeader && this.leader !== this.id) this.failProposals(new LeadershipLostError());
    }
    if (rd.snapshot) {
      this.sm.restore(rd.snapshot.meta.index, rd.snapshot.data);
      this.applied = rd.snapshot.meta.index;
      this.snapshotIndex = this.applied;
      this.log.info({ index: this.applied }, 'installed snapshot from leader');
    }
    let confChanged = false;
    for (const e of rd.committedEntries) {
      let result: R | undefined;
      if (e.type === EntryType.Normal && e.data.byteLength > 0) result = this.sm.apply(e.index, e.data);
      else if (e.type === EntryType.ConfChange) confChanged = true;
      this.applied = e.index;
      const p = this.proposals.get(e.index);
      if (!p) continue;
      this.proposals.delete(e.index);
      if (p.term === e.term) {
        this.onTiming?.('proposal', (performance.now() - p.started) / 1000);
        p.resolve(result as R);
      }
      // Another entry took the index: ours can never commit anywhere.
      else
        p.reject(
          new ProposalRejectedError(
            'not_leader',
            'leadership changed before the proposal committed',
            this.leader,
          ),
        );
    }
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.id);
      if (!r) continue;
      this.reads.delete(rs.id);
      this.readyReads.push({ index: rs.index, read: r });
    }
    for (const id of rd.droppedReads) {
      const r = this.reads.get(id);
      if (!r) continue;
      this.reads.delete(id);
      r.reject(new NotLeaderError(this.leader));
    }
    if (this.readyReads.length > 0) {
      const waiting = [];
      for (const r of this.readyReads) {
        if (r.index <= this.applied) r.read.resolve(r.index);
        else waiting.push(r);
      }
      this.readyReads = waiting;
    }
    if (confChanged || rd.snapshot) this.syncPeers();
    if (this.applied !== appliedBefore) this.emitApplied();
    this.maybeSnapshot();
  }

  private emitApplied(): void {
    try {
      this.emit('applied', this.applied);
    } catch (err) {
      // A listener's bug must not break the Ready loop half-way through a batch.
      this.log.error({ err: (err as Error).message }, "'applied' listener threw");
    }
  }

  private maybeSnapshot(): void {
    if (this.snapshotting || this.applied - this.snapshotIndex < this.opts.snapshotEvery) return;
    // Serialising a large state blocks the event loop: under a write burst, at most one per interval.
    if (Date.now() - this.lastSnapshotAt < this.opts.snapshotMinIntervalMs) return;
    this.lastSnapshotAt = Date.now();
    this.snapshotting = true;
    const index = this.applied;
    const data = this.sm.snapshotAsync ? this.sm.snapshotAsync() : Promise.resolve(this.sm.snapshot());
    data
      .then((bytes) => {
        // A snapshot from the leader installed meanwhile is newer: this one is dropped.
        if (this.stopped || index <= this.snapshotIndex) {
          this.snapshotting = false;
          return;
        }
        const snap = this.node.createSnapshot(index, bytes, this.opts.snapshotKeepEntries);
        this.snapshotIndex = snap.meta.index;
        return this.storage.saveSnapshot(snap).then(() => {
          this.snapshotting = false;
          this.log.info({ index: snap.meta.index, bytes: snap.data.byteLength }, 'snapshot saved');
        });
      })
      .catch((err: Error) => this.fail(err));
  }

  /**
   * Inbound Raft connections come from the configuration's voters and learners only. A node that
   * knows no configuration yet (joining, not yet added) takes the leader that is adding it.
   */
  private acceptsFrom(id: NodeId): boolean {
    const { voters, learners } = this.node.membership;
    if (voters.length === 0 && learners.length === 0) return true;
    return id !== this.id && (voters.includes(id) || learners.includes(id));
  }

  /** Keeps the transport's peer list equal to the current membership. */
  private syncPeers(): void {
    const { voters, learners } = this.node.membership;
    for (const id of [...voters, ...learners])
      if (id !== this.id && !this.knownPeers.has(id)) this.addPeer(id);
  }

  private addPeer(id: NodeId): void {
    this.knownPeers.add(id);
    this.transport.setPeer(id, id);
  }

  private expire(): void {
    const now = Date.now();
    for (const [index, p] of this.proposals) {
      if (p.deadline > now) continue;
      this.proposals.delete(index);
      p.reject(new ProposalTimeoutError(this.opts.proposalTimeoutMs));
    }
    for (const [id, r] of this.reads) {
      if (r.deadline > now) continue;
      this.reads.delete(id);
      r.reject(new NotLeaderError(this.leader));
    }
  }

  private proposeError(res: { error: string; leader: NodeId | null; message?: string }): Error {
    if (res.error === 'not_leader') return new NotLeaderError(res.leader);
    return new ProposalRejectedError(res.error, res.message ?? res.error, res.leader);
  }

  /**
   * Our proposals may still commit under the next leader, or may not: answer now that the outcome
   * is unknown rather than letting the clients wait for a timeout.
   */
  private failProposals(err: Error): void {
    for (const p of this.proposals.values()) p.reject(err);
    this.proposals.clear();
  }

  private failPending(err: Error): void {
    for (const p of this.proposals.values()) p.reject(err);
    this.proposals.clear();
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
    for (const r of this.readyReads) r.read.reject(err);
    this.readyReads = [];
  }

  /** A disk error: stop at once; carrying on could acknowledge what is not durable. */
  private fail(err: Error): void {
    if (this.stopped) return;
    this.log.error({ err: err.message }, 'storage failed; stopping this raft member');
    void this.stop();
    this.emit('fatal', err);
  }
}

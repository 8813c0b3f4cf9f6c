import { type InitialState, RaftNode, type RaftOptions, type Ready } from '../../src/core/raft.js';
import { EntryType, type Message, type NodeId, type Snapshot } from '../../src/core/types.js';
import { KvStateMachine } from '../../src/sim/kv-state.js';

/**
 * A synchronous in-memory cluster for scenario tests: persistence is instant, messages are
 * delivered in rounds until nothing moves, and links can be cut.
 */
export class TestCluster {
  readonly nodes = new Map<NodeId, RaftNode>();
  readonly kv = new Map<NodeId, KvStateMachine>();
  readonly sent: Message[] = [];
  readonly readStates = new Map<NodeId, { id: number; index: number }[]>();
  private readonly cut = new Set<string>();
  private inbox: Message[] = [];
  private rand = 1;

  constructor(
    ids: NodeId[],
    private readonly opts: Partial<RaftOptions> = {},
    learners: NodeId[] = [],
  ) {
    for (const id of ids) this.add(id, RaftNode.bootstrapState(ids, learners));
    for (const id of learners) this.add(id, RaftNode.bootstrapState(ids, learners));
  }

  add(
    id: NodeId,
    state: InitialState = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] },
  ): RaftNode {
    // Deterministic but different timeouts per node.
    const seedBase = this.rand++ * 7919;
    let s = seedBase;
    const random = () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648;
    };
    const node = new RaftNode({ id, random, ...this.opts }, state);
    this.nodes.set(id, node);
    const kv = new KvStateMachine();
    if (state.snapshot) kv.restore(state.snapshot.meta.index, state.snapshot.data);
    this.kv.set(id, kv);
    return node;
  }

  get(id: NodeId): RaftNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Processes Readies and delivers messages until the cluster is quiet. */
  settle(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const [id, node] of this.nodes) {
        while (node.hasReady()) {
          moved = true;
          this.handleReady(id, node, node.ready());
        }
      }
      if (this.inbox.length > 0) {
        moved = true;
        const batch = this.inbox;
        this.inbox = [];
        for (const m of batch) this.nodes.get(m.to)?.step(m);
      }
      if (!moved) return;
    }
    throw new Error('cluster did not settle');
  }

  tick(n = 1, only?: NodeId[]): void {
    for (let i = 0; i < n; i++) {
      for (const [id, node] of this.nodes) if (!only || only.includes(id)) node.tick();
      this.settle();
    }
  }

  /** Ticks until some node leads; returns it. */
  electLeader(maxTicks = 200): RaftNode {
    for (let i = 0; i < maxTicks; i++) {
      const l = this.leader();
      if (l) return l;
      this.tick();
    }
    throw new Error('no leader elected');
  }

  leader(): RaftNode | undefined {
    const leaders = [...this.nodes.values()].filter((n) => n.currentRole === 'leader');
    leaders.sort((a, b) => b.currentTerm - a.currentTerm);
    return leaders[0];
  }

  private handleReady(id: NodeId, node: RaftNode, rd: Ready): void {
    const kv = this.kv.get(id)!;
    if (rd.snapshot) kv.restore(rd.snapshot.meta.index, rd.snapshot.data);
    for (const m of rd.messages) {
      this.sent.push(m);
      if (!this.cut.has(`${m.from}>${m.to}`)) this.inbox.push(m);
    }
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.Normal) kv.apply(e.index, e.data);
      else kv.appliedIndex = e.index;
    }
    if (rd.readStates.length > 0) {
      const list = this.readStates.get(id) ?? [];
      list.push(...rd.readStates);
      this.readStates.set(id, list);
    }
    node.advance(rd);
  }

  snapshot(id: NodeId, keep = 0): Snapshot {
    const kv = this.kv.get(id)!;
    return this.get(id).createSnapshot(kv.appliedIndex, kv.snapshot(), keep);
  }
}

export const enc = (s: string) => new TextEncoder().encode(s);

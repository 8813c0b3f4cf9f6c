import type { Progress } from '../../src/core/progress.js';
import { type InitialState, RaftNode, type RaftOptions, type SoftState } from '../../src/core/raft.js';
import {
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  type Snapshot,
} from '../../src/core/types.js';
import type { CmdArg, TestCase } from './datadriven.js';
import {
  describeEntries,
  describeMessage,
  describeProgress,
  describeReady,
  idOr0,
  parseConfChange,
} from './describe.js';

// An interpreter for etcd-io/raft-style interaction scenarios (rafttest/interaction_env*.go) over our
// core. Nodes are numbered 1..n; "storage" is an in-memory copy of what the host persisted, and
// the state machine is the list of applied payloads. Nothing here reads a clock or Math.random:
// every node's randomized election timeout is pinned to exactly `electionTick`.

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Storage {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Durable entries after the snapshot. */
  entries: Entry[];
}

/** Applied state: the snapshot's payload list plus the normal entries applied since. */
interface StateMachine {
  base: string[];
  applied: { index: number; text: string }[];
}

interface EnvNode {
  id: NodeId;
  raft: RaftNode;
  opts: RaftOptions;
  storage: Storage;
  sm: StateMachine;
  /** The soft state last reported in a Ready, to print only changes as etcd does. */
  soft: { role: string; leader: NodeId | null };
}

/** A command's failure that is part of the expected output (not a broken test). */
class CommandError extends Error {}

const emptyState = (): InitialState => ({
  hardState: { term: 0, vote: null, commit: 0 },
  snapshot: null,
  entries: [],
});

export class InteractionEnv {
  private readonly nodes: EnvNode[] = [];
  /** In-flight messages, in send order. */
  private messages: Message[] = [];
  /** Isolated nodes: messages to or from them are dropped when delivered. */
  private readonly isolated = new Set<NodeId>();
  private out: string[] = [];
  private indent = '';
  private quiet = false;

  /** Runs one command and returns its output ("ok" when it printed nothing). */
  handle(tc: TestCase): string {
    this.out = [];
    this.indent = '';
    try {
      this.dispatch(tc);
    } catch (err) {
      // Errors show even under "log-level none", as in etcd.
      const msg = err instanceof Error ? err.message : String(err);
      this.out.push(err instanceof CommandError ? msg : `panic: ${msg}`);
      return this.out.join('\n');
    }
    if (this.quiet || this.out.length === 0) return 'ok';
    return this.out.join('\n');
  }

  /** The command language; README.md documents each command. */
  private readonly commands: Record<string, (a: CmdArg[], input: string) => void> = {
    'add-nodes': (a) => this.addNodes(a),
    campaign: (a) => this.node(a).raft.campaign(),
    propose: (a) => this.propose(a),
    'propose-conf-change': (a, input) => this.proposeConfChange(a, input),
    'transfer-leadership': (a) => this.transferLeadership(a),
    'read-index': (a) => this.readIndex(a),
    'process-ready': (a) => this.processReadyCmd(a),
    'deliver-msgs': (a) => this.deliverMsgsCmd(a),
    stabilize: (a) => this.stabilize(positional(a).map((id) => this.byId(id))),
    'tick-election': (a) => this.tick(this.node(a), this.node(a).opts.electionTick ?? 10),
    'tick-heartbeat': (a) => this.tick(this.node(a), this.node(a).opts.heartbeatTick ?? 1),
    tick: (a) => this.tick(this.node(a), intArg(a, 'n', 1)),
    'set-randomized-election-timeout': (a) => this.setElectionTimeout(this.node(a), intArg(a, 'timeout', 0)),
    compact: (a) => this.compact(a),
    restart: (a) => this.restart(a),
    'raft-state': () => this.raftState(),
    'raft-log': (a) => this.raftLog(this.node(a)),
    status: (a) => this.status(this.node(a)),
    isolate: (a) => {
      for (const id of positional(a)) this.isolated.add(this.byId(id).id);
    },
    heal: () => this.isolated.clear(),
    'log-level': (a) => {
      this.quiet = positional(a)[0] === 'none';
    },
  };

  private dispatch(tc: TestCase): void {
    const handler = this.commands[tc.cmd];
    if (!handler) throw new CommandError(`unknown command ${tc.cmd}`);
    handler(tc.args, tc.input);
  }

  // ---- output -------------------------------------------------------------------------------

  private print(...lines: string[]): void {
    for (const l of lines) for (const part of l.split('\n')) this.out.push(this.indent + part);
  }

  private withIndent(f: () => void): void {
    const prev = this.indent;
    this.indent += '  ';
    try {
      f();
    } finally {
      this.indent = prev;
    }
  }

  // ---- nodes --------------------------------------------------------------------------------

  private byId(id: string): EnvNode {
    const n = this.nodes[Number(id) - 1];
    if (!n) throw new CommandError(`no node ${id}`);
    return n;
  }

  /** The node named by the first positional argument. */
  private node(a: CmdArg[]): EnvNode {
    const id = positional(a)[0];
    if (id === undefined) throw new CommandError('missing node id');
    return this.byId(id);
  }

  /**
   * add-nodes <n> [voters=(..)] [learners=(..)] [index=<i>] [content=<s>] [prevote=<bool>]
   * [checkquorum=<bool>] [inflight=<n>] [election=<n>] [heartbeat=<n>] [snapshot-chunk=<bytes>]
   * [max-size-per-msg=<bytes>]. With voters, each node starts from a snapshot at `index` (term 1)
   * holding that membership, as etcd's harness does; without, from nothing.
   */
  private addNodes(a: CmdArg[]): void {
    const n = Number(positional(a)[0]);
    const voters = listArg(a, 'voters');
    const learners = listArg(a, 'learners');
    const index = intArg(a, 'index', 0);
    if (voters.length > 0 && index < 1) throw new CommandError('index must be >= 1 with voters');
    const opts: Omit<RaftOptions, 'id'> = {
      electionTick: intArg(a, 'election', 3),
      heartbeatTick: intArg(a, 'heartbeat', 1),
      preVote: boolArg(a, 'prevote', false),
      checkQuorum: boolArg(a, 'checkquorum', false),
      maxInflightMsgs: intArg(a, 'inflight', 1 << 30),
      maxSizePerMsg: intArg(a, 'max-size-per-msg', Number.MAX_SAFE_INTEGER),
      snapshotChunkBytes: intArg(a, 'snapshot-chunk', 256 * 1024),
      // Randomized timeout = electionTick + floor(random() * electionTick) = electionTick.
      random: () => 0,
    };
    const content = strArg(a, 'content', '');
    for (let i = 0; i < n; i++) {
      const id = String(this.nodes.length + 1);
      const state = emptyState();
      if (voters.length > 0) {
        state.snapshot = {
          meta: { index, term: 1, config: { voters: [...voters].sort(), learners: [...learners].sort() } },
          data: enc.encode(content),
        };
        state.hardState.commit = index;
      }
      this.nodes.push(this.makeNode({ ...opts, id }, state));
    }
  }

  private makeNode(opts: RaftOptions, state: InitialState): EnvNode {
    const raft = new RaftNode(opts, state);
    return {
      id: opts.id,
      raft,
      opts,
      storage: { hardState: { ...state.hardState }, snapshot: state.snapshot, entries: [...state.entries] },
      sm: { base: snapshotPayloads(state.snapshot), applied: [] },
      soft: { role: 'follower', leader: null },
    };
  }

  /** restart <id>: a crash and restart from what was persisted; unpersisted state is lost. */
  private restart(a: CmdArg[]): void {
    const old = this.node(a);
    const s = old.storage;
    const fresh = this.makeNode(old.opts, {
      hardState: s.hardState,
      snapshot: s.snapshot,
      entries: s.entries,
    });
    this.nodes[Number(old.id) - 1] = fresh;
  }

  // ---- client actions -----------------------------------------------------------------------

  private propose(a: CmdArg[]): void {
    const [, data] = positional(a);
    if (data === undefined) throw new CommandError('propose <id> <data>');
    const res = this.node(a).raft.propose(enc.encode(data));
    if (!res.ok) throw new CommandError(`error: ${res.error} (leader: ${idOr0(res.leader)})`);
  }

  private proposeConfChange(a: CmdArg[], input: string): void {
    const res = this.node(a).raft.proposeConfChange(parseConfChange(input));
    if (!res.ok) {
      throw new CommandError(
        `error: ${res.error}${res.message ? `: ${res.message}` : ''} (leader: ${idOr0(res.leader)})`,
      );
    }
  }

  private transferLeadership(a: CmdArg[]): void {
    const from = this.byId(strArg(a, 'from', ''));
    const to = strArg(a, 'to', '');
    if (!from.raft.transferLeadership(to)) throw new CommandError(`error: transfer to ${to} refused`);
  }

  private readIndex(a: CmdArg[]): void {
    const res = this.node(a).raft.readIndex();
    if (!res.ok) throw new CommandError(`error: ${res.error} (leader: ${idOr0(res.leader)})`);
    this.print(`read id=${res.id}`);
  }

  private tick(n: EnvNode, count: number): void {
    for (let i = 0; i < count; i++) n.raft.tick();
  }

  /**
   * Sets the node's current randomized election timeout until its next reset (etcd's
   * test-only SetRandomizedElectionTimeout). The field is private: poked here, not exported.
   */
  private setElectionTimeout(n: EnvNode, timeout: number): void {
    const raft = n.raft as unknown as { randomizedElectionTimeout: number };
    if (typeof raft.randomizedElectionTimeout !== 'number')
      throw new Error('core has no randomizedElectionTimeout');
    if (timeout < 1) throw new CommandError('timeout=<ticks> must be >= 1');
    raft.randomizedElectionTimeout = timeout;
  }

  /** compact <id> <index>: snapshot the state machine at `index` and drop the log up to it. */
  private compact(a: CmdArg[]): void {
    const n = this.node(a);
    const index = Number(positional(a)[1]);
    const snap = n.raft.createSnapshot(index, enc.encode(stateAt(n.sm, index).join(',')));
    n.storage.snapshot = snap;
    n.storage.entries = n.storage.entries.filter((e) => e.index > n.raft.snapshotIndex);
    this.raftLog(n);
  }

  // ---- the Ready loop -----------------------------------------------------------------------

  private processReadyCmd(a: CmdArg[]): void {
    const ids = positional(a);
    for (const id of ids) {
      const n = this.byId(id);
      if (ids.length > 1) {
        this.print(`> ${n.id} handling Ready`);
        this.withIndent(() => this.processReady(n));
      } else this.processReady(n);
    }
  }

  /** Persist, send, apply, advance: the order the core's Ready contract asks of a host. */
  private processReady(n: EnvNode): void {
    const rd = n.raft.ready();
    const soft: SoftState = rd.softState;
    const changed = soft.role !== n.soft.role || soft.leader !== n.soft.leader;
    n.soft = { role: soft.role, leader: soft.leader };
    this.print(...describeReady(rd, changed ? soft : null));

    const st = n.storage;
    if (rd.snapshot) {
      st.snapshot = rd.snapshot;
      st.entries = [];
    }
    if (rd.hardState) st.hardState = { ...rd.hardState };
    if (rd.entries.length > 0) {
      const first = rd.entries[0].index;
      st.entries = st.entries.filter((e) => e.index < first).concat(rd.entries);
    }
    this.messages.push(...rd.messages);
    if (rd.snapshot) n.sm = { base: snapshotPayloads(rd.snapshot), applied: [] };
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.Normal && e.data.byteLength > 0) {
        n.sm.applied.push({ index: e.index, text: dec.decode(e.data) });
      }
    }
    n.raft.advance(rd);
  }

  /**
   * deliver-msgs [<id>...] [type=<MessageType>] [drop=(<id>,..)]: delivers (or drops) the queued
   * messages to the given recipients, in order, printing each.
   */
  private deliverMsgsCmd(a: CmdArg[]): void {
    const typeName = strArg(a, 'type', '');
    let type: MessageType | undefined;
    if (typeName !== '') {
      type = MessageType[typeName as keyof typeof MessageType];
      if (type === undefined) throw new CommandError(`unknown message type ${typeName}`);
    }
    const recipients = [
      ...positional(a).map((id) => ({ id, drop: false })),
      ...listArg(a, 'drop').map((id) => ({ id, drop: true })),
    ];
    if (this.deliverMsgs(recipients, type) === 0) this.print('no messages');
  }

  private deliverMsgs(recipients: { id: NodeId; drop: boolean }[], type?: MessageType): number {
    let count = 0;
    for (const r of recipients) {
      const mine = this.messages.filter((m) => m.to === r.id && (type === undefined || m.type === type));
      this.messages = this.messages.filter((m) => !mine.includes(m));
      count += mine.length;
      for (const m of mine) {
        const drop = r.drop || this.isolated.has(m.from) || this.isolated.has(m.to);
        this.print(`${drop ? 'dropped: ' : ''}${describeMessage(m)}`);
        if (!drop) this.byId(m.to).raft.step(m);
      }
    }
    return count;
  }

  /** Ready handling on, and delivery to, the given nodes (all when none) until nothing moves. */
  private stabilize(only: EnvNode[]): void {
    const set = only.length > 0 ? only : this.nodes;
    for (let round = 0; ; round++) {
      if (round > 10_000) throw new Error('stabilize did not converge');
      let done = true;
      for (const n of set) {
        if (!n.raft.hasReady()) continue;
        done = false;
        this.print(`> ${n.id} handling Ready`);
        this.withIndent(() => this.processReady(n));
      }
      for (const n of set) {
        if (!this.messages.some((m) => m.to === n.id)) continue;
        done = false;
        this.print(`> ${n.id} receiving messages`);
        this.withIndent(() => this.deliverMsgs([{ id: n.id, drop: false }]));
      }
      if (done) return;
    }
  }

  // ---- inspection ---------------------------------------------------------------------------

  private raftState(): void {
    for (const n of this.nodes) {
      const st = n.raft.status();
      const member = st.config.voters.includes(n.id)
        ? 'Voter'
        : st.config.learners.includes(n.id)
          ? 'Learner'
          : 'Non-Member';
      this.print(`${n.id}: ${st.role} (${member}) Term:${st.term} Lead:${idOr0(st.leader)}`);
    }
  }

  /** The durable log, as etcd's raft-log prints its Storage. */
  private raftLog(n: EnvNode): void {
    const { snapshot, entries } = n.storage;
    if (entries.length === 0) {
      const first = (snapshot?.meta.index ?? 0) + 1;
      this.print(`log is empty: first index=${first}, last index=${first - 1}`);
      return;
    }
    this.print(...describeEntries(entries));
  }

  /** The leader's view of each member's progress (empty on a follower). */
  private status(n: EnvNode): void {
    // The progress map is private to the core; the test reads it rather than widen the core's API.
    const progress = (n.raft as unknown as { progress: Map<NodeId, Progress> }).progress;
    const ids = [...progress.keys()].sort((x, y) => Number(x) - Number(y));
    for (const id of ids) this.print(describeProgress(id, progress.get(id)!));
  }
}

function snapshotPayloads(snap: Snapshot | null): string[] {
  const text = snap ? dec.decode(snap.data) : '';
  return text === '' ? [] : text.split(',');
}

function stateAt(sm: StateMachine, index: number): string[] {
  return [...sm.base, ...sm.applied.filter((e) => e.index <= index).map((e) => e.text)];
}

function positional(a: CmdArg[]): string[] {
  return a.filter((x) => x.vals.length === 0).map((x) => x.key);
}

function listArg(a: CmdArg[], key: string): string[] {
  return a.filter((x) => x.key === key).flatMap((x) => x.vals);
}

function strArg(a: CmdArg[], key: string, dflt: string): string {
  return a.find((x) => x.key === key)?.vals[0] ?? dflt;
}

function intArg(a: CmdArg[], key: string, dflt: number): number {
  const v = a.find((x) => x.key === key)?.vals[0];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CommandError(`${key}=${v}: not an integer`);
  return n;
}

function boolArg(a: CmdArg[], key: string, dflt: boolean): boolean {
  const v = a.find((x) => x.key === key)?.vals[0];
  if (v === undefined) return dflt;
  if (v !== 'true' && v !== 'false') throw new CommandError(`${key}=${v}: want true or false`);
  return v === 'true';
}

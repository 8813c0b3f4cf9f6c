import { type RaftBug, RaftNode, type Ready } from '../core/raft.js';
import { EntryType, type Message, type NodeId } from '../core/types.js';
import { type HostBug, RaftHost } from '../host/raft-host.js';
import type { SimDisk } from './disk.js';
import type { EventQueue } from './event-queue.js';
import { encodeKvCommand, KvStateMachine } from './kv-state.js';
import type { Rng } from './rng.js';
import type { SimStats } from './stats.js';

// One simulated process: a RaftNode driven by the shared RaftHost loop, a KV state machine, and
// the client-facing request handling. It can crash (losing memory and unsynced writes), pause
// (events queue up until it resumes) and hit a disk error (it stops, as a real node must).

export type ClientRequest =
  | { kind: 'read'; key: string }
  | { kind: 'write'; key: string; value: string }
  | { kind: 'cas'; key: string; expected: string | null; value: string };

export type ClientReply =
  | { status: 'ok'; value?: string | null; ok?: boolean }
  /** Definitely not executed; `leader` is a hint for where to retry. */
  | { status: 'rejected'; leader: NodeId | null };

export interface SimNodeOptions {
  id: NodeId;
  queue: EventQueue;
  rng: Rng;
  stats: SimStats;
  send: (m: Message) => void;
  coreBugs: ReadonlySet<RaftBug>;
  hostBugs: ReadonlySet<HostBug>;
  tickMs: number;
  /** Take a snapshot once this many entries were applied since the last one. */
  snapshotEvery: number;
  snapshotChunkBytes: number;
  /** Append batch size: 1 sends one entry per message, which maximises interleavings of acknowledgements. */
  maxSizePerMsg: number;
  /** Called after every change the node makes, for the invariant checks. */
  observe: (node: SimNode) => void;
  /** A client was told its write at (index, term) succeeded. */
  onAck: (index: number, term: number) => void;
  /** Called for each entry applied, with the state fingerprint after it. */
  onApply: (
    node: SimNode,
    index: number,
    term: number,
    kind: EntryType | 'snapshot',
    fingerprint: string,
  ) => void;
}

type Reply = (r: ClientReply) => void;

export class SimNode {
  readonly id: NodeId;
  readonly disk: SimDisk;
  raft!: RaftNode;
  host!: RaftHost;
  kv!: KvStateMachine;
  up = false;
  paused = false;
  /** Incremented on every crash so that callbacks of an older life are ignored. */
  life = 0;
  private pausedWork: (() => void)[] = [];
  private proposals = new Map<number, { term: number; reply: Reply }>();
  private reads = new Map<number, { key: string; reply: Reply }>();
  private readyReads: { index: number; key: string; reply: Reply }[] = [];
  /** The next persist fails: 'write' before anything reaches the disk, 'sync' after some of it may have. */
  private failNext: 'write' | 'sync' | null = null;
  private inflight: { rd: Ready; life: number } | null = null;

  constructor(
    private readonly opts: SimNodeOptions,
    disk: SimDisk,
  ) {
    this.id = opts.id;
    this.disk = disk;
  }

  start(): void {
    this.life++;
    this.up = true;
    this.paused = false;
    this.pausedWork = [];
    const d = this.disk.clone();
    const rng = this.opts.rng;
    this.raft = new RaftNode(
      {
        id: this.id,
        electionTick: 10,
        heartbeatTick: 2,
        random: () => rng.next(),
        snapshotChunkBytes: this.opts.snapshotChunkBytes,
        maxSizePerMsg: this.opts.maxSizePerMsg,
        maxInflightMsgs: 16,
        bugs: this.opts.coreBugs,
      },
      d,
    );
    this.kv = new KvStateMachine();
    if (d.snapshot) this.kv.restore(d.snapshot.meta.index, d.snapshot.data);
    const life = this.life;
    this.host = new RaftHost(
      this.raft,
      {
        persist: (rd, done) => this.persist(rd, done, life),
        send: (msgs) => {
          for (const m of msgs) this.opts.send(m);
        },
        apply: (rd) => this.apply(rd),
        fatal: () => this.crash(),
      },
      this.opts.hostBugs,
    );
    const phase = rng.next() * this.opts.tickMs;
    this.opts.queue.after(phase, () => this.tickLoop(life));
    this.process();
  }

  /** Loses memory and every write not yet synced (a prefix of the in-flight batch may survive). */
  crash(): void {
    if (!this.up) return;
    if (this.inflight && this.inflight.life === this.life && this.opts.rng.next() < 0.5) {
      const n = this.disk.recordCount(this.inflight.rd);
      this.disk.write(this.inflight.rd, this.opts.rng.int(n + 1));
    }
    this.inflight = null;
    this.up = false;
    this.paused = false;
    this.pausedWork = [];
    this.host.stop();
    this.life++;
    this.proposals.clear();
    this.reads.clear();
    this.readyReads = [];
    this.opts.stats.crashes++;
  }

  pause(): void {
    if (this.up) this.paused = true;
  }

  resume(): void {
    if (!this.up || !this.paused) return;
    this.paused = false;
    const work = this.pausedWork;
    this.pausedWork = [];
    for (const w of work) {
      if (!this.up) break;
      w();
    }
  }

  failNextDiskOp(kind: 'write' | 'sync'): void {
    this.failNext = kind;
  }

  /** Disarms injected faults that have not fired yet (the healing phase). */
  disarm(): void {
    this.failNext = null;
  }

  deliver(m: Message): void {
    this.run(() => this.raft.step(m));
  }

  request(req: ClientRequest, reply: Reply): void {
    // A request to a dead process is refused by the OS: definitely not executed.
    if (!this.up) {
      reply({ status: 'rejected', leader: null });
      return;
    }
    this.run(() => this.handleRequest(req, reply));
  }

  transferLeadership(to: NodeId): boolean {
    if (!this.up || this.paused) return false;
    let ok = false;
    this.run(() => {
      ok = this.raft.transferLeadership(to);
    });
    return ok;
  }

  proposeConfChange(cc: Parameters<RaftNode['proposeConfChange']>[0]): boolean {
    if (!this.up || this.paused) return false;
    let ok = false;
    this.run(() => {
      ok = this.raft.proposeConfChange(cc).ok;
    });
    return ok;
  }

  isLeader(): boolean {
    return this.up && this.raft.currentRole === 'leader';
  }

  private handleRequest(req: ClientRequest, reply: Reply): void {
    if (req.kind === 'read') {
      const r = this.raft.readIndex();
      if (!r.ok) reply({ status: 'rejected', leader: r.leader });
      else this.reads.set(r.id, { key: req.key, reply });
      return;
    }
    const cmd =
      req.kind === 'write'
        ? encodeKvCommand({ op: 'put', key: req.key, value: req.value })
        : encodeKvCommand({ op: 'cas', key: req.key, expected: req.expected, value: req.value });
    const r = this.raft.propose(cmd);
    if (!r.ok) reply({ status: 'rejected', leader: r.leader });
    else this.proposals.set(r.index, { term: r.term, reply });
  }

  /** Runs work as the process would: not at all when down, later when paused. */
  private run(fn: () => void): void {
    if (!this.up) return;
    if (this.paused) {
      this.pausedWork.push(() => {
        fn();
        this.process();
      });
      return;
    }
    fn();
    this.process();
  }

  private process(): void {
    if (!this.up) return;
    this.host.process();
    this.opts.observe(this);
  }

  private tickLoop(life: number): void {
    if (life !== this.life) return;
    this.run(() => this.raft.tick());
    this.opts.queue.after(this.opts.tickMs, () => this.tickLoop(life));
  }

  private persist(rd: Ready, done: (err?: Error) => void, life: number): void {
    this.inflight = { rd, life };
    const latency = 0.3 + this.opts.rng.next() * 2.5;
    this.opts.queue.after(latency, () => {
      if (life !== this.life) return;
      const complete = () => {
        this.inflight = null;
        if (this.failNext) {
          const kind = this.failNext;
          this.failNext = null;
          this.opts.stats.diskErrors++;
          // After a failed fdatasync the page cache may or may not have reached the platter.
          if (kind === 'sync') this.disk.write(rd, this.opts.rng.int(this.disk.recordCount(rd) + 1));
          done(new Error(`injected ${kind === 'sync' ? 'fdatasync' : 'write'} failure`));
          return;
        }
        this.disk.write(rd);
        done();
      };
      if (this.paused)
        this.pausedWork.push(() => {
          complete();
          this.process();
        });
      else {
        complete();
        this.process();
      }
    });
  }

  private apply(rd: Ready): void {
    if (rd.snapshot) {
      this.kv.restore(rd.snapshot.meta.index, rd.snapshot.data);
      this.opts.stats.snapshotInstalls++;
      this.opts.onApply(
        this,
        rd.snapshot.meta.index,
        rd.snapshot.meta.term,
        'snapshot',
        this.kv.fingerprint(),
      );
    }
    for (const e of rd.committedEntries) {
      let result = null;
      if (e.type === EntryType.Normal) result = this.kv.apply(e.index, e.data);
      else this.kv.appliedIndex = e.index;
      this.opts.onApply(this, e.index, e.term, e.type, this.kv.fingerprint());
      const p = this.proposals.get(e.index);
      if (p) {
        this.proposals.delete(e.index);
        // Another entry took the index: ours can never commit anywhere.
        if (p.term !== e.term) p.reply({ status: 'rejected', leader: this.raft.currentLeader });
        else {
          this.opts.onAck(e.index, e.term);
          p.reply({ status: 'ok', ok: result?.ok ?? true, value: result?.prev ?? null });
        }
      }
    }
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.id);
      if (!r) continue;
      this.reads.delete(rs.id);
      this.readyReads.push({ index: rs.index, key: r.key, reply: r.reply });
    }
    for (const id of rd.droppedReads) {
      const r = this.reads.get(id);
      if (!r) continue;
      this.reads.delete(id);
      r.reply({ status: 'rejected', leader: this.raft.currentLeader });
    }
    if (this.readyReads.length > 0) {
      const waiting = [];
      for (const r of this.readyReads) {
        if (r.index <= this.kv.appliedIndex) r.reply({ status: 'ok', value: this.kv.get(r.key) });
        else waiting.push(r);
      }
      this.readyReads = waiting;
    }
    this.maybeSnapshot();
  }

  private maybeSnapshot(): void {
    const applied = this.kv.appliedIndex;
    if (applied - this.raft.snapshotIndex < this.opts.snapshotEvery) return;
    const snap = this.raft.createSnapshot(applied, this.kv.snapshot(), 5);
    this.disk.installSnapshot(snap);
    this.opts.stats.snapshotsTaken++;
  }
}

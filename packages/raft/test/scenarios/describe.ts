import { type ConfChange, decodeConfChange } from '../../src/core/confchange.js';
import type { Progress } from '../../src/core/progress.js';
import type { Ready, SoftState } from '../../src/core/raft.js';
import {
  type ClusterConfig,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  type SnapshotMeta,
} from '../../src/core/types.js';

// Text forms of the core's data, modelled on etcd-io/raft's Describe* helpers (util.go) so that a
// golden file reads like etcd's, with our message and role names.

const dec = new TextDecoder();

/** "0" stands for no node, as in etcd (our ids are numerals, never "0"). */
export const idOr0 = (id: NodeId | null): string => id ?? '0';

export function describeConfChange(cc: ConfChange): string {
  switch (cc.type) {
    case 'bootstrap':
      return `bootstrap voters=(${cc.voters.join(' ')}) learners=(${cc.learners.join(' ')})`;
    case 'addVoter':
      return `v${cc.node}`;
    case 'addLearner':
      return `l${cc.node}`;
    case 'removeNode':
      return `r${cc.node}`;
  }
}

/** Inverse of describeConfChange for one change: "v2" adds voter 2, "l4" learner 4, "r1" removes 1. */
export function parseConfChange(s: string): ConfChange {
  const m = /^([vlr])(\S+)$/.exec(s.trim());
  if (!m) throw new Error(`bad conf change "${s}": want v<id>, l<id> or r<id>`);
  const node = m[2];
  if (m[1] === 'v') return { type: 'addVoter', node };
  if (m[1] === 'l') return { type: 'addLearner', node };
  return { type: 'removeNode', node };
}

export function describeEntry(e: Entry): string {
  if (e.type === EntryType.ConfChange) {
    let text: string;
    try {
      text = describeConfChange(decodeConfChange(e.data));
    } catch {
      text = '<undecodable>';
    }
    return `${e.term}/${e.index} ConfChange ${text}`;
  }
  return `${e.term}/${e.index} Normal ${JSON.stringify(dec.decode(e.data))}`;
}

export function describeEntries(ents: readonly Entry[]): string[] {
  return ents.map(describeEntry);
}

export const describeConfig = (c: ClusterConfig): string =>
  `Voters:(${c.voters.join(' ')}) Learners:(${c.learners.join(' ')})`;

export const describeSnapshotMeta = (m: SnapshotMeta): string =>
  `Index:${m.index} Term:${m.term} ${describeConfig(m.config)}`;

export function describeHardState(hs: HardState): string {
  return `Term:${hs.term}${hs.vote !== null ? ` Vote:${hs.vote}` : ''} Commit:${hs.commit}`;
}

export const describeSoftState = (ss: SoftState): string => `Lead:${idOr0(ss.leader)} State:${ss.role}`;

/** One message; multi-entry appends span several lines, indented by `indent`. */
export function describeMessage(m: Message, indent = ''): string {
  let s = `${m.from}->${m.to} ${MessageType[m.type]} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.commit !== 0) s += ` Commit:${m.commit}`;
  if (m.context !== 0) s += ` Context:${m.context}`;
  if (m.entries.length === 1) s += ` Entries:[${describeEntry(m.entries[0])}]`;
  else if (m.entries.length > 1) {
    s += ' Entries:[';
    for (const e of m.entries) s += `\n${indent}  ${describeEntry(e)}`;
    s += `\n${indent}]`;
  }
  if (m.type === MessageType.Snap) {
    const bytes = m.data?.byteLength ?? 0;
    s += ` Offset:${m.offset} Bytes:${bytes}${m.done ? ' Done' : ''}`;
    if (m.snapshot) s += `\n${indent}  Snapshot: ${describeSnapshotMeta(m.snapshot)}`;
  } else if (m.type === MessageType.SnapResp) {
    s += ` Offset:${m.offset}`;
  }
  return s;
}

/**
 * A Ready as etcd's DescribeReady prints it. `soft` is printed only when it differs from the last
 * soft state the host saw (etcd's Ready carries SoftState only on change; ours always does).
 */
export function describeReady(rd: Ready, soft: SoftState | null): string[] {
  const out: string[] = [];
  if (soft) out.push(describeSoftState(soft));
  if (rd.hardState) out.push(`HardState ${describeHardState(rd.hardState)}`);
  if (rd.readStates.length > 0) {
    out.push(`ReadStates ${rd.readStates.map((r) => `{id:${r.id} index:${r.index}}`).join(' ')}`);
  }
  if (rd.droppedReads.length > 0) out.push(`DroppedReads ${rd.droppedReads.join(' ')}`);
  if (rd.entries.length > 0) out.push('Entries:', ...describeEntries(rd.entries));
  if (rd.snapshot) {
    out.push(
      `Snapshot ${describeSnapshotMeta(rd.snapshot.meta)} Data:${JSON.stringify(dec.decode(rd.snapshot.data))}`,
    );
  }
  if (rd.committedEntries.length > 0) out.push('CommittedEntries:', ...describeEntries(rd.committedEntries));
  if (rd.messages.length > 0) out.push('Messages:', ...rd.messages.map((m) => describeMessage(m)));
  if (out.length === 0) return ['<empty Ready>'];
  return [`Ready MustSync=${rd.mustSync}:`, ...out];
}

/** One progress line, as etcd's tracker.Progress String(). */
export function describeProgress(id: NodeId, pr: Progress): string {
  let s = `${id}: ${pr.state} match=${pr.match} next=${pr.next}`;
  if (pr.isPaused()) s += ' paused';
  if (pr.inflights.count > 0) s += ` inflight=${pr.inflights.count}${pr.inflights.full() ? '[full]' : ''}`;
  if (pr.state === 'snapshot') s += ` pendingSnap=${pr.pendingSnapshot} offset=${pr.snapshotOffset}`;
  if (!pr.recentActive) s += ' inactive';
  return s;
}

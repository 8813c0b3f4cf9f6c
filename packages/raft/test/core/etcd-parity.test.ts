import { describe, expect, it } from 'vitest';
import { type InitialState, RaftNode, type RaftOptions } from '../../src/core/raft.js';
import { type Entry, EntryType, type Message, MessageType } from '../../src/core/types.js';
import { TestCluster } from './harness.js';

// Behaviours where the core once differed from etcd-io/raft (D1..D5 in test/scenarios/README.md).
// Messages are moved by hand so that each test controls the exact interleaving.

/** Takes a node's Ready (persisting it instantly) and returns its messages. */
function flush(n: RaftNode): Message[] {
  const rd = n.ready();
  n.advance(rd);
  return rd.messages;
}

function deliver(c: TestCluster, msgs: Message[]): void {
  for (const m of msgs) c.get(m.to).step(m);
}

/** Bootstrapped voters a, b, c; a is elected leader and its followers' appends are still unanswered. */
function electA(opts: Partial<RaftOptions> = {}): { c: TestCluster; toB: Message[]; toC: Message[] } {
  const c = new TestCluster(['a', 'b', 'c'], { preVote: false, ...opts });
  const a = c.get('a');
  a.campaign();
  deliver(c, flush(a));
  deliver(c, [...flush(c.get('b')), ...flush(c.get('c'))]);
  expect(a.currentRole).toBe('leader');
  const apps = flush(a);
  return { c, toB: apps.filter((m) => m.to === 'b'), toC: apps.filter((m) => m.to === 'c') };
}

describe('D1: commit index for a follower whose probe was outstanding', () => {
  it('is sent when that follower answers, not at the next heartbeat', () => {
    const { c, toB, toC } = electA();
    const a = c.get('a');
    deliver(c, toB);
    deliver(c, toC);
    const fromB = flush(c.get('b'));
    const fromC = flush(c.get('c'));
    // b's answer commits the leader's entry; c's probe is still outstanding, so the broadcast skips c.
    deliver(c, fromB);
    expect(flush(a).some((m) => m.to === 'c')).toBe(false);
    const committed = a.commitIndex;
    expect(c.get('c').commitIndex).toBeLessThan(committed);
    deliver(c, fromC);
    const appsToC = flush(a).filter((m) => m.to === 'c' && m.type === MessageType.App);
    expect(appsToC.map((m) => m.commit)).toEqual([committed]);
    deliver(c, appsToC);
    expect(c.get('c').commitIndex).toBe(committed);
  });
});

describe('D2: the Vote that follows a won pre-vote', () => {
  it('is not flagged as a leadership transfer, so a leader within its lease ignores it', () => {
    // random 0.99: every randomized election timeout is 19 ticks, so the ticks below start no campaign.
    const c = new TestCluster(['a', 'b', 'c'], { random: () => 0.99 });
    const a = c.get('a');
    a.campaign();
    c.settle();
    expect(a.currentRole).toBe('leader');
    const term = a.currentTerm;
    // c stops hearing from the leader for an election timeout: its lease ends, a's does not.
    for (let i = 0; i < 10; i++) c.get('c').tick();
    flush(c.get('c'));
    const b = c.get('b');
    b.campaign();
    const preVotes = flush(b);
    expect(preVotes.every((m) => m.type === MessageType.PreVote)).toBe(true);
    deliver(c, preVotes);
    expect(flush(a)).toEqual([]); // in its lease: no answer
    deliver(c, flush(c.get('c')));
    expect(b.currentRole).toBe('candidate');
    const votes = flush(b);
    expect(votes.map((m) => [m.type, m.context])).toEqual([
      [MessageType.Vote, 0],
      [MessageType.Vote, 0],
    ]);
    deliver(
      c,
      votes.filter((m) => m.to === 'a'),
    );
    expect(a.currentRole).toBe('leader');
    expect(a.currentTerm).toBe(term);
  });
});

/** Bootstrap entry at 1 followed by one entry per term in `terms` (indexes 2, 3, ...). */
function logWithTerms(terms: number[], voters: string[]): InitialState {
  const boot = RaftNode.bootstrapState(voters);
  const entries: Entry[] = [...boot.entries];
  for (const t of terms) {
    entries.push({ index: entries.length + 1, term: t, type: EntryType.Normal, data: new Uint8Array(0) });
  }
  return {
    hardState: { term: terms[terms.length - 1] ?? 1, vote: null, commit: 1 },
    snapshot: null,
    entries,
  };
}

describe('D3: a rejected append', () => {
  it("lets the leader skip every entry of its own whose term is above the follower's hint term", () => {
    // Figure 7 of the Raft paper, leader n1 against follower n7 (probe_and_replicate.txt).
    const voters = ['a', 'b', 'c'];
    const c = new TestCluster([], { preVote: false, checkQuorum: false });
    c.add('a', logWithTerms([1, 1, 4, 4, 5, 5, 6, 6, 6], voters));
    c.add('b', logWithTerms([1, 1, 4, 4, 5, 5, 6, 6, 6], voters));
    c.add('c', logWithTerms([1, 1, 2, 2, 2, 3, 3, 3, 3, 3], voters));
    c.get('a').campaign();
    c.settle();
    expect(c.get('a').currentRole).toBe('leader');
    const rejects = c.sent.filter((m) => m.type === MessageType.AppResp && m.from === 'c' && m.reject);
    // The first rejection says "term 3 at index 10"; no entry of a's above index 3 has a term <= 3.
    expect(rejects).toHaveLength(1);
    expect(c.get('c').lastIndex).toBe(c.get('a').lastIndex);
    expect(c.get('c').termAt(4)).toBe(4);
  });
});

describe('D4: a follower that completed a snapshot', () => {
  it('goes back to replicate on the answer that acknowledges the snapshot', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const a = c.electLeader();
    c.tick(1);
    const lag = [...c.nodes.keys()].find((id) => id !== a.id)!;
    c.isolate(lag);
    for (let i = 0; i < 5; i++) a.propose(new TextEncoder().encode(`v${i}`));
    c.settle();
    c.snapshot(a.id);
    c.heal();
    const before = c.sent.length;
    c.tick(1, [a.id]);
    expect(c.get(lag).snapshotIndex).toBe(a.commitIndex);
    expect(a.status().progress[lag]).toMatchObject({ state: 'replicate', match: a.lastIndex });
    // Nothing is left to send after the snapshot: no empty probe append follows it.
    const sent = c.sent.slice(before).filter((m) => m.to === lag);
    const snapAt = sent.map((m) => m.type).lastIndexOf(MessageType.Snap);
    expect(snapAt).toBeGreaterThanOrEqual(0);
    expect(sent.slice(snapAt).filter((m) => m.type === MessageType.App)).toEqual([]);
  });
});

describe('D5: a transfer to a follower believed to have an append in flight', () => {
  it('sends an append at once, and the transfer completes without waiting for a heartbeat', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const a = c.electLeader();
    c.tick(1);
    const target = [...c.nodes.keys()].find((id) => id !== a.id)!;
    // The append carrying the proposal to the target is lost; the leader thinks it is in flight.
    c.cutLink(a.id, target);
    a.propose(new TextEncoder().encode('x'));
    c.settle();
    c.heal();
    expect(a.status().progress[target]).toMatchObject({ state: 'replicate', next: a.lastIndex + 1 });
    expect(a.transferLeadership(target)).toBe(true);
    const msgs = flush(a);
    expect(msgs.filter((m) => m.to === target && m.type === MessageType.App)).toHaveLength(1);
    // No ticks: the catch-up and TimeoutNow follow from that append alone.
    deliver(c, msgs);
    c.settle();
    expect(c.get(target).currentRole).toBe('leader');
  });
});

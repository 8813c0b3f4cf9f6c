import { describe, expect, it } from 'vitest';
import { RaftNode } from '../../src/core/raft.js';
import { MessageType } from '../../src/core/types.js';
import { encodeKvCommand } from '../../src/sim/kv-state.js';
import { enc, TestCluster } from './harness.js';

const put = (key: string, value: string) => encodeKvCommand({ op: 'put', key, value });

describe('elections', () => {
  it('elects exactly one leader and every node agrees on it', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    const leaders = [...c.nodes.values()].filter((n) => n.currentRole === 'leader');
    expect(leaders).toHaveLength(1);
    for (const n of c.nodes.values()) expect(n.currentLeader).toBe(l.id);
  });

  it('pre-vote: an isolated node does not inflate its term or disrupt the leader when it returns', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    const term = l.currentTerm;
    const other = [...c.nodes.keys()].find((id) => id !== l.id)!;
    c.isolate(other);
    c.tick(100);
    expect(c.get(other).currentTerm).toBe(term);
    expect(c.get(other).currentRole).toBe('preCandidate');
    c.heal();
    c.tick(5);
    expect(l.currentRole).toBe('leader');
    expect(l.currentTerm).toBe(term);
  });

  it('check-quorum: a leader cut off from its quorum steps down', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    c.isolate(l.id);
    c.tick(25, [l.id]);
    expect(l.currentRole).toBe('follower');
  });

  it('a candidate without pre-vote bumps its term (control for the pre-vote test)', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    const l = c.electLeader();
    const other = [...c.nodes.keys()].find((id) => id !== l.id)!;
    c.isolate(other);
    c.tick(60);
    expect(c.get(other).currentTerm).toBeGreaterThan(l.currentTerm);
  });

  it('votes are persisted before they are sent (mustSync with the vote in the hard state)', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const a = c.get('a');
    const b = c.get('b');
    a.campaign();
    const pre = a.ready();
    for (const m of pre.messages) c.get(m.to).step(m);
    a.advance(pre);
    const preResp = b.ready();
    expect(preResp.hardState).toBeNull();
    for (const m of preResp.messages) a.step(m);
    b.advance(preResp);
    const vote = a.ready();
    expect(vote.hardState?.vote).toBe('a');
    expect(vote.mustSync).toBe(true);
    a.advance(vote);
    b.step(vote.messages.find((m) => m.to === 'b')!);
    const rd = b.ready();
    expect(rd.messages[0].type).toBe(MessageType.VoteResp);
    expect(rd.messages[0].reject).toBe(false);
    expect(rd.hardState).toMatchObject({ vote: 'a', term: vote.hardState?.term });
    expect(rd.mustSync).toBe(true);
  });
});

describe('replication', () => {
  it('commits proposals on a quorum and applies them everywhere', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    for (let i = 0; i < 20; i++) expect(l.propose(put(`k${i % 3}`, `v${i}`)).ok).toBe(true);
    c.settle();
    c.tick(2);
    for (const id of c.nodes.keys()) {
      expect(c.kv.get(id)!.get('k1')).toBe('v19');
      expect(c.get(id).commitIndex).toBe(l.commitIndex);
    }
  });

  it('commits with one follower down and catches it up later', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    const down = [...c.nodes.keys()].find((id) => id !== l.id)!;
    c.isolate(down);
    const r = l.propose(put('x', '1'));
    c.settle();
    expect(r.ok && l.commitIndex >= r.index).toBe(true);
    c.heal();
    c.tick(3);
    expect(c.kv.get(down)!.get('x')).toBe('1');
  });

  it('pipelines appends: several are in flight before the first is acknowledged', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    c.tick(2);
    const before = c.sent.length;
    for (let i = 0; i < 5; i++) {
      l.propose(put('k', `${i}`));
      // Take each Ready separately without delivering: five appends per follower leave at once.
      const rd = l.ready();
      l.advance(rd);
      c.sent.push(...rd.messages);
    }
    const apps = c.sent.slice(before).filter((m) => m.type === MessageType.App && m.entries.length > 0);
    expect(apps.length).toBe(10);
  });

  it('a proposal to a follower fails with a leader hint', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    const f = [...c.nodes.values()].find((n) => n !== l)!;
    expect(f.propose(enc('x'))).toEqual({ ok: false, error: 'not_leader', leader: l.id });
    expect(f.readIndex()).toEqual({ ok: false, error: 'not_leader', leader: l.id });
  });

  it('refuses proposals beyond the uncommitted-bytes limit (backpressure)', () => {
    const c = new TestCluster(['a', 'b', 'c'], { maxUncommittedBytes: 1000 });
    const l = c.electLeader();
    for (const id of c.nodes.keys()) if (id !== l.id) c.isolate(id);
    let refused = 0;
    for (let i = 0; i < 50; i++) if (!l.propose(new Uint8Array(100)).ok) refused++;
    expect(refused).toBeGreaterThan(30);
  });
});

describe('snapshots', () => {
  it('sends a follower behind the compacted log a snapshot in chunks', () => {
    const c = new TestCluster(['a', 'b', 'c'], { snapshotChunkBytes: 16 });
    const l = c.electLeader();
    const lag = [...c.nodes.keys()].find((id) => id !== l.id)!;
    c.isolate(lag);
    for (let i = 0; i < 30; i++) l.propose(put(`k${i}`, `value-${i}`));
    c.settle();
    c.snapshot(l.id);
    expect(l.snapshotIndex).toBe(l.commitIndex);
    const before = c.sent.length;
    c.heal();
    c.tick(5);
    const chunks = c.sent.slice(before).filter((m) => m.type === MessageType.Snap && m.to === lag);
    expect(chunks.length).toBeGreaterThan(5);
    expect(c.kv.get(lag)!.get('k29')).toBe('value-29');
    expect(c.get(lag).commitIndex).toBe(l.commitIndex);
  });

  it('resumes a snapshot transfer after a lost chunk', () => {
    const c = new TestCluster(['a', 'b', 'c'], { snapshotChunkBytes: 16 });
    const l = c.electLeader();
    const lag = [...c.nodes.keys()].find((id) => id !== l.id)!;
    c.isolate(lag);
    for (let i = 0; i < 10; i++) l.propose(put(`k${i}`, `value-${i}`));
    c.settle();
    c.snapshot(l.id);
    c.heal();
    // Drop the leader's snapshot traffic for a few ticks, then let it through.
    c.cutLink(l.id, lag);
    c.tick(3);
    c.heal();
    c.tick(10);
    expect(c.kv.get(lag)!.get('k9')).toBe('value-9');
  });
});

describe('membership', () => {
  it('a learner receives the log but neither votes nor counts towards the quorum', () => {
    const c = new TestCluster(['a', 'b', 'c'], {}, ['d']);
    const l = c.electLeader();
    l.propose(put('x', '1'));
    c.tick(2);
    expect(c.kv.get('d')!.get('x')).toBe('1');
    // With two voters down the leader cannot commit, even though the learner acknowledges.
    const voters = ['a', 'b', 'c'].filter((id) => id !== l.id);
    for (const v of voters) c.isolate(v);
    const r = l.propose(put('x', '2'));
    c.settle();
    expect(r.ok && l.commitIndex < r.index).toBe(true);
    // A learner never campaigns.
    c.heal();
    c.isolate(l.id);
    c.tick(50, ['d']);
    expect(c.get('d').currentRole).toBe('follower');
  });

  it('adds a learner, promotes it, and allows one change at a time', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    c.tick(1);
    c.add('d');
    expect(l.proposeConfChange({ type: 'addLearner', node: 'd' }).ok).toBe(true);
    expect(l.proposeConfChange({ type: 'addVoter', node: 'd' })).toMatchObject({
      ok: false,
      error: 'conf_change_pending',
    });
    c.settle();
    expect(l.membership.learners).toEqual(['d']);
    expect(l.proposeConfChange({ type: 'addVoter', node: 'd' }).ok).toBe(true);
    c.tick(2);
    expect(l.membership.voters).toEqual(['a', 'b', 'c', 'd']);
    expect(c.get('d').membership.voters).toContain('d');
    expect(l.proposeConfChange({ type: 'addVoter', node: 'd' })).toMatchObject({
      error: 'invalid_conf_change',
    });
  });

  it('removes the leader itself; another node takes over at once', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    c.tick(1);
    expect(l.proposeConfChange({ type: 'removeNode', node: l.id }).ok).toBe(true);
    c.settle();
    expect(l.currentRole).toBe('follower');
    const next = c.leader();
    expect(next && next.id !== l.id).toBe(true);
    expect(next!.membership.voters).not.toContain(l.id);
    // The removed node never campaigns again.
    c.tick(60, [l.id]);
    expect(l.currentRole).toBe('follower');
  });
});

describe('leadership transfer', () => {
  it('hands leadership to the chosen voter', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    c.tick(1);
    const target = [...c.nodes.keys()].find((id) => id !== l.id)!;
    expect(l.transferLeadership(target)).toBe(true);
    c.settle();
    expect(c.get(target).currentRole).toBe('leader');
    expect(l.currentRole).toBe('follower');
  });

  it('refuses proposals while a transfer is in progress', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    c.tick(1);
    const target = [...c.nodes.keys()].find((id) => id !== l.id)!;
    c.isolate(target);
    l.transferLeadership(target);
    expect(l.propose(enc('x'))).toMatchObject({ ok: false, error: 'transferring' });
    // Abandoned after an election timeout.
    c.heal();
    c.isolate(target);
    c.tick(12, [l.id]);
    c.heal();
    c.tick(1);
    if (l.currentRole === 'leader') expect(l.propose(enc('x')).ok).toBe(true);
  });
});

describe('ReadIndex', () => {
  it('confirms leadership with a quorum before releasing a read', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    c.tick(1);
    for (const id of c.nodes.keys()) if (id !== l.id) c.isolate(id);
    const r = l.readIndex();
    expect(r.ok).toBe(true);
    c.settle();
    expect(c.readStates.get(l.id) ?? []).toHaveLength(0);
    c.heal();
    const r2 = l.readIndex();
    c.settle();
    const states = c.readStates.get(l.id) ?? [];
    // One heartbeat round confirms both reads.
    expect(states.map((s) => s.id)).toEqual([r.ok && r.id, r2.ok && r2.id]);
    expect(states[0].index).toBe(l.commitIndex);
  });

  it('drops pending reads when leadership is lost', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    c.tick(1);
    c.isolate(l.id);
    l.readIndex();
    let dropped: number[] = [];
    for (let i = 0; i < 30 && dropped.length === 0; i++) {
      l.tick();
      if (l.hasReady()) {
        const rd = l.ready();
        dropped = rd.droppedReads;
        l.advance(rd);
      }
    }
    expect(dropped).toHaveLength(1);
  });
});

describe('restart', () => {
  it('membership comes from the log, not from the bootstrap peers', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    c.tick(1);
    l.proposeConfChange({ type: 'removeNode', node: [...c.nodes.keys()].find((id) => id !== l.id)! });
    c.settle();
    const entries = [];
    for (let i = 1; i <= l.lastIndex; i++) entries.push(l.entryAt(i)!);
    const s = l.status();
    const restarted = new TestCluster([]);
    const n = restarted.add(l.id, {
      hardState: { term: s.term, vote: s.vote, commit: s.commit },
      snapshot: null,
      entries,
    });
    expect(n.membership.voters).toHaveLength(2);
  });
});

describe('a follower that lost its disk', () => {
  it('is caught up again instead of being probed forever', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    for (let i = 0; i < 10; i++) l.propose(put(`k${i}`, 'v'));
    c.tick(2);
    const victim = [...c.nodes.keys()].find((id) => id !== l.id)!;
    // Same id, empty data directory (an operator replaced the host's disk).
    c.add(victim);
    c.tick(10);
    expect(c.get(victim).lastIndex).toBe(l.lastIndex);
    expect(c.kv.get(victim)!.get('k9')).toBe('v');
    // And the exchange went quiet: no more appends than a few heartbeat rounds need.
    const before = c.sent.length;
    c.tick(5);
    expect(c.sent.length - before).toBeLessThan(5 * 8);
  });
});

describe('lost-quorum recovery', () => {
  it('restarts a survivor as a single-voter cluster keeping its committed log', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const l = c.electLeader();
    for (let i = 0; i < 5; i++) l.propose(put(`k${i}`, 'v'));
    c.tick(2);
    // A tail proposed while the others are gone: its outcome was unknown, and it is kept.
    for (const id of c.nodes.keys()) if (id !== l.id) c.isolate(id);
    l.propose(put('tail', 'x'));
    c.settle();
    const st = l.status();
    const entries = [];
    for (let i = 1; i <= st.lastIndex; i++) entries.push(l.entryAt(i)!);
    const { state } = RaftNode.forceNewCluster(
      { hardState: { term: st.term, vote: st.vote, commit: st.commit }, snapshot: null, entries },
      l.id,
    );
    expect(state.entries.length).toBe(st.lastIndex + 1);
    const solo = new TestCluster([]);
    const n = solo.add(l.id, state);
    expect(n.membership).toEqual({ voters: [l.id], learners: [] });
    const leader = solo.electLeader();
    expect(leader.id).toBe(l.id);
    expect(solo.kv.get(l.id)!.get('k4')).toBe('v');
    expect(solo.kv.get(l.id)!.get('tail')).toBe('x');
    expect(leader.propose(put('after', 'y')).ok).toBe(true);
  });
});

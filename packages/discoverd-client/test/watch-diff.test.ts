import type { Event, Instance } from '@flynn-edge/discoverd-state';
import { describe, expect, it } from 'vitest';
import { WatchDiffer } from '../src/watch.js';

const S = 'svc';
const inst = (n: number, meta?: Record<string, string>): Instance => ({
  id: `id${n}`,
  addr: `127.0.0.1:${1000 + n}`,
  proto: 'tcp',
  ...(meta ? { meta } : {}),
  index: n,
});
const up = (i: Instance): Event => ({ service: S, kind: 'up', instance: i });
const update = (i: Instance): Event => ({ service: S, kind: 'update', instance: i });
const down = (i: Instance): Event => ({ service: S, kind: 'down', instance: i });
const leader = (i?: Instance): Event =>
  i ? { service: S, kind: 'leader', instance: i } : { service: S, kind: 'leader' };
const meta = (index: number, data: unknown = { v: index }): Event => ({
  service: S,
  kind: 'service_meta',
  service_meta: { data, index },
});
const current: Event = { service: S, kind: 'current' };

/** Feeds a sequence, returning "kind:id" strings for what the consumer sees. */
function feed(d: WatchDiffer, events: Event[]): string[] {
  return events
    .flatMap((e) => d.apply(e))
    .map((e) => {
      if (e.kind === 'service_meta') return `service_meta:${e.service_meta!.index}`;
      return e.instance ? `${e.kind}:${e.instance.id}` : e.kind;
    });
}

describe('WatchDiffer', () => {
  it('passes a first connection through unchanged', () => {
    const d = new WatchDiffer(S);
    d.resync();
    expect(feed(d, [up(inst(1)), up(inst(2)), leader(inst(1)), meta(5), current])).toEqual([
      'up:id1',
      'up:id2',
      'leader:id1',
      'service_meta:5',
      'current',
    ]);
    expect(feed(d, [update(inst(2, { a: 'b' })), down(inst(1)), leader(inst(2)), meta(9)])).toEqual([
      'update:id2',
      'down:id1',
      'leader:id2',
      'service_meta:9',
    ]);
    expect([...d.state.keys()]).toEqual(['id2']);
  });

  it('after a reconnect emits only what changed, then down for the missing, and current once', () => {
    const d = new WatchDiffer(S);
    d.resync();
    feed(d, [up(inst(1)), up(inst(2)), up(inst(3)), leader(inst(1)), meta(5), current]);
    // The stream broke; meanwhile 2 changed its meta, 3 went away, 4 came up. The new stream's
    // initial burst says so, in the server's order.
    d.resync();
    const out = feed(d, [
      up(inst(1)),
      up(inst(2, { role: 'x' })),
      up(inst(4)),
      leader(inst(1)),
      meta(5),
      current,
    ]);
    expect(out).toEqual(['update:id2', 'up:id4', 'down:id3']);
    expect([...d.state.keys()].sort()).toEqual(['id1', 'id2', 'id4']);
    // Live events after the sync behave normally.
    expect(feed(d, [down(inst(4)), up(inst(5))])).toEqual(['down:id4', 'up:id5']);
  });

  it('reports a new leader and new meta found after a reconnect, and no duplicate ups', () => {
    const d = new WatchDiffer(S);
    d.resync();
    feed(d, [up(inst(1)), up(inst(2)), leader(inst(1)), meta(5), current]);
    d.resync();
    expect(feed(d, [up(inst(2)), leader(inst(2)), meta(7), current])).toEqual([
      'leader:id2',
      'service_meta:7',
      'down:id1',
    ]);
  });

  it('emits "no leader" when the leader vanished while disconnected and none was named', () => {
    const d = new WatchDiffer(S);
    d.resync();
    feed(d, [up(inst(1)), leader(inst(1)), current]);
    d.resync();
    expect(feed(d, [current])).toEqual(['down:id1', 'leader']);
    expect(d.currentLeader).toBeNull();
    // A later explicit "no leader" is then a duplicate.
    expect(feed(d, [leader()])).toEqual([]);
  });

  it('suppresses duplicate leader and meta events with the same index, and unknown downs', () => {
    const d = new WatchDiffer(S);
    d.resync();
    expect(feed(d, [up(inst(1)), leader(inst(1)), leader(inst(1)), meta(3), meta(3), current])).toEqual([
      'up:id1',
      'leader:id1',
      'service_meta:3',
      'current',
    ]);
    expect(feed(d, [down(inst(9)), leader(), leader(), up(inst(1))])).toEqual(['leader']);
  });

  it('treats an update for an unknown instance as up, and an unchanged re-up as nothing', () => {
    const d = new WatchDiffer(S);
    d.resync();
    expect(feed(d, [current, update(inst(1)), up(inst(1)), up({ ...inst(1), index: 1 })])).toEqual([
      'current',
      'up:id1',
    ]);
  });

  it('a second reconnect before current still diffs against everything known', () => {
    const d = new WatchDiffer(S);
    d.resync();
    feed(d, [up(inst(1)), up(inst(2)), current]);
    d.resync();
    feed(d, [up(inst(1))]); // stream broke again mid-burst
    d.resync();
    expect(feed(d, [up(inst(1)), current])).toEqual(['down:id2']);
  });
});

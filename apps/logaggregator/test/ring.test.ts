import { createRng } from '@flynn-edge/raft/rng';
import { createMetrics } from '@flynn-edge/service-kit';
import { describe, expect, it } from 'vitest';
import { Aggregator, type Entry, messageLine, Ring, rfc3339Nano, timeKey } from '../src/index.js';
import { msg } from './helpers.js';

function entry(at: number, seq = at, hostname = 'h'): Entry {
  const m = msg({ at, seq, hostname });
  return { m, key: timeKey(m.timestamp) };
}
const seqs = (r: Ring) => r.toArray().map((e) => e.m.seq);

describe('timeKey', () => {
  it('orders timestamps of any precision and offset', () => {
    expect(timeKey('2021-02-18T12:00:00.123456Z')).toBe(Date.UTC(2021, 1, 18, 12) * 1000 + 123456);
    expect(timeKey('2021-02-18T13:00:00.123456+01:00')).toBe(timeKey('2021-02-18T12:00:00.123456Z'));
    expect(timeKey('2021-02-18T12:00:00.1Z')).toBe(timeKey('2021-02-18T12:00:00.100000Z'));
    expect(timeKey('2021-02-18T12:00:00Z')).toBeLessThan(timeKey('2021-02-18T12:00:00.000001Z'));
    expect(timeKey('yesterday')).toBeNaN();
  });
});

describe('Ring', () => {
  it('appends in order and evicts the oldest when full', () => {
    const r = new Ring(3);
    for (const at of [1, 2, 3, 4, 5]) expect(r.insert(entry(at)).result).toBe('stored');
    expect(seqs(r)).toEqual([3, 4, 5]);
    expect(r.size).toBe(3);
  });

  it('inserts a late message in timestamp order, after equal timestamps', () => {
    const r = new Ring(10);
    for (const at of [10, 20, 30]) r.insert(entry(at));
    r.insert(entry(15));
    r.insert(entry(5));
    r.insert(entry(20, 21)); // same time as seq 20, different seq: kept after it
    expect(seqs(r)).toEqual([5, 10, 15, 20, 21, 30]);
  });

  it('drops duplicates on (hostname, timestamp, seq) but keeps other hosts', () => {
    const r = new Ring(10);
    expect(r.insert(entry(1, 1, 'a')).result).toBe('stored');
    expect(r.insert(entry(1, 1, 'a')).result).toBe('duplicate');
    expect(r.insert(entry(1, 1, 'b')).result).toBe('stored');
    expect(r.insert(entry(1, 2, 'a')).result).toBe('stored');
    expect(r.size).toBe(3);
  });

  it('forgets evicted keys, and rejects a message older than everything in a full ring', () => {
    const r = new Ring(2);
    r.insert(entry(1));
    r.insert(entry(2));
    r.insert(entry(3)); // evicts 1
    expect(r.insert(entry(1)).result).toBe('too_old');
    expect(seqs(r)).toEqual([2, 3]);
    const late = r.insert(entry(2, 99)); // late but newer than the oldest: evicts 2
    expect(late.result).toBe('stored');
    expect(late.evicted?.m.seq).toBe(2);
    expect(seqs(r)).toEqual([99, 3]);
    // seq 2 was evicted, so it is no longer a duplicate; it sorts after 99 (same time), evicting 99
    const again = r.insert(entry(2));
    expect(again.result).toBe('stored');
    expect(again.evicted?.m.seq).toBe(99);
    expect(seqs(r)).toEqual([2, 3]);
  });

  it('lastMatching returns the newest n matches, oldest first', () => {
    const r = new Ring(100);
    for (let i = 1; i <= 20; i++) r.insert(entry(i));
    expect(r.lastMatching(3, () => true).map((e) => e.m.seq)).toEqual([18, 19, 20]);
    expect(r.lastMatching(3, (e) => e.m.seq % 2 === 1).map((e) => e.m.seq)).toEqual([15, 17, 19]);
    expect(r.lastMatching(0, (e) => e.m.seq > 17).map((e) => e.m.seq)).toEqual([18, 19, 20]);
  });

  it('matches a reference model under seeded random arrivals (late, duplicate, overflowing)', () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      const rng = createRng(seed);
      const cap = 1 + rng.int(50);
      const r = new Ring(cap);
      let model: Array<{ at: number; seq: number; host: string; n: number }> = [];
      let n = 0;
      for (let i = 0; i < 800; i++) {
        const at = rng.int(300);
        const seq = rng.int(5);
        const host = `h${rng.int(2)}`;
        const res = r.insert(entry(at, seq, host)).result;
        const dup = model.some((x) => x.at === at && x.seq === seq && x.host === host);
        const next = dup ? model : [...model, { at, seq, host, n: n++ }];
        next.sort((a, b) => a.at - b.at || a.n - b.n);
        let expected: string;
        if (dup) expected = 'duplicate';
        else if (next.length > cap && next[0]!.n === n - 1) {
          expected = 'too_old';
          next.shift();
        } else {
          expected = 'stored';
          if (next.length > cap) next.shift();
        }
        expect(res, `seed ${seed} step ${i}`).toBe(expected);
        model = next;
        expect(r.toArray().map((e) => `${e.m.hostname}/${e.key}/${e.m.seq}`)).toEqual(
          model.map((x) => `${x.host}/${timeKey(msg({ at: x.at, seq: x.seq }).timestamp)}/${x.seq}`),
        );
      }
    }
  });
});

describe('Aggregator', () => {
  it('keeps one ring per app, per-host cursors and counters', async () => {
    const metrics = createMetrics('logaggregator', { defaultMetrics: false });
    const agg = new Aggregator({ capacity: 2, metrics });
    agg.add(msg({ appName: 'a', hostname: 'h1', at: 5, seq: 7 }));
    agg.add(msg({ appName: 'a', hostname: 'h1', at: 3, seq: 9 })); // older time, higher seq: cursor stays
    agg.add(msg({ appName: 'b', hostname: 'h2', at: 1, seq: 1 }));
    agg.add(msg({ appName: 'a', hostname: 'h1', at: 5, seq: 7 })); // duplicate
    agg.add(msg({ appName: '-', seq: 2 }));
    agg.add(msg({ appName: 'a', hostname: 'bad host', seq: 3 }));
    expect(agg.apps().sort()).toEqual(['a', 'b']);
    expect(agg.read('a', 0).map((e) => e.m.seq)).toEqual([9, 7]);
    expect(agg.cursorsJSON()).toEqual({
      h1: { time: rfc3339Nano(msg({ at: 5 }).timestamp), seq: 7 },
      h2: { time: rfc3339Nano(msg({ at: 1 }).timestamp), seq: 1 },
    });
    expect(agg.stats.ingested).toBe(3);
    expect(agg.stats.dropped).toMatchObject({ duplicate: 1, missing_field: 1, malformed: 1 });
    expect(agg.bufferedMessages).toBe(3);
    const text = await metrics.text();
    expect(text).toContain('flynn_logaggregator_messages_ingested_total 3');
    expect(text).toContain('flynn_logaggregator_messages_dropped_total{reason="duplicate"} 1');
    expect(text).toContain('flynn_logaggregator_buffer_messages 3');
  });
});

describe('NDJSON lines', () => {
  it('match Go encoding/json output of Flynn client.Message', () => {
    const m = msg({
      timestamp: '2021-02-18T12:00:00.120000Z',
      hostname: 'host1',
      procId: 'web.host1-abc',
      msgId: 'ID2',
      text: Buffer.from([0x3c, 0x61, 0x26, 0x00, 0x08, 0x22, 0x5c, 0xff, 0x09, 0xe2, 0x80, 0xa8]),
    });
    expect(messageLine(m)).toBe(
      '{"host_id":"host1","job_id":"host1-abc","msg":"\\u003ca\\u0026\\u0000\\u0008\\"\\\\\ufffd\\t\\u2028",' +
        '"process_type":"web","source":"app","stream":"stderr","timestamp":"2021-02-18T12:00:00.12Z"}\n',
    );
    // no type, empty message, init stream, whole second
    expect(
      messageLine(msg({ timestamp: '2021-02-18T12:00:00.000000Z', procId: 'job9', msgId: 'ID3', text: '' })),
    ).toBe(
      '{"host_id":"host1","job_id":"job9","source":"app","stream":"init","timestamp":"2021-02-18T12:00:00Z"}\n',
    );
    expect(JSON.parse(messageLine(msg({ msgId: 'X' }))).stream).toBe('unknown');
  });
});

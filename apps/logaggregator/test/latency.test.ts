import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogAggregator } from '../src/index.js';
import { Follow, getLog, msg, SyslogSender, startAggregator } from './helpers.js';

// Query latency for the last 10,000 lines (the goal is p99 < 50 ms; the figure is printed,
// only correctness is asserted, the bench owns the number) and follow delivery latency.

let agg: LogAggregator;
let base: string;
const APP = 'lat-app';

beforeAll(async () => {
  agg = await startAggregator();
  base = `http://127.0.0.1:${agg.apiPort}`;
  const s = await SyslogSender.connect(agg.syslogPort);
  const text = 'y'.repeat(100);
  // 12,000 sent: the ring keeps the newest 10,000. Two jobs alternate.
  s.send(
    ...Array.from({ length: 12_000 }, (_, i) =>
      msg({ appName: APP, seq: i + 1, procId: i % 2 ? 'web.job-b' : 'web.job-a', text: `${i + 1} ${text}` }),
    ),
  );
  await waitFor(() => agg.aggregator.stats.ingested === 12_000, { what: '12,000 ingested' });
  s.close();
});
afterAll(async () => {
  await agg.close();
});

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('latency', () => {
  it('GET /log/:app?lines=10000 returns exactly the newest 10,000 lines', async () => {
    const first = await getLog(base, APP, 'lines=10000');
    expect(first.lines).toHaveLength(10_000);
    expect(first.lines[0]!.msg!.startsWith('2001 ')).toBe(true);
    expect(first.lines[9_999]!.msg!.startsWith('12000 ')).toBe(true);
    const times: number[] = [];
    for (let i = 0; i < 100; i++) {
      const t0 = performance.now();
      const r = await fetch(`${base}/log/${APP}?lines=10000`);
      const body = await r.text();
      times.push(performance.now() - t0);
      expect(body.length).toBe(first.text.length);
    }
    times.sort((a, b) => a - b);
    const filtered: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      const r = await getLog(base, APP, 'lines=10000&job_id=job-b');
      filtered.push(performance.now() - t0);
      expect(r.lines).toHaveLength(5_000);
    }
    filtered.sort((a, b) => a - b);
    console.log(
      `logaggregator query, last 10,000 lines (${(first.text.length / 1e6).toFixed(2)} MB): ` +
        `p50 ${pct(times, 50).toFixed(1)} ms, p99 ${pct(times, 99).toFixed(1)} ms; ` +
        `filtered by job (5,000 lines): p99 ${pct(filtered, 99).toFixed(1)} ms`,
    );
  });

  it('a follower receives a new message within milliseconds', async () => {
    const f = new Follow(`${base}/log/${APP}?follow=true`);
    await f.ready;
    await waitFor(() => agg.aggregator.stats.followers === 1, { what: 'the follower' });
    const s = await SyslogSender.connect(agg.syslogPort);
    const delays: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      s.send(msg({ appName: APP, seq: 100_000 + i, text: `live ${i}` }));
      await f.waitLines(i + 1);
      delays.push(performance.now() - t0);
    }
    expect(f.lines.map((l) => l.msg)).toEqual(Array.from({ length: 50 }, (_, i) => `live ${i}`));
    delays.sort((a, b) => a - b);
    console.log(
      `logaggregator follow delivery: p50 ${pct(delays, 50).toFixed(1)} ms, max ${delays.at(-1)!.toFixed(1)} ms`,
    );
    s.close();
    await f.close();
  });
});

import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINES_MESSAGE, type LogAggregator, SNAPSHOT_CONTENT_TYPE } from '../src/index.js';
import { Follow, getLog, msg, SyslogSender, startAggregator } from './helpers.js';

// One standalone aggregator (no discoverd) fed over real TCP; every query parameter of
// GET /log/:app, follow semantics, /cursors, /snapshot, /metrics and /.well-known/status.

let agg: LogAggregator;
let base: string;
let sender: SyslogSender;

const APP = 'app-api';
// 30 messages: jobs j1 (web) and j2 (worker) and j3 (no type); streams cycle stdout, stderr, init.
const STREAMS = ['ID1', 'ID2', 'ID3'];
function fixture(i: number) {
  const job = i % 3 === 0 ? 'j3' : i % 3 === 1 ? 'j1' : 'j2';
  const procId = job === 'j1' ? 'web.j1' : job === 'j2' ? 'worker.j2' : 'j3';
  return msg({
    appName: APP,
    hostname: 'hA',
    seq: i,
    at: i * 10,
    procId,
    msgId: STREAMS[i % 3]!,
    text: `m${i}`,
  });
}

async function waitBuffered(app: string, n: number) {
  await waitFor(() => (agg.aggregator.ring(app)?.size ?? 0) >= n, { what: `${n} buffered in ${app}` });
}

beforeAll(async () => {
  agg = await startAggregator({ followerBuffer: 50 });
  base = `http://127.0.0.1:${agg.apiPort}`;
  sender = await SyslogSender.connect(agg.syslogPort);
  // Sent out of order: the buffer sorts by timestamp.
  const all = Array.from({ length: 30 }, (_, i) => fixture(i + 1));
  sender.send(...all.slice(15), ...all.slice(0, 15));
  await waitBuffered(APP, 30);
});

afterAll(async () => {
  sender.close();
  await agg.close();
});

describe('GET /log/:app without follow', () => {
  it('returns every buffered message in timestamp order as NDJSON', async () => {
    const r = await getLog(base, APP);
    expect(r.status).toBe(200);
    expect(r.contentType).toBe('text/plain; charset=utf-8');
    expect(r.lines.map((l) => l.msg)).toEqual(Array.from({ length: 30 }, (_, i) => `m${i + 1}`));
    expect(r.lines[0]).toEqual({
      host_id: 'hA',
      job_id: 'j1',
      msg: 'm1',
      process_type: 'web',
      source: 'app',
      stream: 'stderr',
      timestamp: r.lines[0]!.timestamp,
    });
    expect(r.lines[2]).not.toHaveProperty('process_type'); // j3 has no type
    expect(Object.keys(JSON.parse(r.text.split('\n')[0]!))).toEqual([
      'host_id',
      'job_id',
      'msg',
      'process_type',
      'source',
      'stream',
      'timestamp',
    ]);
  });

  it('lines=N returns the last N; lines=0 and lines= return all', async () => {
    expect((await getLog(base, APP, 'lines=3')).lines.map((l) => l.msg)).toEqual(['m28', 'm29', 'm30']);
    expect((await getLog(base, APP, 'lines=0')).lines).toHaveLength(30);
    expect((await getLog(base, APP, 'lines=')).lines).toHaveLength(30);
    expect((await getLog(base, APP, 'lines=10000')).lines).toHaveLength(30);
    expect((await getLog(base, APP, 'lines=%2B2')).lines).toHaveLength(2); // "+2", as strconv.Atoi
    expect((await getLog(base, APP, 'lines=2&lines=5')).lines).toHaveLength(2); // first value wins
  });

  it('rejects lines outside 0..10000 or not an integer with validation_error', async () => {
    for (const bad of ['-1', '10001', 'abc', '1.5', '1e3', '0x10', ' 5', '99999999999999999999']) {
      const r = await getLog(base, APP, `lines=${encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(400);
      expect(JSON.parse(r.text)).toEqual({
        code: 'validation_error',
        message: LINES_MESSAGE,
        retry: false,
        detail: { field: 'lines' },
      });
    }
  });

  it('filters by job_id, process_type (last value wins, empty = no type) and stream_types, ANDed', async () => {
    const msgs = async (q: string) => (await getLog(base, APP, q)).lines.map((l) => l.msg);
    expect(await msgs('job_id=j1&lines=3')).toEqual(['m22', 'm25', 'm28']);
    expect(await msgs('job_id=nope')).toEqual([]);
    expect((await msgs('process_type=worker')).length).toBe(10);
    expect(await msgs('process_type=worker&process_type=web&lines=2')).toEqual(['m25', 'm28']);
    expect(await msgs('process_type=&lines=2')).toEqual(['m27', 'm30']);
    expect(await msgs('stream_types=init&lines=2')).toEqual(['m26', 'm29']);
    expect((await msgs('stream_types=stdout,stderr')).length).toBe(20);
    expect(await msgs('stream_types=init,stdout&process_type=worker&lines=2')).toEqual(['m26', 'm29']);
    expect(await msgs('stream_types=stdout&process_type=worker')).toEqual([]);
    expect(await msgs('job_id=j1&stream_types=stdout')).toEqual([]); // j1 only ever wrote stderr
    expect((await msgs('stream_types=')).length).toBe(30);
  });

  it('rejects an unknown stream type', async () => {
    const r = await getLog(base, APP, 'stream_types=stdout,bogus');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text)).toMatchObject({ code: 'validation_error', detail: { field: 'stream_types' } });
  });

  it('an unknown app is an empty 200', async () => {
    const r = await getLog(base, 'no-such-app', 'lines=5');
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
  });
});

describe('GET /log/:app?follow=true', () => {
  it('without lines streams only new messages, promptly', async () => {
    const app = 'app-follow-1';
    sender.send(msg({ appName: app, seq: 1, text: 'old' }));
    await waitBuffered(app, 1);
    const f = new Follow(`${base}/log/${app}?follow=true`);
    await f.ready;
    expect(f.status).toBe(200);
    await waitFor(() => agg.aggregator.stats.followers >= 1, { what: 'the follower' });
    const t0 = Date.now();
    sender.send(msg({ appName: app, seq: 2, text: 'new1' }));
    await f.waitLines(1);
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(1000); // well within; the design flushes on the next loop turn
    sender.send(msg({ appName: app, seq: 3, text: 'new2' }));
    await f.waitLines(2);
    expect(f.lines.map((l) => l.msg)).toEqual(['new1', 'new2']);
    await f.close();
    await waitFor(() => agg.aggregator.stats.followers === 0, { what: 'the follower to go' });
  });

  it('lines=0 with follow also streams only new messages', async () => {
    const app = 'app-follow-0';
    sender.send(msg({ appName: app, seq: 1, text: 'old' }));
    await waitBuffered(app, 1);
    const f = new Follow(`${base}/log/${app}?follow=true&lines=0`);
    await f.ready;
    await waitFor(() => agg.aggregator.stats.followers >= 1);
    sender.send(msg({ appName: app, seq: 2, text: 'new' }));
    await f.waitLines(1);
    expect(f.lines.map((l) => l.msg)).toEqual(['new']);
    await f.close();
  });

  it('with lines=N sends the last N, then live messages, filtered, with no gap or repeat', async () => {
    const app = 'app-follow-n';
    sender.send(
      ...Array.from({ length: 10 }, (_, i) => msg({ appName: app, seq: i + 1, text: `h${i + 1}` })),
    );
    await waitBuffered(app, 10);
    const f = new Follow(`${base}/log/${app}?follow=true&lines=3&job_id=host1-job1`);
    await f.waitLines(3);
    expect(f.lines.map((l) => l.msg)).toEqual(['h8', 'h9', 'h10']);
    sender.send(
      msg({ appName: app, seq: 11, text: 'live1' }),
      msg({ appName: app, seq: 12, text: 'other job', procId: 'web.other' }),
      msg({ appName: app, seq: 13, text: 'live2' }),
      msg({ appName: app, seq: 11, text: 'live1' }), // a duplicate is not sent again
    );
    await f.waitLines(5);
    sender.send(msg({ appName: app, seq: 14, text: 'live3' }));
    await f.waitLines(6);
    expect(f.lines.map((l) => l.msg)).toEqual(['h8', 'h9', 'h10', 'live1', 'live2', 'live3']);
    await f.close();
  });

  it('a follower that does not read loses messages beyond its buffer, counted, and the server goes on', async () => {
    const app = 'app-slow';
    const before = agg.aggregator.stats.dropped.follower_overflow;
    // A raw HTTP client that never reads the response.
    const net = await import('node:net');
    const sock = net.connect(agg.apiPort, '127.0.0.1');
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    sock.write(`GET /log/${app}?follow=true HTTP/1.1\r\nHost: x\r\n\r\n`);
    sock.pause();
    await waitFor(() => agg.aggregator.stats.followers >= 1, { what: 'the slow follower' });
    const big = 'x'.repeat(9000);
    const batch = Array.from({ length: 2000 }, (_, i) => msg({ appName: app, seq: i + 1, text: big }));
    sender.send(...batch);
    await waitBuffered(app, 2000);
    await waitFor(() => agg.aggregator.stats.dropped.follower_overflow > before, { what: 'follower drops' });
    // Other clients are unaffected.
    expect((await getLog(base, app, 'lines=1')).lines[0]?.msg).toBe(big);
    sock.destroy();
    await waitFor(() => agg.aggregator.stats.followers === 0, { what: 'the slow follower to go' });
  });
});

describe('other routes', () => {
  it('GET /cursors has the newest (time, seq) per host', async () => {
    const s = await SyslogSender.connect(agg.syslogPort);
    s.send(
      msg({ appName: 'app-cur', hostname: 'hostX', seq: 5, timestamp: '2030-01-01T00:00:00.500000Z' }),
      msg({ appName: 'app-cur', hostname: 'hostX', seq: 9, timestamp: '2030-01-01T00:00:00.100000Z' }),
    );
    await waitBuffered('app-cur', 2);
    s.close();
    const r = await fetch(`${base}/cursors`);
    expect(r.headers.get('content-type')).toBe('application/json');
    const body = (await r.json()) as Record<string, unknown>;
    expect(body.hostX).toEqual({ time: '2030-01-01T00:00:00.5Z', seq: 5 });
    expect(body.hA).toEqual({ time: expect.any(String), seq: 30 });
  });

  it('GET /snapshot is our own framed format', async () => {
    const r = await fetch(`${base}/snapshot`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe(SNAPSHOT_CONTENT_TYPE);
    const text = await r.text();
    const [header, first] = text.split('\n');
    expect(JSON.parse(header!)).toMatchObject({ format: 'flynn-edge-logaggregator-snapshot', version: 1 });
    expect(first).toMatch(/^\d+ <190>1 \S+ \S+ \S+ \S+ ID\d \[flynn seq="\d+"\]/);
  });

  it('serves /.well-known/status, /metrics and the plain-text 404', async () => {
    const st = await fetch(`${base}/.well-known/status`);
    expect(st.status).toBe(200);
    expect(((await st.json()) as { data: { status: string } }).data.status).toBe('healthy');
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toMatch(/flynn_logaggregator_messages_ingested_total \d+/);
    expect(m).toContain('flynn_logaggregator_messages_dropped_total{reason="follower_overflow"}');
    expect(m).toMatch(/flynn_logaggregator_buffer_messages \d+/);
    expect(m).toContain('flynn_logaggregator_followers');
    const nf = await fetch(`${base}/nope`);
    expect(nf.status).toBe(404);
    expect(await nf.text()).toBe('404 page not found\n');
  });
});

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRng } from '@flynn-edge/raft/rng';
import { type Cursor, formatTimestamp, frameMessage, type LogMessage } from '@flynn-edge/syslog';
import { waitFor } from '@flynn-edge/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { LogStore } from '../src/index.js';
import { fakeClock, newDir, range, removeDirs, seqs } from './helpers.js';

afterEach(removeDirs);

/** Pulls messages from an async iterable in the background. */
function collect(it: AsyncIterable<LogMessage>, slow?: () => Promise<void>) {
  const got: LogMessage[] = [];
  let error: unknown;
  const done = (async () => {
    try {
      for await (const m of it) {
        got.push(m);
        if (slow) await slow();
      }
    } catch (err) {
      error = err;
    }
  })();
  return { got, done, error: () => error };
}

describe('readers', () => {
  it('filters history and tail by job and stream', async () => {
    const dir = newDir('filter');
    const store = new LogStore({ dir, hostId: 'h', now: fakeClock() });
    for (let i = 0; i < 300; i++) {
      const job = ['web.h-a', 'h-b', 'worker.h-c'][i % 3]!;
      store.write('app', { procId: job, msgId: i % 2 ? 'ID2' : 'ID1', msg: `m${i}` });
    }
    // before flush: the queue is included
    expect((await store.tail('app', 5)).map((m) => m.msg.toString())).toEqual([
      'm295',
      'm296',
      'm297',
      'm298',
      'm299',
    ]);
    await store.flush();
    const a = await store.history('app', { jobId: 'h-a' });
    expect(seqs(a)).toEqual(range(0, 300).filter((i) => i % 3 === 0));
    const b = await store.history('app', { jobId: 'h-b', streams: ['ID2'] });
    expect(seqs(b)).toEqual(range(0, 300).filter((i) => i % 3 === 1 && i % 2 === 1));
    expect(seqs(await store.history('app', { processType: '' }))).toEqual(
      range(0, 300).filter((i) => i % 3 === 1),
    );
    expect(seqs(await store.tail('app', 4, { jobId: 'h-c' }))).toEqual([287, 290, 293, 296, 299].slice(1));
    expect(seqs(await store.tail('app', 1000, { jobId: 'h-c' }))).toHaveLength(100);
    expect(await store.tail('nope', 10)).toEqual([]);
    await expect(store.tail('app', -1)).rejects.toThrow(/non-negative/);
    await store.close();
  });

  it('tail reads backwards across the rotated file', async () => {
    const dir = newDir('tailrot');
    const store = new LogStore({ dir, hostId: 'h', maxBytes: 20_000, now: fakeClock() });
    for (let i = 0; i < 300; i++) store.write('app', { procId: 'j', msgId: 'ID1', msg: `line ${i}` });
    await store.flush();
    expect(store.stats().rotations).toBeGreaterThan(0);
    const all = seqs(await store.history('app'));
    expect(all.at(-1)).toBe(299);
    expect(seqs(await store.tail('app', all.length + 50))).toEqual(all);
    expect(seqs(await store.tail('app', 150))).toEqual(range(150, 300));
    await store.close();
  });

  it('follow: history then live, nothing lost or repeated across rotations', async () => {
    const dir = newDir('follow');
    // ~270 KB in total: rotations happen, but the current + one old file still hold everything, so
    // even the slowest follower (which falls back to the disk) must see every line exactly once
    const store = new LogStore({ dir, hostId: 'h', maxBytes: 160 * 1024 });
    for (let i = 0; i < 200; i++) store.write('app', { procId: 'web.j1', msgId: 'ID1', msg: `early ${i}` });
    // a follower that starts while earlier lines are still queued and keeps up with live writes
    const f = store.follow('app');
    const c = collect(f);
    // a slow follower with a tiny live buffer: falls back to disk repeatedly, across rotations
    const slowStream = store.stream({ appIds: ['app'], follow: true, liveBuffer: 20 });
    const slow = collect(slowStream, () => new Promise((r) => setImmediate(r)));
    // a filtered follower from a cursor
    let total = 200;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 50; i++)
        store.write('app', {
          procId: i % 2 ? 'web.j1' : 'web.j2',
          msgId: 'ID1',
          msg: `live ${total++} ${'x'.repeat(40)}`,
        });
      await new Promise((r) => setImmediate(r));
    }
    await store.flush();
    expect(store.stats().rotations).toBeGreaterThanOrEqual(1);
    await waitFor(() => c.got.length >= total && slow.got.length >= total, {
      what: 'followers to catch up',
      timeoutMs: 10_000,
    });
    expect(seqs(c.got)).toEqual(range(0, total));
    expect(seqs(slow.got)).toEqual(range(0, total));
    expect(slowStream.catchUps).toBeGreaterThan(0);
    // resume from a cursor with a filter
    const mid = c.got[1000]!;
    const from: Cursor = { time: mid.timestamp, seq: mid.seq };
    const r = store.follow('app', { jobId: 'j2' }, from);
    const rc = collect(r);
    store.write('app', { procId: 'web.j2', msgId: 'ID1', msg: 'last' });
    const want = [...c.got.filter((m) => m.seq > mid.seq && m.procId === 'web.j2').map((m) => m.seq), total];
    await waitFor(() => rc.got.length >= want.length, { what: 'resumed follower' });
    expect(seqs(rc.got)).toEqual(want);
    f.close();
    slowStream.close();
    r.close();
    await Promise.all([c.done, slow.done, rc.done]);
    expect(c.error() ?? slow.error() ?? rc.error()).toBeUndefined();
    await store.close();
  });

  it('messagesAfter: everything newer than a host cursor, merged across apps in cursor order', async () => {
    const dir = newDir('after');
    const store = new LogStore({ dir, hostId: 'h', maxBytes: 16 * 1024, now: fakeClock() });
    const rng = createRng(5);
    const written: LogMessage[] = [];
    for (let i = 0; i < 600; i++)
      written.push(...store.write(`app${rng.int(4)}`, { procId: 'j', msgId: 'ID1', msg: `m${i}` }));
    await store.flush();
    const cut = written[450]!;
    const got = await store.messagesAfter({ time: cut.timestamp, seq: cut.seq }).toArray();
    expect(seqs(got)).toEqual(range(451, 600));
    expect(seqs(await store.messagesAfter(undefined, ['app1']).toArray())).toEqual(
      written.filter((m) => m.appName === 'app1').map((m) => m.seq),
    );
    await store.close();
  });

  it('tail of one job from ~200 MB of history touches only the end', async () => {
    const dir = newDir('big');
    const app = 'bigapp';
    // filler: one 1 MB block of frames repeated (older timestamps), then the unique recent part
    const jobs = ['web.h-j0', 'web.h-j1', 'worker.h-j2', 'h-j3'];
    const frame = (i: number, t: bigint, seq: number) =>
      frameMessage(
        {
          timestamp: formatTimestamp(t),
          hostname: 'h',
          appName: app,
          procId: jobs[i % 4]!,
          msgId: i % 5 === 0 ? 'ID2' : 'ID1',
          seq,
          msg: Buffer.from(`request ${i} completed in ${i % 97} ms path=/api/v1/items/${i} status=200`),
        },
        true,
      );
    const t0 = 1_600_000_000_000_000n;
    const fillerParts: Buffer[] = [];
    let size = 0;
    for (let i = 0; size < 1 << 20; i++) {
      const f = frame(i, t0, i);
      fillerParts.push(f);
      size += f.length;
    }
    const filler = Buffer.concat(fillerParts);
    const recentParts: Buffer[] = [];
    const N = 60_000;
    for (let i = 0; i < N; i++) recentParts.push(frame(i, t0 + 1_000_000_000n + BigInt(i), i));
    const recent = Buffer.concat(recentParts);
    const writeFile = (name: string, blocks: number, tail?: Buffer) => {
      const fd = fs.openSync(path.join(dir, name), 'w');
      for (let b = 0; b < blocks; b++) fs.writeSync(fd, filler);
      if (tail) fs.writeSync(fd, tail);
      fs.closeSync(fd);
    };
    writeFile(`${app}-2020-09-13T12-26-40.000.log`, 95);
    writeFile(`${app}.log`, 95, recent);
    const total =
      fs.statSync(path.join(dir, `${app}-2020-09-13T12-26-40.000.log`)).size +
      fs.statSync(path.join(dir, `${app}.log`)).size;
    expect(total).toBeGreaterThan(195 * 1024 * 1024);
    const store = new LogStore({ dir, hostId: 'h' });
    const t = performance.now();
    const got = await store.tail(app, 10_000, { jobId: 'h-j1' });
    const ms = performance.now() - t;
    const want = range(0, N)
      .filter((i) => i % 4 === 1)
      .slice(-10_000);
    expect(seqs(got)).toEqual(want);
    expect(got.every((m) => m.procId === 'web.h-j1')).toBe(true);
    const t2 = performance.now();
    const got2 = await store.tail(app, 10_000, { jobId: 'h-j3', streams: ['ID1'] });
    const ms2 = performance.now() - t2;
    expect(seqs(got2)).toEqual(
      range(0, N)
        .filter((i) => i % 4 === 3 && i % 5 !== 0)
        .slice(-10_000),
    );
    console.log(
      `tail: 10,000 lines of one job from ${(total / 2 ** 20).toFixed(0)} MB in ${ms.toFixed(1)} ms; with stream filter ${ms2.toFixed(1)} ms`,
    );
    await store.close();
  });
});

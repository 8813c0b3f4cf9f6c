import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LogMessage } from '@flynn-edge/syslog';
import { afterEach, describe, expect, it } from 'vitest';
import { type FrameBatch, LogStore } from '../src/index.js';
import { fakeClock, lines, newDir, range, removeDirs, seqs } from './helpers.js';

// LogStore.writeLines, the batch path job output takes: the same bytes on disk as write(), the same
// rotation and drop rules, and live batches for shipping.

const APP = 'app1';
afterEach(removeDirs);

describe('LogStore.writeLines', () => {
  it('writes byte for byte what write() writes, one timestamp per batch, long lines split', async () => {
    const texts = ['hello', '', 'ünïcode', 'x'.repeat(25_000), 'last'];
    const a = newDir('a');
    const b = newDir('b');
    const now = () => 1613649600123456n;
    const sa = new LogStore({ dir: a, hostId: 'host1', now });
    const sb = new LogStore({ dir: b, hostId: 'host1', now });
    for (const t of texts) sa.write(APP, { procId: 'web.host1-job1', msgId: 'ID1', msg: t });
    const { data, starts, ends } = lines(texts);
    expect(sb.writeLines(APP, 'web.host1-job1', 'ID1', data, starts, ends)).toBe(7);
    await Promise.all([sa.flush(), sb.flush()]);
    const fa = fs.readFileSync(path.join(a, 'app1.log'));
    expect(fs.readFileSync(path.join(b, 'app1.log')).equals(fa)).toBe(true);
    expect(sb.cursor).toEqual(sa.cursor);
    expect(sb.stats().linesWritten).toBe(7);
    await Promise.all([sa.close(), sb.close()]);
  });

  it('drops (and counts) the lines over the queue bound; accepted ones keep contiguous seqs', async () => {
    const dir = newDir('drop');
    const store = new LogStore({ dir, hostId: 'h', maxQueueBytes: 10_000 });
    const { data, starts, ends } = lines(Array.from({ length: 1000 }, (_, i) => `msg ${i}`));
    const accepted = store.writeLines(APP, 'j', 'ID1', data, starts, ends);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(1000);
    expect(store.stats().dropped).toBe(1000 - accepted);
    await store.flush();
    const hist = await store.history(APP);
    expect(seqs(hist)).toEqual(range(0, accepted));
    expect(hist.map((m) => m.msg.toString())).toEqual(range(0, accepted).map((i) => `msg ${i}`));
    await store.close();
  });

  it('a bad PROCID is an error counted as dropped, not a crash', () => {
    const errors: string[] = [];
    const store = new LogStore({ dir: newDir('bad'), hostId: 'h', onError: (e) => errors.push(e.message) });
    const { data, starts, ends } = lines(['a', 'b']);
    expect(store.writeLines(APP, 'bad proc', 'ID1', data, starts, ends)).toBe(0);
    expect(store.stats().dropped).toBe(2);
    expect(errors[0]).toMatch(/procId/);
  });

  it('hands live batches to frame subscribers and messages to message subscribers; pending reads see them', async () => {
    const store = new LogStore({ dir: newDir('live'), hostId: 'h', now: fakeClock() });
    const batches: FrameBatch[] = [];
    const msgs: LogMessage[] = [];
    store.subscribeFrames((b) => batches.push(b));
    store.subscribe((m) => msgs.push(m));
    store.write(APP, { procId: 'j', msgId: 'ID3', msg: 'init note' });
    const { data, starts, ends } = lines(['one', 'two', 'three']);
    store.writeLines(APP, 'web.j', 'ID1', data, starts, ends);
    // before the flush: the queued frames are visible to readers
    expect((await store.tail(APP, 10)).map((m) => m.msg.toString())).toEqual([
      'init note',
      'one',
      'two',
      'three',
    ]);
    expect(batches.map((b) => [b.count, b.first.seq, b.last.seq])).toEqual([
      [1, 0, 0],
      [3, 1, 3],
    ]);
    expect(msgs.map((m) => [m.seq, m.msg.toString()])).toEqual([
      [0, 'init note'],
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ]);
    await store.flush();
    const disk = fs.readFileSync(path.join(store.dir, 'app1.log'));
    expect(Buffer.concat(batches.map((b) => b.buf)).equals(disk)).toBe(true);
    await store.close();
  });
});

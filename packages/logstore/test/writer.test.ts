import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatTimestamp, frameMessage } from '@flynn-edge/syslog';
import { afterEach, describe, expect, it } from 'vitest';
import { LogStore } from '../src/index.js';
import { fakeClock, lines, listing, newDir, range, removeDirs, seqs } from './helpers.js';

const APP = 'app1';
afterEach(removeDirs);

describe('AppLogWriter via LogStore', () => {
  it('writes the Flynn on-disk format', async () => {
    const dir = newDir('fmt');
    const store = new LogStore({ dir, hostId: 'host1', now: () => 1613649600123456n });
    const out = store.write(APP, { procId: 'web.host1-job1', msgId: 'ID1', msg: 'hello\n' });
    expect(out).toHaveLength(1);
    await store.flush();
    const body = '<190>1 2021-02-18T12:00:00.123456Z host1 app1 web.host1-job1 ID1 [flynn seq="0"] hello';
    expect(fs.readFileSync(path.join(dir, 'app1.log'), 'latin1')).toBe(`${body.length} ${body}\n`);
    await store.close();
  });

  it('splits on newlines and at 10,000 bytes', async () => {
    const dir = newDir('split');
    const store = new LogStore({ dir, hostId: 'h' });
    const out = store.write(APP, { procId: 'j', msgId: 'ID2', msg: `a\nb\n${'x'.repeat(25_000)}` });
    expect(out.map((m) => m.msg.length)).toEqual([1, 1, 10_000, 10_000, 5000]);
    expect(seqs(out)).toEqual([0, 1, 2, 3, 4]);
    await store.flush();
    expect((await store.history(APP)).map((m) => m.msg.length)).toEqual([1, 1, 10_000, 10_000, 5000]);
    await store.close();
  });

  it.each([['write()'], ['writeLines()']])(
    'rotates before a write would pass maxBytes, keeping exactly one old file (%s)',
    async (how) => {
      const dir = newDir('rot');
      const maxBytes = 4096;
      const store = new LogStore({ dir, hostId: 'h', maxBytes, now: fakeClock() });
      let n = 0;
      for (let round = 0; round < 40; round++) {
        const texts = Array.from({ length: 10 }, (_, i) => `line ${n++} ${'.'.repeat(i * 7)}`);
        if (how === 'write()')
          for (const msg of texts) store.write(APP, { procId: 'web.j1', msgId: 'ID1', msg });
        else {
          // one batch per round: a rotation cuts it at a frame boundary
          const { data, starts, ends } = lines(texts);
          expect(store.writeLines(APP, 'web.j1', 'ID1', data, starts, ends)).toBe(10);
        }
        await store.flush();
        const files = listing(dir);
        for (const f of files) expect(f.size, f.name).toBeLessThanOrEqual(maxBytes);
        expect(files.filter((f) => f.name !== 'app1.log').length).toBeLessThanOrEqual(1);
      }
      const files = listing(dir);
      expect(files).toHaveLength(2);
      expect(files[0]!.name).toMatch(/^app1-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}\.log$/);
      const st = store.stats();
      expect(st.rotations).toBeGreaterThan(5);
      expect(st.linesWritten).toBe(400);
      expect(st.dropped).toBe(0);
      // what is left is a contiguous suffix ending at the newest line
      const hist = await store.history(APP);
      expect(hist.at(-1)!.msg.toString()).toMatch(/^line 399 /);
      expect(seqs(hist)).toEqual(range(hist[0]!.seq, 400));
      // the old file is full up to the limit (no message would have fitted)
      expect(files[0]!.size).toBeGreaterThan(maxBytes - 200);
      await store.close();
    },
  );

  it('never blocks: over the queue bound lines are dropped and counted', async () => {
    const dir = newDir('drop');
    const store = new LogStore({ dir, hostId: 'h', maxQueueBytes: 10_000 });
    let accepted = 0;
    for (let i = 0; i < 1000; i++)
      accepted += store.write(APP, { procId: 'j', msgId: 'ID1', msg: `msg ${i}` }).length;
    const st = store.stats();
    expect(st.dropped).toBe(1000 - accepted);
    expect(st.dropped).toBeGreaterThan(0);
    await store.flush();
    expect(store.stats().linesWritten).toBe(accepted);
    // seqs of accepted lines stay contiguous (dropped lines take no seq)
    expect(seqs(await store.history(APP))).toEqual(range(0, accepted));
    await store.close();
  });

  it('rejects bad app ids with a clear error', () => {
    const store = new LogStore({ dir: newDir('bad'), hostId: 'h' });
    expect(() => store.write('../etc', { procId: 'j', msgId: 'ID1', msg: 'x' })).toThrow(/invalid app id/);
    expect(() => store.write('', { procId: 'j', msgId: 'ID1', msg: 'x' })).toThrow(/invalid app id/);
  });

  it('reads back cleanly after a crash mid-write, repairs the tail and resumes the seq', async () => {
    const dir = newDir('torn');
    const s1 = new LogStore({ dir, hostId: 'h' });
    for (let i = 0; i < 100; i++) s1.write(APP, { procId: 'web.j', msgId: 'ID1', msg: `line ${i}` });
    await s1.close();
    const file = path.join(dir, 'app1.log');
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 7); // the last frame is torn
    const s2 = new LogStore({ dir, hostId: 'h' });
    expect(seqs(await s2.history(APP))).toEqual(range(0, 99));
    expect(seqs(await s2.tail(APP, 5))).toEqual(range(94, 99));
    expect(s2.cursor?.seq).toBe(98);
    s2.write(APP, { procId: 'web.j', msgId: 'ID1', msg: 'after restart' });
    await s2.flush();
    expect(s2.stats().repairedBytes).toBeGreaterThan(0);
    const hist = await s2.history(APP);
    expect(seqs(hist)).toEqual(range(0, 100));
    expect(hist.at(-1)!.msg.toString()).toBe('after restart');
    await s2.close();
  });

  it('skips garbage in the middle of a file (a torn frame that was appended to)', async () => {
    const dir = newDir('garbage');
    const s1 = new LogStore({ dir, hostId: 'h' });
    for (let i = 0; i < 10; i++) s1.write(APP, { procId: 'j', msgId: 'ID1', msg: `a${i}` });
    await s1.close();
    const file = path.join(dir, 'app1.log');
    fs.appendFileSync(file, '123 <190>1 2021-02-18T12:00:00.0000'); // torn, no repair
    const frame = (seq: number) =>
      frameMessage(
        {
          timestamp: formatTimestamp(Date.now() * 1000),
          hostname: 'h',
          appName: APP,
          procId: 'j',
          msgId: 'ID1',
          seq,
          msg: Buffer.from('x'),
        },
        true,
      );
    fs.appendFileSync(file, frame(77));
    fs.appendFileSync(file, 'junk line\n');
    fs.appendFileSync(file, frame(78));
    const s2 = new LogStore({ dir, hostId: 'h' });
    expect(seqs(await s2.history(APP))).toEqual([...range(0, 10), 77, 78]);
    expect(seqs(await s2.tail(APP, 4))).toEqual([8, 9, 77, 78]);
    expect(seqs(await s2.tail(APP, 100))).toEqual([...range(0, 10), 77, 78]);
    await s2.close();
  });
});

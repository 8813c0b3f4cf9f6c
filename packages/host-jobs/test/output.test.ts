import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import type { LinesEvent } from '../src/types.js';
import { cleanup, manager, nodeJob, tempDir } from './helpers.js';

// Output capture: per-job spool files read back as ordered line events, init lines for the
// manager's own notes, long lines split, and consumed spool space given back while the job runs.

afterAll(cleanup);

describe('output', () => {
  it('stdout and stderr lines arrive complete and in order, with a last line lacking \\n', async () => {
    // A small read budget: the job exits with most of its output unread, and the final drain
    // after its exit must still read all of it.
    const { m, rec } = await manager({ spool: { maxReadBytes: 4096 } });
    const N = 5000;
    const script = `
      for (let i = 0; i < ${N}; i++) {
        require('fs').writeSync(1, 'out ' + i + '\\n');
        require('fs').writeSync(2, 'err ' + i + '\\n');
      }
      require('fs').writeSync(1, 'no newline at the end');`;
    const job = await m.run(nodeJob(script));
    await waitFor(() => m.get(job.id)?.state === 'done', { timeoutMs: 15_000 });
    const out = rec.text(job.id, 'stdout');
    const err = rec.text(job.id, 'stderr');
    expect(out).toEqual([...Array.from({ length: N }, (_, i) => `out ${i}`), 'no newline at the end']);
    expect(err).toEqual(Array.from({ length: N }, (_, i) => `err ${i}`));
    // Offsets grow strictly within a stream.
    const offs = rec.lines.filter((l) => l.job === job.id && l.stream === 'stdout').map((l) => l.offset!);
    expect(offs.every((o, i) => i === 0 || o > offs[i - 1])).toBe(true);
    const init = rec.text(job.id, 'init');
    expect(init[0]).toMatch(/^started pid \d+/);
    expect(init.at(-1)).toBe('exited with status 0');
    // The finished job's spools are deleted.
    expect(existsSync(join(m.stateDir, 'jobs', job.id))).toBe(false);
  });

  it('holds lines in the spool while the consumer is not accepting, then delivers every one', async () => {
    let open = false;
    const { m, rec } = await manager({ spool: { maxReadBytes: 4096 }, accepting: () => open });
    const N = 3000;
    const job = await m.run(
      nodeJob(`for (let i = 0; i < ${N}; i++) require('fs').writeSync(1, 'l ' + i + '\\n');`),
    );
    await waitFor(() => m.get(job.id)?.state === 'done', { timeoutMs: 15_000 });
    // The job finished without waiting for us; nothing was read while closed.
    expect(rec.text(job.id, 'stdout')).toEqual([]);
    expect(existsSync(join(m.stateDir, 'jobs', job.id))).toBe(true);
    open = true;
    await waitFor(() => rec.text(job.id, 'stdout').length === N, { timeoutMs: 15_000 });
    expect(rec.text(job.id, 'stdout')).toEqual(Array.from({ length: N }, (_, i) => `l ${i}`));
    // Read to the end, the finished job's spools go.
    await waitFor(() => !existsSync(join(m.stateDir, 'jobs', job.id)));
  });

  it('splits a line longer than maxLineBytes; empty lines are kept', async () => {
    const { m, rec } = await manager({ spool: { maxLineBytes: 1000 } });
    const job = await m.run(nodeJob(`process.stdout.write('x'.repeat(2500) + '\\n\\nend\\n')`));
    await waitFor(() => m.get(job.id)?.state === 'done');
    expect(rec.text(job.id, 'stdout').map((l) => l.length)).toEqual([1000, 1000, 500, 0, 3]);
  });

  it('gives consumed spool space back while the job still runs', async () => {
    const { m, rec } = await manager({ stateDir: tempDir(), spool: { reclaimBytes: 64 * 1024 } });
    // ~8 MB of output, then the job waits.
    const script = `
      const fs = require('fs'); const line = 'y'.repeat(99) + '\\n';
      const chunk = line.repeat(1000);
      for (let i = 0; i < 80; i++) fs.writeSync(1, chunk);
      console.log('written'); setInterval(() => {}, 1000);`;
    const job = await m.run(nodeJob(script));
    await waitFor(() => rec.text(job.id, 'stdout').at(-1) === 'written', { timeoutMs: 15_000 });
    const path = join(m.stateDir, 'jobs', job.id, 'stdout');
    const st = await waitFor(
      () => {
        const s = statSync(path);
        return s.blocks * 512 < 256 * 1024 && s;
      },
      { what: 'the consumed spool blocks to be punched out' },
    );
    expect(st.size).toBeGreaterThan(8_000_000);
    expect(rec.text(job.id, 'stdout')).toHaveLength(80_001);
    await m.stop(job.id, { graceMs: 1000 });
  });

  it("'lines' batches carry the same lines as 'line' events, with bounds and offsets", async () => {
    const { m, rec } = await manager({ spool: { maxReadBytes: 4096, maxLineBytes: 1000, maxReadLines: 50 } });
    const batches: LinesEvent[] = [];
    m.on('lines', (ev) => batches.push({ ...ev, data: Buffer.from(ev.data) }));
    const script = `
      const fs = require('fs');
      for (let i = 0; i < 2000; i++) fs.writeSync(1, 'b ' + i + '\\n');
      fs.writeSync(1, 'z'.repeat(2500) + '\\n');`;
    const job = await m.run(nodeJob(script));
    await waitFor(() => m.get(job.id)?.state === 'done', { timeoutMs: 15_000 });
    const mine = batches.filter((b) => b.job === job.id);
    const fromBatches = (stream: string) =>
      mine
        .filter((b) => b.stream === stream)
        .flatMap((b) => b.starts.map((s, i) => b.data.toString('utf8', s, b.ends[i])));
    expect(fromBatches('stdout')).toEqual(rec.text(job.id, 'stdout'));
    expect(fromBatches('stdout')).toHaveLength(2003);
    expect(fromBatches('init')).toEqual(rec.text(job.id, 'init'));
    // several lines per batch, at most maxReadLines (+ the pieces of a split line), offsets as the
    // per-line events have them
    const out = mine.filter((b) => b.stream === 'stdout');
    expect(out.length).toBeLessThan(100);
    expect(Math.max(...out.map((b) => b.starts.length))).toBeGreaterThan(40);
    for (const b of out) expect(b.starts.length).toBeLessThanOrEqual(52);
    const offs = out.flatMap((b) => b.starts.map((s) => b.offset! + s));
    expect(offs).toEqual(
      rec.lines.filter((l) => l.job === job.id && l.stream === 'stdout').map((l) => l.offset),
    );
  });
});

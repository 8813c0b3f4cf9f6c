import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { APP, cleanup, manager, nodeJob, tempDir } from './helpers.js';

// FLYNN_DATA_DIR (issue 14, B1): a system job gets `<state>/data/<app name>`, private, the same for
// every job of the app (a replacement finds its predecessor's data); other jobs get none.

afterAll(cleanup);

/** Prints FLYNN_DATA_DIR and writes a file there, as discoverd writes its Raft log. */
const REPORT = `const d = process.env.FLYNN_DATA_DIR ?? null; if (d) require('node:fs').appendFileSync(d + '/log', process.env.FLYNN_JOB_ID + '\\n'); console.log(JSON.stringify({ dir: d }))`;

async function dirOf(rec: Awaited<ReturnType<typeof manager>>['rec'], id: string): Promise<string | null> {
  const line = await waitFor(() => rec.text(id, 'stdout')[0], { timeoutMs: 10_000, what: `${id}'s report` });
  return (JSON.parse(line) as { dir: string | null }).dir;
}

describe('FLYNN_DATA_DIR', () => {
  it('is <state>/data/<app name> (0700) for system jobs only, shared by the app’s jobs', async () => {
    const state = tempDir();
    const { m, rec } = await manager({ stateDir: state });
    const first = await m.run(nodeJob(REPORT, { system: true }));
    const second = await m.run(nodeJob(REPORT, { system: true }));
    const plain = await m.run(nodeJob(REPORT));
    const want = join(state, 'data', APP.name);
    expect(await dirOf(rec, first.id)).toBe(want);
    expect(await dirOf(rec, second.id)).toBe(want);
    expect(await dirOf(rec, plain.id)).toBeNull();
    expect(statSync(want).mode & 0o777).toBe(0o700);
    // Nothing else in the job as listed: the path is an env var of the process alone.
    expect(m.get(first.id)?.env.FLYNN_DATA_DIR).toBeUndefined();
  });

  it('narrows an existing data directory to 0700 and leaves a spec’s own value alone', async () => {
    const state = tempDir();
    const { m, rec } = await manager({ stateDir: state });
    const dataDir = join(state, 'data', APP.name);
    mkdirSync(dataDir, { recursive: true, mode: 0o755 });
    writeFileSync(join(dataDir, 'log'), 'old\n');
    const job = await m.run(nodeJob(REPORT, { system: true }));
    expect(await dirOf(rec, job.id)).toBe(dataDir);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    const own = join(tempDir(), 'elsewhere');
    mkdirSync(own);
    const custom = await m.run(nodeJob(REPORT, { system: true, env: { FLYNN_DATA_DIR: own } }));
    expect(await dirOf(rec, custom.id)).toBe(own);
  });
});

import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLYNN_BIN, hasStackTrace, runFlynn, runUntilFirstLine } from '@flynn-edge/cli/testing';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { nextPortBlock, waitFor } from '@flynn-edge/process-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 13: `flynn kv` against a real 3-node keyed discoverd. DISCOVERD names a follower first, so
// every linearizable read and every write goes through a 307 with the key re-sent.

const KEY = 'kv-test-key';
const dir = mkdtempSync(join(tmpdir(), 'flynn-kv-'));
const base = nextPortBlock(4);
const cluster = new DiscoverdProcessCluster({
  size: 3,
  firstHost: 141,
  port: base,
  dnsPort: base + 1,
  dir,
  env: { CLUSTER_KEY: KEY },
});
let servers = '';
let follower = 0;

const env = () => ({ DISCOVERD: servers, CLUSTER_KEY: KEY });
const kv = (...args: string[]) => runFlynn(['kv', ...args], env());

/** `flynn kv watch …` as a child whose output the test reads while it runs. */
function startWatch(args: string[]) {
  const base: Record<string, string | undefined> = { ...process.env, ...env() };
  const child = spawn(process.execPath, [FLYNN_BIN, 'kv', 'watch', ...args], {
    env: base,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out.stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out.stderr += d;
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, out, done };
}

beforeAll(async () => {
  cluster.start();
  const leader = await cluster.leader(20_000);
  follower = leader === 0 ? 1 : 0;
  servers = [cluster.addrs[follower], ...cluster.addrs.filter((_, i) => i !== follower)].join(',');
}, 60_000);

afterAll(() => cluster.close(), 30_000);

describe('flynn kv', () => {
  it('put and delete refuse without --yes (exit 2) and change nothing', async () => {
    const put = await kv('put', 'cfg/a', 'one');
    expect(put.code).toBe(2);
    expect(put.stderr).toBe('flynn: kv put changes the cluster store directly; pass --yes\n');
    for (const args of [
      ['delete', 'cfg/a'],
      ['delete', '--prefix', 'cfg/'],
    ]) {
      const del = await kv(...args);
      expect(del.code).toBe(2);
      expect(del.stderr).toBe('flynn: kv delete changes the cluster store directly; pass --yes\n');
    }
    const get = await kv('get', 'cfg/a');
    expect(get.code).toBe(1);
    expect(get.stderr).toBe('flynn: key not found: cfg/a\n');
  });

  it('put --yes, get, list', async () => {
    const put = await kv('put', 'cfg/a', 'one', '--yes');
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toMatch(/^put cfg\/a \(revision \d+\)\n$/);
    expect((await kv('put', 'cfg/b c', 'two words', '--yes')).code).toBe(0);
    expect((await kv('put', 'other/x', '{"id":1}', '--yes')).code).toBe(0);

    const get = await kv('get', 'cfg/b c');
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe('two words\n');
    const getJson = JSON.parse((await kv('get', 'cfg/a', '--json')).stdout);
    expect(getJson).toMatchObject({ key: 'cfg/a', value: 'one', version: 1 });

    const list = await kv('list', 'cfg/');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toBe('cfg/a\ncfg/b c\n');
    const listJson = JSON.parse((await kv('list', 'cfg/', '--json')).stdout) as {
      key: string;
      value: string;
    }[];
    expect(listJson.map((e) => [e.key, e.value])).toEqual([
      ['cfg/a', 'one'],
      ['cfg/b c', 'two words'],
    ]);
    expect((await kv('list')).stdout).toBe('cfg/a\ncfg/b c\nother/x\n');
  });

  it('usage and key errors are one line', async () => {
    for (const [args, code, message] of [
      [['get'], 2, /missing required argument 'key'/],
      [['put', 'k'], 2, /missing required argument 'value'/],
      [['delete', '--yes'], 2, /KEY or --prefix PREFIX/],
      [['get', 'a/../b'], 2, /"\." or "\.\." segment/],
      [['watch', '--start-revision', 'x'], 2, /want a non-negative integer/],
    ] as const) {
      const r = await kv(...args);
      expect(r.code, `${args} ${r.stderr}`).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(hasStackTrace(r.stderr)).toBe(false);
    }
    const keyless = await runFlynn(['kv', 'list'], { DISCOVERD: servers });
    expect(keyless.code).toBe(1);
    expect(keyless.stderr).toMatch(
      /^flynn: .*answered 401 unauthorized.*set CLUSTER_KEY or pass --cluster-key\)\n$/,
    );
  });

  it('watch prints the changes from a revision; SIGINT ends it cleanly', async () => {
    const put = await kv('put', 'w/a', 'first', '--yes');
    const rev = Number(/revision (\d+)/.exec(put.stdout)![1]);
    const w = startWatch(['w/', '--start-revision', String(rev + 1)]);
    try {
      expect((await kv('put', 'w/b', 'héllo', '--yes')).code).toBe(0);
      expect((await kv('delete', 'w/a', '--yes')).stdout).toMatch(/^deleted 1 \(revision \d+\)\n$/);
      expect((await kv('put', 'elsewhere', 'x', '--yes')).code).toBe(0);
      await waitFor(() => w.out.stdout.includes('delete w/a\n'), {
        timeoutMs: 15_000,
        what: 'the watch output',
      });
      expect(w.out.stdout).toBe('put w/b 6 bytes\ndelete w/a\n');
    } finally {
      w.child.kill('SIGINT');
    }
    expect(await w.done).toEqual({ code: 0, signal: null });
    expect(w.out.stderr).toBe('');
  });

  it('watch from now sees a put; --json lines; a closed pipe ends it with 0', async () => {
    const w = startWatch(['now/', '--json']);
    try {
      let n = 0;
      await waitFor(
        async () => {
          await kv('put', `now/${n++}`, 'v', '--yes');
          return w.out.stdout.includes('"type":"put"');
        },
        { timeoutMs: 15_000, what: 'the watch seeing a put' },
      );
      const first = JSON.parse(w.out.stdout.split('\n')[0]);
      expect(first).toMatchObject({ type: 'put', value: 'v' });
      expect(first.key).toMatch(/^now\/\d+$/);
      expect(typeof first.revision).toBe('number');
    } finally {
      w.child.kill('SIGINT');
    }
    expect((await w.done).code).toBe(0);

    // As `flynn kv watch | head -1`: the watch notices the closed pipe at its next write, so keep
    // writing until it has ended.
    let ended = false;
    const headRun = runUntilFirstLine(['kv', 'watch', '--start-revision', '1'], env(), FLYNN_BIN).finally(
      () => {
        ended = true;
      },
    );
    await waitFor(
      async () => {
        if (!ended) await kv('put', 'pipe/x', 'y', '--yes');
        return ended;
      },
      { timeoutMs: 15_000, what: 'the watch ending on a closed pipe' },
    );
    const head = await headRun;
    expect(head.code).toBe(0);
    expect(head.stdout).toMatch(/^(put|delete) \S+/);
    expect(head.stderr).toBe('');
  });

  it('delete --prefix --yes deletes every key under it', async () => {
    const r = await kv('delete', '--prefix', 'cfg/', '--yes');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^deleted 2 \(revision \d+\)\n$/);
    expect((await kv('list', 'cfg/')).stdout).toBe('');
  });

  it('a watch whose server dies resumes on the next one without losing a change', async () => {
    const put = await kv('put', 'r/a', '1', '--yes');
    const rev = Number(/revision (\d+)/.exec(put.stdout)![1]);
    // The watch is served by the first server, a follower.
    const w = startWatch(['r/', '--start-revision', String(rev)]);
    try {
      await waitFor(() => w.out.stdout.includes('put r/a 1 bytes\n'), {
        timeoutMs: 15_000,
        what: 'the watch',
      });
      await cluster.procs[follower].kill('SIGKILL');
      expect((await kv('put', 'r/b', '22', '--yes')).code).toBe(0);
      expect((await kv('delete', 'r/a', '--yes')).code).toBe(0);
      await waitFor(() => w.out.stdout.includes('delete r/a\n'), {
        timeoutMs: 20_000,
        what: 'the resumed watch',
      });
      expect(w.out.stdout).toBe('put r/a 1 bytes\nput r/b 2 bytes\ndelete r/a\n');
    } finally {
      w.child.kill('SIGINT');
    }
    expect((await w.done).code).toBe(0);
  });
});

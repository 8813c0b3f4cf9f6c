import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '@flynn-edge/process-kit';
import { createLogger } from '@flynn-edge/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppliedIndexWaiter } from '../src/applied-index.js';
import { DiscoverdServer } from '../src/server.js';

/** Lets every microtask and the current macrotask's follow-ups run: no clock involved. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('AppliedIndexWaiter', () => {
  it('resolves waiters when told the index moved, and only then', async () => {
    let applied = 1;
    const w = new AppliedIndexWaiter(() => applied);
    let done: boolean | undefined;
    void w.wait(3, 5000).then((ok) => (done = ok));
    applied = 2;
    w.advanced();
    await nextTurn();
    expect(done).toBeUndefined();
    applied = 3;
    await nextTurn();
    expect(done).toBeUndefined(); // nothing polls
    w.advanced();
    await nextTurn();
    expect(done).toBe(true);
    expect(w.waiting).toBe(0);
  });
});

describe('?index=N on a real server', () => {
  let server: DiscoverdServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'discoverd-applied-'));

  beforeAll(async () => {
    const port = await freePort();
    server = new DiscoverdServer({
      addr: `127.0.0.1:${port}`,
      host: '127.0.0.1',
      dataDir,
      peers: [],
      logger: createLogger({ component: 'discoverd', level: 'silent' }),
      tickMs: 10,
    });
    await server.start();
    // A leader takes a membership change only once its own first entry is applied.
    await waitFor(() => server.raft.isLeader && server.raft.appliedIndex >= server.raft.status().lastIndex, {
      what: 'a discoverd leader with its log applied',
    });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('an index reached by an entry the state machine never sees resolves as it is applied', async () => {
    // A membership change moves the applied index without a state-machine apply.
    const next = server.raft.status().lastIndex + 1;
    let done: boolean | undefined;
    void server.applied.wait(next, 5000).then((ok) => (done = ok));
    await server.raft.changeMembership({ type: 'addLearner', node: '127.0.0.1:1' });
    expect(server.raft.appliedIndex).toBeGreaterThanOrEqual(next);
    // The applied event may come a turn or two after the change resolves (a CI run saw it).
    await waitFor(() => done === true, { timeoutMs: 2000, what: 'the waiter resolved' });
  });
});

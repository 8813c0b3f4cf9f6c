import { waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { DiscoverdProcessCluster } from '../src/process-cluster.js';
import { http, md5Id, SseReader, write } from './helpers.js';

// SIGSTOP the leader for longer than 2 x TTL while the instances keep heartbeating to the new
// leader, then SIGCONT it. An instance that kept heartbeating must never be expired: no `down`
// event, on any stream. (Flynn #4005: a stalled leader mass-expired every instance on resume.)
// The TTL is shortened to 3 s (a 7 s pause); production uses 10 s and the 25 s pause.

describe('a paused leader', () => {
  const cluster = new DiscoverdProcessCluster({ args: ['-instance-ttl', '3s'] });
  afterAll(async () => {
    for (const p of cluster.procs) p.signal('SIGCONT');
    await cluster.close();
  });

  it('never expires instances that kept heartbeating', async () => {
    cluster.start();
    const leader = await cluster.leader();
    await write('PUT', cluster.url(leader, '/services/paused'), {});
    const addrs = ['10.8.0.1:80', '10.8.0.2:80', '10.8.0.3:80'];
    let stop = false;
    // Heartbeat every 300 ms through any node that answers quickly, like a real client.
    const beat = () =>
      Promise.all(
        addrs.map(async (addr) => {
          const id = md5Id('tcp', addr);
          for (let i = 0; i < 3; i++) {
            try {
              // A short timeout: a request to the paused node must not hold up the other heartbeats.
              const r = await write(
                'PUT',
                cluster.url(i, `/services/paused/instances/${id}`),
                { id, addr, proto: 'tcp' },
                {},
                700,
              );
              if (r.status === 200) break;
            } catch {
              // paused or unreachable node: next one
            }
          }
        }),
      );
    await beat();
    const heartbeats = (async () => {
      while (!stop) {
        await beat();
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    // Watch from a node that will not be paused, and later from the resumed one too.
    const watcher = new SseReader(cluster.url((leader + 1) % 3, '/services/paused'));
    await watcher.waitForKinds(3 + 1 + 1);

    cluster.procs[leader].signal('SIGSTOP');
    const pausedAt = Date.now();
    await waitFor(() => Date.now() - pausedAt > 7000, {
      timeoutMs: 12_000,
      intervalMs: 200,
      what: 'a 7 s pause',
    });
    cluster.procs[leader].signal('SIGCONT');
    const resumedWatcher = new SseReader(cluster.url(leader, '/services/paused'));
    // Keep heartbeating past two more TTLs after the resume.
    await waitFor(() => Date.now() - pausedAt > 16_000, {
      timeoutMs: 25_000,
      intervalMs: 200,
      what: 'time after resume',
    });
    stop = true;
    await heartbeats;

    expect(watcher.kinds()).not.toContain('down');
    expect(resumedWatcher.kinds()).not.toContain('down');
    const list = (
      await http('GET', cluster.url((leader + 1) % 3, '/services/paused/instances'))
    ).json() as unknown[];
    expect(list).toHaveLength(3);
    watcher.close();
    resumedWatcher.close();
  });

  it('still expires an instance that stopped heartbeating', async () => {
    const leader = await cluster.leader();
    const watcher = new SseReader(cluster.url(leader, '/services/paused/instances'));
    await watcher.waitForKinds(3);
    await waitFor(() => watcher.kinds().filter((k) => k === 'down').length === 3, {
      timeoutMs: 20_000,
      what: 'the silent instances to expire',
    });
    watcher.close();
  });
});

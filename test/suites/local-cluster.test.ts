import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consecutivePorts, LocalCluster } from '@flynn-edge/local-cluster';
import { nextPortBlock } from '@flynn-edge/process-kit';
import { chromiumLaunchOptions, requireCommand, waitFor } from '@flynn-edge/testkit';
import { zfsReachable } from '@flynn-edge/zfs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// What `npm start` runs (LocalCluster), on 127.0.0.91-93 with its own ports: every component is a
// job of a flynn-host daemon, the keys are enforced, and the demo app answers through the router.

const dir = mkdtempSync(join(tmpdir(), 'local-cluster-'));
// With ZFS answering (CI starts zfs-fuse), each host gets its own pool, as in npm start.
const zfs = await zfsReachable();
const chromium = requireCommand('chromium', 'chromium');
const BASE = nextPortBlock(10);
const progress: string[] = [];
const cluster = new LocalCluster({
  hosts: ['127.0.0.91', '127.0.0.92', '127.0.0.93'],
  dir,
  ports: consecutivePorts(BASE, 26_000) /* job ports: this suite's band, 26000-28999 */,
  zfsPoolPrefix: zfs ? `lc${process.pid}` : undefined,
  progress: (line) => progress.push(line),
});

beforeAll(() => cluster.start(), 120_000);
afterAll(async () => {
  await cluster.close(); // done already unless the last test was left out
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('the local cluster (npm start)', { timeout: 30_000 }, () => {
  it('runs every component as a job, on the hosts the demo names', async () => {
    const ran = (name: 'discoverd' | 'router' | 'logaggregator' | 'status' | 'demo') =>
      (cluster.jobs.get(name) ?? []).map((j) => j.host);
    expect(ran('discoverd')).toEqual([0, 1, 2]);
    expect(ran('router')).toEqual([0, 1, 2]); // omni: one per host
    expect(new Set(ran('logaggregator')).size).toBe(2); // the manifest's two, on two hosts
    expect(new Set(ran('demo')).size).toBe(2); // web=2 lands on two hosts
    expect(new Set(ran('status')).size).toBe(2);
    const running = async (i: number) =>
      ((await cluster.hostApi(i, 'GET', '/host/jobs')) as { state: string }[]).filter(
        (j) => j.state === 'running',
      ).length;
    const total = (await Promise.all([0, 1, 2].map(running))).reduce((a, b) => a + b, 0);
    // discoverd and the router on each host, two logaggregators, two status, the controller, demo web=2.
    expect(total).toBe(3 + 3 + 2 + 2 + 1 + 2);
  });

  it('serves the demo app through the router from both of its jobs', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20 && seen.size < 2; i++) {
      const r = await cluster.throughRouter(`demo.${cluster.domain}`);
      expect(r.status).toBe(200);
      seen.add(r.body.trim());
    }
    expect([...seen].sort()).toEqual(
      (cluster.jobs.get('demo') ?? []).map((j) => `hello from ${j.id}`).sort(),
    );
  });

  it('holds every API to the generated cluster key', async () => {
    const hostApi = `http://${cluster.hosts[0]}:${cluster.ports.host}/host/jobs`;
    expect((await fetch(hostApi)).status).toBe(401);
    const routes = await fetch(`${cluster.routerApi}/routes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'http', service: 'x', domain: 'x.example' }),
    });
    expect(routes.status).toBe(401);
    const kv = await fetch(`http://${cluster.hosts[0]}:${cluster.ports.discoverd}/kv/apps/demo`);
    expect(kv.status).toBe(401);
    // The key itself works.
    expect(((await cluster.hostApi(0, 'GET', '/host/jobs')) as unknown[]).length).toBeGreaterThan(0);
  });

  it('answers status.<domain> through the router: every component healthy, both scopes', async () => {
    expect(cluster.hasStatus).toBe(true);
    type StatusBody = {
      data: { status: string; detail: Record<string, { status: string; reason?: string }> };
    };
    let body: StatusBody | undefined;
    // The first rounds may still see jobs registering.
    await waitFor(
      async () => {
        const r = await cluster.throughRouter(`status.${cluster.domain}`);
        body = JSON.parse(r.body) as StatusBody;
        return r.status === 200;
      },
      { timeoutMs: 20_000, what: 'a healthy cluster status through the router' },
    );
    expect(Object.keys(body!.data.detail).sort()).toEqual([
      'discoverd',
      'flynn-host',
      'logaggregator',
      'router',
    ]);
    const host = await cluster.throughRouter(`status.${cluster.domain}`, '/?scope=host');
    expect([host.status, JSON.parse(host.body).data.status]).toEqual([200, 'healthy']);
    // Through the router from loopback: private, so no key; /livez is the bare liveness answer.
    expect((await cluster.throughRouter(`status.${cluster.domain}`, '/livez')).status).toBe(200);
  });

  it.skipIf(!chromium.available)(
    'shows every component healthy on the status page (headless Chromium)',
    async () => {
      const { chromium: pw } = await import('playwright-core');
      const host = `status.${cluster.domain}`;
      const browser = await pw.launch(
        chromiumLaunchOptions([`--host-resolver-rules=MAP ${host} ${cluster.hosts[0]}`]),
      );
      try {
        const page = await browser.newPage();
        // Through the router, as an operator's browser reaches it.
        await page.goto(`http://${host}:${cluster.ports.http}/`);
        await waitFor(async () => (await page.locator('tr[data-status="healthy"]').count()) === 4, {
          timeoutMs: 10_000,
          what: 'four healthy rows',
        });
        expect(await page.locator('#overall').textContent()).toBe('healthy');
        await page.screenshot({ path: join(dir, 'status-page.png'), fullPage: true });
      } finally {
        await browser.close();
      }
    },
  );

  it.skipIf(!zfs)('moves a volume between hosts whose APIs want the cluster key', async () => {
    const mountOf = (pool: string, id: string) =>
      execFileSync('zfs', ['get', '-H', '-o', 'value', 'mountpoint', `${pool}/data/${id}`], {
        encoding: 'utf8',
      }).trim();
    const src = (await cluster.hostApi(0, 'POST', '/storage/providers/default/volumes', {})) as {
      id: string;
    };
    writeFileSync(join(mountOf(cluster.poolOf(0)!, src.id), 'hello.txt'), 'from host1');
    const snap = (await cluster.hostApi(0, 'PUT', `/storage/volumes/${src.id}/snapshot`)) as { id: string };
    const dst = (await cluster.hostApi(1, 'POST', '/storage/providers/default/volumes', {})) as {
      id: string;
    };
    // host2 asks host1 for the stream: host1's API holds host2 to the same key.
    await cluster.hostApi(1, 'POST', `/storage/volumes/${dst.id}/pull_snapshot`, {
      host_id: 'host1',
      snapshot_id: snap.id,
    });
    expect(readFileSync(join(mountOf(cluster.poolOf(1)!, dst.id), 'hello.txt'), 'utf8')).toBe('from host1');
  });

  // Last: it stops the cluster (what Ctrl-C on npm start runs).
  it('stops everything within seconds, saying what it stops as it goes', async () => {
    const before = progress.length;
    const t0 = Date.now();
    await cluster.close();
    const took = Date.now() - t0;
    const lines = progress.slice(before);
    expect(lines[0]).toMatch(/^stopping jobs: .*demo.* \(\d+\)…$/);
    expect(lines).toContain('stopping the flynn-host daemons (3)…');
    expect(lines).toContain('stopping discoverd (3)…');
    expect(lines.at(-1)).toMatch(/^stopped in \d+\.\d s \(jobs .*, daemons .*, discoverd .*\)$/);
    expect(took).toBeLessThan(10_000);
    // Nothing is left running: no daemon, no job process.
    for (const d of cluster.daemons) expect(d.running).toBe(false);
    const answers = await Promise.all(
      cluster.hosts.map((h) =>
        fetch(`http://${h}:${cluster.ports.discoverd}/ping`, { signal: AbortSignal.timeout(1000) }).then(
          () => 'answered',
          () => 'gone',
        ),
      ),
    );
    expect(answers).toEqual(['gone', 'gone', 'gone']);
  });
});

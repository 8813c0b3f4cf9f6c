import { readFileSync, statSync } from 'node:fs';
import { netnsAvailable, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_API_PORT, OpsCluster } from '../src/ops-cluster.js';

// Three machines on one box: the installed release, `flynn-host init` on each (its address, the
// peers' and the cluster key in host.json), and the unit's `flynn-host daemon` in three network
// namespaces reading that file (FLYNN_HOST_CONFIG), each bound to port 1113 on its own address 10.77.141.1x (the same port three times,
// which only separate network stacks allow). A host whose cable is pulled stops answering while
// the others go on; a client at a public address (198.18.141.2) reaches every host.

const TAG = 141;
const { available } = netnsAvailable();
let cluster: OpsCluster;

beforeAll(async () => {
  if (!available) return;
  cluster = await OpsCluster.create({ tag: TAG, hosts: 3 });
  await cluster.initAll();
  await cluster.start();
}, 240_000);

afterAll(async () => {
  await cluster?.destroy();
}, 60_000);

/** GET /host/status from the public client's namespace; resolves with the host id or the error. */
async function fromPublic(k: number): Promise<string> {
  const script = `fetch(${JSON.stringify(`${cluster.url(k)}/host/status`)}, { headers: { authorization: 'Bearer ${cluster.clusterKey}' }, signal: AbortSignal.timeout(3000) }).then(async (r) => process.stdout.write((await r.json()).id), (e) => { process.stdout.write('error ' + e.message); })`;
  const r = await cluster.net.run('public', process.execPath, ['-e', script]);
  return r.stdout;
}

describe.skipIf(!available)('installed daemons in their own network namespaces', () => {
  it('each host answers /host/status on port 1113 of its own address', async () => {
    for (const k of cluster.hosts) {
      const status = (await cluster.hostStatus(k)) as { id: string; addrs: string[] };
      expect(status.id).toBe(`h${k}`);
      expect(status.addrs).toEqual([`10.77.${TAG}.${10 + k}:${HOST_API_PORT}`]);
    }
  });

  it('each daemon took its address, its peers and the cluster key from the host.json init wrote', async () => {
    const peers = cluster.ips.map((ip) => `http://${ip}:1111`).sort();
    for (const k of cluster.hosts) {
      expect(statSync(cluster.hostJson(k)).mode & 0o777).toBe(0o600);
      const status = (await cluster.hostStatus(k)) as { discoverd: string[] };
      expect([...status.discoverd].sort()).toEqual(peers);
      const anon = await fetch(`${cluster.url(k)}/host/status`, { signal: AbortSignal.timeout(3000) });
      expect(anon.status).toBe(401);
    }
  });

  it('each daemon is the installed one, its pid inside its host namespace', () => {
    for (const k of cluster.hosts) {
      const pid = cluster.daemon(k)!.pid!;
      expect(cluster.net.pids(k)).toContain(pid);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      expect(cmdline).toContain(`${cluster.root(k)}/opt/flynn-edge/current/apps/cli/bin/flynn-host.js`);
    }
  });

  it('a client at a public address reaches every host', async () => {
    for (const k of cluster.hosts) expect(await fromPublic(k)).toBe(`h${k}`);
  });

  it('a host whose link is cut stops answering; the others go on; healed, it answers again', async () => {
    cluster.net.cut(2);
    try {
      await expect(cluster.hostStatus(2, 1500)).rejects.toThrow();
      expect(await fromPublic(2)).toMatch(/^error /);
      expect(((await cluster.hostStatus(1)) as { id: string }).id).toBe('h1');
      expect(await fromPublic(3)).toBe('h3');
    } finally {
      cluster.net.heal(2);
    }
    await waitFor(async () => ((await cluster.hostStatus(2, 1000)) as { id: string }).id === 'h2', {
      timeoutMs: 15_000,
      what: 'host 2 answering again',
    });
  });

  it('a host blocked by its own firewall stops answering, and its daemon can be SIGKILLed', async () => {
    cluster.net.block(3);
    try {
      await expect(cluster.hostStatus(3, 1500)).rejects.toThrow();
    } finally {
      cluster.net.heal(3);
    }
    await cluster.waitHost(3, 15_000);
    const p = cluster.daemon(3)!;
    await p.kill('SIGKILL');
    expect(p.running).toBe(false);
    await expect(cluster.hostStatus(3, 1500)).rejects.toThrow();
    expect(((await cluster.hostStatus(1)) as { id: string }).id).toBe('h1');
  });
});

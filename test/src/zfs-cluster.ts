import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFlynn } from '@flynn-edge/cli/testing';
import { consecutivePorts, LocalCluster } from '@flynn-edge/local-cluster';
import { nextPortBlock } from '@flynn-edge/process-kit';
import { zfsReachable } from '@flynn-edge/zfs';

// The suites about app data (volumes, backups, imports) run a three-host LocalCluster whose hosts
// each have a ZFS pool (real zfs-fuse). Without zfs-fuse they skip, except under CI=true, where a
// missing zfs-fuse is a broken machine.

export interface ZfsCluster {
  /** False when zfs-fuse does not answer: the suite skips. */
  zfs: boolean;
  dir: string;
  cluster: LocalCluster;
  /** `flynn ARGS` against the cluster (DISCOVERD and the cluster key). */
  flynn: (...args: string[]) => ReturnType<typeof runFlynn>;
}

export async function zfsCluster(name: string, hosts: string[]): Promise<ZfsCluster> {
  const zfs = await zfsReachable();
  if (!zfs && process.env.CI === 'true') throw new Error('CI=true and zfs-fuse does not answer');
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const base = nextPortBlock(10 + hosts.length * 40);
  const cluster = new LocalCluster({
    hosts,
    dir,
    ports: { ...consecutivePorts(base, base + 10), jobPortsPerHost: 40 },
    zfsPoolPrefix: `${name.replace(/[^a-z]/g, '').slice(0, 6)}${process.pid}`,
  });
  const flynn = (...args: string[]) =>
    runFlynn(args, { DISCOVERD: cluster.discoverd, CLUSTER_KEY: cluster.keys.clusterKey });
  return { zfs, dir, cluster, flynn };
}

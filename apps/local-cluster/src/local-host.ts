import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess } from '@flynn-edge/process-kit';

// A flynn-host daemon for a cluster on one machine (the npm start demo, end-to-end tests): host
// `host<n>` on its own address, with its state, logs and volumes under `<dir>/host<n>/`, and,
// when a pool name is given, its own ZFS pool (zfs-fuse runs one daemon per machine).

const HOST_BIN = fileURLToPath(new URL('../../cli/bin/flynn-host.js', import.meta.url));

export interface LocalHostOptions {
  /** 1-based: the host id is `host<n>`. */
  n: number;
  ip: string;
  apiPort: number;
  dir: string;
  jobPorts: { start: number; end: number };
  /** ZFS pool for this host's volumes; without one the daemon runs with -no-volumes. */
  pool?: string;
  env?: Record<string, string>;
  detached?: boolean;
}

export function localHostDaemon(o: LocalHostOptions): ManagedProcess {
  const home = join(o.dir, `host${o.n}`);
  return new ManagedProcess({
    name: `flynn-host-${o.n}`,
    command: process.execPath,
    args: [
      HOST_BIN,
      'daemon',
      '-id',
      `host${o.n}`,
      '-external-ip',
      o.ip,
      '-api-port',
      String(o.apiPort),
      '-state',
      join(home, 'state'),
      '-log-dir',
      join(home, 'logs'),
      '-job-port-range',
      `${o.jobPorts.start}-${o.jobPorts.end}`,
      ...(o.pool ? ['-volpath', join(home, 'volumes'), '-zpool-name', o.pool] : ['-no-volumes']),
    ],
    env: o.env,
    logFile: join(o.dir, `host${o.n}.out`),
    detached: o.detached,
  });
}

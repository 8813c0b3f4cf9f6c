import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiscoverdProcessCluster } from '@flynn-edge/discoverd/testing';
import { localHostDaemon } from '@flynn-edge/local-cluster';
import { ManagedProcess } from '@flynn-edge/process-kit';
import { RouterProcess } from '@flynn-edge/router/testing';
import { StatusProcess } from '@flynn-edge/status-app/testing';

// The small real cluster the status tests and bench/status run the service against, one process
// of each kind on 127.0.0.71–75: discoverd (71), a router with PROXY protocol on and host name
// host1 (72), a logaggregator (73), a flynn-host daemon host1 (74) and the status process (75),
// routed at status.localflynn.test. Ports are base … base + 16. Not part of the service: it is
// exported as `@flynn-edge/status-app/status-cluster`.

const AGG_BIN = fileURLToPath(new URL('../../apps/logaggregator/bin/logaggregator.js', import.meta.url));

export const STATUS_CLUSTER_IPS = {
  router: '127.0.0.72',
  aggregator: '127.0.0.73',
  host: '127.0.0.74',
  status: '127.0.0.75',
} as const;

export const STATUS_DOMAIN = 'status.localflynn.test';

export interface StatusClusterOptions {
  base: number;
  dir: string;
  authKey: string;
  routerWorkers: number;
  statusArgs?: string[];
  statusEnv?: Record<string, string>;
}

export class StatusCluster {
  readonly discoverd: DiscoverdProcessCluster;
  /** DISCOVERD for clients: comma-separated addresses. */
  readonly discoverdAddrs: string;
  readonly router: RouterProcess;
  readonly aggregator: ManagedProcess;
  readonly host: ManagedProcess;
  readonly status: StatusProcess;
  /** The router's HTTP port (base + 2); the status listens on base + 16. */
  readonly httpPort: number;

  constructor(readonly opts: StatusClusterOptions) {
    const { base: B, dir } = opts;
    const ips = STATUS_CLUSTER_IPS;
    this.discoverd = new DiscoverdProcessCluster({ size: 1, port: B, dnsPort: B + 1, dir, firstHost: 71 });
    const DISCOVERD = this.discoverd.addrs.join(',');
    this.discoverdAddrs = DISCOVERD;
    this.httpPort = B + 2;
    this.router = new RouterProcess({
      ip: ips.router,
      httpPort: B + 2,
      httpsPort: B + 3,
      apiPort: B + 4,
      tcpRange: { start: B + 5, end: B + 6 },
      discoverd: DISCOVERD,
      workers: opts.routerWorkers,
      hostName: 'host1',
      env: { PROXY_PROTOCOL: 'true' },
      logFile: join(dir, 'router.log'),
    });
    this.aggregator = new ManagedProcess({
      name: 'logaggregator',
      command: process.execPath,
      args: [
        AGG_BIN,
        '-syslog-addr',
        `${ips.aggregator}:${B + 7}`,
        '-api-addr',
        `${ips.aggregator}:${B + 8}`,
      ],
      env: { DISCOVERD },
      logFile: join(dir, 'logaggregator.log'),
    });
    this.host = localHostDaemon({
      n: 1,
      ip: ips.host,
      apiPort: B + 9,
      dir,
      jobPorts: { start: B + 10, end: B + 15 },
      env: { DISCOVERD },
    });
    this.status = new StatusProcess({
      ip: ips.status,
      port: B + 16,
      discoverd: DISCOVERD,
      authKey: opts.authKey,
      hostId: 'host1',
      args: opts.statusArgs,
      env: opts.statusEnv,
      logFile: join(dir, 'status.log'),
    });
  }

  /** Every process, the status first. */
  get procs(): ManagedProcess[] {
    return [this.status.proc, this.router.proc, this.aggregator, this.host, ...this.discoverd.procs];
  }

  /** Starts everything, routes the status domain to status-web, and waits for the status to be ready. */
  async start(): Promise<void> {
    this.discoverd.start();
    await this.discoverd.leader(20_000);
    this.router.start();
    this.aggregator.start();
    this.host.start();
    this.status.start();
    await this.router.ready();
    const r = await fetch(`${this.router.apiUrl}/routes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'http', service: 'status-web', domain: STATUS_DOMAIN }),
    });
    if (r.status !== 200) throw new Error(`route ${STATUS_DOMAIN}: ${r.status} ${await r.text()}`);
    await this.status.ready();
  }

  async close(): Promise<void> {
    await this.status.close();
    await Promise.all([this.router.close(), this.aggregator.close(), this.host.close()]);
    await this.discoverd.close();
  }
}

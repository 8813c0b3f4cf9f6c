// One logaggregator instance: the syslog listener, the HTTP API, the peer snapshot on start and the
// discoverd registrations. bin/logaggregator (main.ts) and the tests both drive this class.

import type { DiscoverdClient, Heartbeater } from '@flynn-edge/discoverd-client';
import type { Instance } from '@flynn-edge/discoverd-state';
import {
  createHttpServer,
  createLogger,
  createMetrics,
  type HttpServer,
  type Logger,
  type Metrics,
  metricsMeta,
} from '@flynn-edge/service-kit';
import { Aggregator, DEFAULT_BUFFER } from './aggregator.js';
import { registerLogApi } from './api.js';
import { IngestServer } from './ingest.js';
import { fetchSnapshot, type LoadResult } from './snapshot.js';

export const DEFAULT_SERVICE_NAME = 'logaggregator';

export interface LogAggregatorOptions {
  /** Syslog listen address: `host:port`, `:port` (all interfaces) or a bare port. */
  syslogAddr: string;
  /** API listen address, same forms. */
  apiAddr: string;
  /** discoverd service of the syslog address; the API registers as `<name>-api`. */
  serviceName?: string;
  /** Messages kept per app. */
  capacity?: number;
  /** Live messages a follower may have queued. */
  followerBuffer?: number;
  /** Omit to run without discoverd (no peer snapshot, no registration). */
  discoverd?: DiscoverdClient;
  logger?: Logger;
  metrics?: Metrics;
  version?: string;
  /** Advertised IP when the listen host is a wildcard; default $EXTERNAL_IP, else 127.0.0.1. */
  advertiseIp?: string;
  /** flynn-host id of this host, for the API instance's HOST_ID meta; default $HOST_ID. */
  hostId?: string;
  /** Timeout of one peer snapshot download. */
  snapshotTimeoutMs?: number;
}

export interface ListenAddr {
  host: string | undefined;
  port: number;
}

/** `10.0.0.1:1514`, `:1514`, `1514`, `[::1]:1514` → host (undefined = every interface) and port. */
export function parseListenAddr(addr: string): ListenAddr {
  // A bare port (PORT_0 from a flynn-host job) is every interface, as the flag's usage says.
  if (/^\d+$/.test(addr)) {
    if (Number(addr) > 65535) throw new RangeError(`bad listen address ${JSON.stringify(addr)}`);
    return { host: undefined, port: Number(addr) };
  }
  const m = /^(?:\[([^\]]*)\]|([^:]*))?:?(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new RangeError(`bad listen address ${JSON.stringify(addr)}`);
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

function formatAddr(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export class LogAggregator {
  readonly aggregator: Aggregator;
  readonly ingest: IngestServer;
  readonly api: HttpServer;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly serviceName: string;
  /** Bound ports, once started. */
  syslogPort = 0;
  apiPort = 0;
  /** Addresses registered in discoverd, once started. */
  syslogAdvertised = '';
  apiAdvertised = '';
  /** The peer the start-up snapshot came from, if any. */
  snapshotPeer: string | undefined;
  snapshotResult: LoadResult | undefined;
  private readonly heartbeaters: Heartbeater[] = [];
  private readonly endFollowers: () => void;

  constructor(private readonly opts: LogAggregatorOptions) {
    this.serviceName = opts.serviceName ?? DEFAULT_SERVICE_NAME;
    this.logger = opts.logger ?? createLogger({ component: 'logaggregator' });
    this.metrics = opts.metrics ?? createMetrics('logaggregator');
    this.aggregator = new Aggregator({ capacity: opts.capacity ?? DEFAULT_BUFFER, metrics: this.metrics });
    // With flynn_logaggregator_buffer_messages and _apps: how full the buffers are.
    this.metrics
      .gauge(
        'flynn_logaggregator_buffer_capacity_messages',
        'Messages one app buffer holds (-buffer); buffer_messages / (apps * this) is the fill.',
      )
      .set(this.aggregator.capacity);
    this.ingest = new IngestServer({ aggregator: this.aggregator, logger: this.logger });
    this.api = createHttpServer({
      component: 'logaggregator',
      logger: this.logger,
      metrics: this.metrics,
      version: opts.version,
    });
    this.endFollowers = registerLogApi(this.api, {
      aggregator: this.aggregator,
      followerBuffer: opts.followerBuffer,
    }).endFollowers;
  }

  get apiUrl(): string {
    return `http://${this.apiAdvertised}`;
  }

  /** Listens, loads a running peer's buffer, then registers (so no shipper sees a half-empty instance). */
  async start(): Promise<void> {
    const syslog = parseListenAddr(this.opts.syslogAddr);
    const api = parseListenAddr(this.opts.apiAddr);
    await this.api.listen({ host: api.host ?? '0.0.0.0', port: api.port });
    this.apiPort = (this.api.server.address() as { port: number }).port;
    this.syslogPort = (await this.ingest.listen(syslog.host, syslog.port)).port;
    this.syslogAdvertised = formatAddr(this.advertisedHost(syslog.host), this.syslogPort);
    this.apiAdvertised = formatAddr(this.advertisedHost(api.host), this.apiPort);
    this.logger.info({ syslog: this.syslogAdvertised, api: this.apiAdvertised }, 'logaggregator listening');
    if (this.opts.discoverd) {
      await this.loadFromPeer();
      await this.register();
    }
  }

  private advertisedHost(host: string | undefined): string {
    if (host && host !== '0.0.0.0' && host !== '::') return host;
    return this.opts.advertiseIp || process.env.EXTERNAL_IP || '127.0.0.1';
  }

  /** Running `<name>-api` instances other than this one, oldest (the service leader) first. */
  async peers(): Promise<Instance[]> {
    const client = this.opts.discoverd;
    if (!client) return [];
    const list = await client.instances(`${this.serviceName}-api`);
    return list.filter((i) => i.addr !== this.apiAdvertised).sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  }

  /** Copies the buffer of the first peer that answers; a failure leaves the buffer as it is. */
  async loadFromPeer(): Promise<LoadResult | undefined> {
    let peers: Instance[];
    try {
      peers = await this.peers();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'cannot list peers; starting empty');
      return undefined;
    }
    for (const peer of peers) {
      const url = `http://${peer.addr}`;
      try {
        const result = await fetchSnapshot(this.aggregator, url, this.opts.snapshotTimeoutMs);
        this.snapshotPeer = peer.addr;
        this.snapshotResult = result;
        this.logger.info({ peer: peer.addr, ...result }, 'loaded peer snapshot');
        return result;
      } catch (err) {
        this.logger.warn({ peer: peer.addr, err: (err as Error).message }, 'peer snapshot failed');
      }
    }
    if (peers.length === 0) this.logger.info('no running peer; starting empty');
    return undefined;
  }

  private async register(): Promise<void> {
    const client = this.opts.discoverd!;
    const onError = (err: Error) => this.logger.warn({ err: err.message }, 'heartbeat failed');
    // The API instance names where Prometheus scrapes us (/metrics is on the API listener).
    this.heartbeaters.push(
      await client.addServiceAndRegister(`${this.serviceName}-api`, this.apiAdvertised, {
        onError,
        meta: metricsMeta(this.apiAdvertised, { hostId: this.opts.hostId }),
      }),
    );
    // Hosts find aggregators through the syslog service; its meta names the matching API.
    this.heartbeaters.push(
      await client.addServiceAndRegister(this.serviceName, this.syslogAdvertised, {
        onError,
        meta: { api_addr: this.apiAdvertised },
      }),
    );
    this.logger.info({ service: this.serviceName }, 'registered in discoverd');
  }

  /** Leaves discoverd, ends followers, stops both listeners. */
  async close(): Promise<void> {
    await Promise.allSettled(this.heartbeaters.splice(0).map((h) => h.close()));
    this.endFollowers();
    const closing = this.api.close();
    this.api.server.closeAllConnections();
    await Promise.all([closing, this.ingest.close()]);
  }
}

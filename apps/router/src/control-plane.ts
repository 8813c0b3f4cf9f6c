import { DiscoverdClient, type Heartbeater } from '@flynn-edge/discoverd-client';
import { type Backend, RouteState, ServiceBackends } from '@flynn-edge/router-binding';
import type { Route } from '@flynn-edge/router-core';
import {
  type Backend as EventBackend,
  RouterEvents,
  RouteStore,
  RouteSync,
  routeApiPlugin,
  type StreamEvent,
} from '@flynn-edge/router-store';
import {
  createHttpServer,
  createMetrics,
  FLYNN_EDGE_VERSION,
  type HttpServer,
  type Logger,
  type Metrics,
  metricsMeta,
} from '@flynn-edge/service-kit';
import { AggregatorRegistry, type PrometheusContentType } from 'prom-client';
import { AcmeIssuer } from './acme.js';
import type { RouterConfig } from './config.js';
import type { DataPlaneStatus } from './data-plane.js';
import type { DataPlaneHandle } from './worker-pool.js';

// The router's control side, in the primary: the route API (writes go to discoverd's cluster
// store in transactions), the /events stream with backend drain tracking, /metrics (its own
// plus every worker's), and the router-api / router-http registrations.

/** A data plane whose store watch has been silent this long is reported unhealthy. */
export const WATCH_STALE_MS = 10_000;

export interface ControlPlaneOptions {
  config: RouterConfig;
  log: Logger;
  /** The workers (or the in-process data plane). */
  dataPlane: DataPlaneHandle;
  /** Metrics of an in-process data plane share the primary's registry; workers are aggregated. */
  clusterMetrics: boolean;
  metrics?: Metrics;
}

export class ControlPlane {
  readonly client: DiscoverdClient;
  readonly store: RouteStore;
  readonly events = new RouterEvents(() => this.snapshotEvents());
  readonly api: HttpServer;
  readonly metrics: Metrics;
  /** The ACME issuer (managed certificates), when ACME_DIRECTORY_URL is set. */
  readonly acme: AcmeIssuer | undefined;
  private readonly sync: RouteSync;
  private readonly backends: ServiceBackends;
  private readonly state: RouteState;
  private readonly heartbeaters: Heartbeater[] = [];
  private readonly aggregator: AggregatorRegistry<PrometheusContentType> | undefined;

  constructor(private readonly opts: ControlPlaneOptions) {
    const cfg = opts.config;
    const log = opts.log;
    this.client = new DiscoverdClient({ servers: cfg.discoverd, clusterKey: cfg.clusterKey || undefined });
    this.store = new RouteStore(this.client.kv, {
      httpPorts: cfg.httpPorts,
      httpsPorts: cfg.httpsPorts,
      tcpRange: cfg.tcpRange,
      // Route writes plan from the synced copy of the route keys (no store reads first).
      view: () => this.sync.view,
    });
    this.metrics = opts.metrics ?? createMetrics('router');
    const backendEvents = this.metrics.counter(
      'flynn_router_backend_events_total',
      'Backends of routed services seen coming up or going down (discoverd up/down events).',
      ['event'],
    );
    backendEvents.inc({ event: 'up' }, 0);
    backendEvents.inc({ event: 'down' }, 0);
    this.backends = new ServiceBackends(
      this.client,
      {
        up: (b) => {
          backendEvents.inc({ event: 'up' });
          this.events.emit({ event: 'backend-up', backend: backendJSON(b) });
        },
        down: (b) => {
          backendEvents.inc({ event: 'down' });
          this.backendDown(b);
        },
      },
      log,
    );
    this.state = new RouteState({
      defaultPorts: [cfg.httpPorts[0], cfg.httpsPorts[0]].filter((p): p is number => p !== undefined),
      backends: this.backends,
      log,
    });
    this.sync = new RouteSync(
      this.client.kv,
      {
        set: (r: Route) => {
          this.state.set(r);
          this.events.emit({ event: 'set', route: r });
          this.acme?.routeChanged(r);
        },
        remove: (r: Route) => {
          this.state.remove(r);
          this.events.emit({ event: 'remove', route: r });
        },
        synced: () => {},
      },
      { log: (msg, err) => log.warn({ err: (err as Error)?.message ?? String(err) }, msg), keepView: true },
    );

    this.acme = cfg.acme
      ? new AcmeIssuer({
          config: cfg.acme,
          client: this.client,
          store: this.store,
          metrics: this.metrics,
          log,
          // Until the first full listing, the issuer lists the store itself.
          routes: () => (this.sync.listings > 0 ? this.sync.routes() : undefined),
          addr: `${advertisedIp(cfg.listenIp)}:${cfg.apiPort}`,
          http:
            cfg.httpPorts[0] === undefined
              ? undefined
              : { host: advertisedIp(cfg.listenIp), port: cfg.httpPorts[0] },
        })
      : undefined;
    const plane = this;
    this.metrics.gauge('flynn_router_routes', 'Routes in the route table (HTTP and TCP).', [], {
      collect() {
        this.set(plane.state.size);
      },
    });
    this.metrics.gauge('flynn_router_backends', 'Known backends of routed services, all services.', [], {
      collect() {
        this.set(plane.backends.services().reduce((n, c) => n + c.known().length, 0));
      },
    });
    this.aggregator = opts.clusterMetrics ? new AggregatorRegistry() : undefined;
    this.api = createHttpServer({
      component: 'router',
      logger: log,
      metrics: this.metrics,
      routes: { metrics: false },
      status: () => this.health(),
    });
    this.api.register(routeApiPlugin, {
      store: this.store,
      events: this.events,
      clusterKey: cfg.clusterKey || undefined,
    });
    this.api.get('/metrics', async (_req, reply) => {
      reply.header('content-type', this.metrics.contentType);
      const own = await this.metrics.text();
      if (!this.aggregator) return own;
      const workers = await this.aggregator.clusterMetrics();
      return `${own}\n${workers}`;
    });
    this.api.get('/router/status', async () => this.routerStatus());
  }

  /** What a new `/events` subscriber gets first: backend-up for every backend of drain-tracked services. */
  private snapshotEvents(): StreamEvent[] {
    return this.backends
      .services()
      .filter((c) => this.drainTracked(c.service))
      .flatMap((c) => c.known().map((b) => ({ event: 'backend-up' as const, backend: backendJSON(b) })));
  }

  private drainTracked(service: string): boolean {
    return this.state.routes().some((r) => r.service === service && r.drain_backends);
  }

  /** backend-down, then — for a drain-tracked service — backend-drained once no worker has a request in flight to it. */
  private backendDown(b: Backend): void {
    this.events.emit({ event: 'backend-down', backend: backendJSON(b) });
    if (!this.drainTracked(b.service)) return;
    this.opts.dataPlane.drain(b.service, b.addr).then(
      () => this.events.emit({ event: 'backend-drained', backend: backendJSON(b) }),
      (err: Error) => this.opts.log.error({ addr: b.addr, err: err.message }, 'drain failed'),
    );
  }

  /** Route table loaded everywhere and every store watch alive recently. */
  routerStatus(): {
    healthy: boolean;
    reason?: string;
    /** This process (the primary: route API, store watches, ACME) and its release. */
    pid: number;
    version: string;
    workers: DataPlaneStatus[];
    now: number;
  } {
    const workers = this.opts.dataPlane.status();
    const now = Date.now();
    let reason: string | undefined;
    if (workers.length === 0) reason = 'no data plane is running';
    for (const w of workers) {
      if (!w.synced) reason ??= `process ${w.pid} has not loaded the route table`;
      else if (now - w.watchAliveAt > WATCH_STALE_MS)
        reason ??= `process ${w.pid}: store watch silent for ${now - w.watchAliveAt} ms`;
    }
    return {
      healthy: reason === undefined,
      reason,
      pid: process.pid,
      version: FLYNN_EDGE_VERSION,
      workers,
      now,
    };
  }

  private health(): { status: string; detail?: unknown } {
    const s = this.routerStatus();
    return s.healthy ? { status: 'healthy' } : { status: 'unhealthy', detail: s.reason };
  }

  async start(): Promise<void> {
    await this.sync.start();
    const cfg = this.opts.config;
    await this.api.listen({ host: cfg.listenIp, port: cfg.apiPort });
  }

  /** Register router-api and router-http once the data plane serves. */
  async register(): Promise<void> {
    const cfg = this.opts.config;
    const ip = advertisedIp(cfg.listenIp);
    const log = this.opts.log;
    const onError = (err: Error) => log.warn({ err: err.message }, 'heartbeat failed');
    // router-api carries where Prometheus scrapes this router (/metrics on the API port) and the
    // host name it sends in Flynn-Router-Host, so the status service can find the router of a host.
    const apiAddr = `${ip}:${cfg.apiPort}`;
    this.heartbeaters.push(
      await this.client.addServiceAndRegister('router-api', apiAddr, {
        onError,
        meta: metricsMeta(apiAddr, { hostId: cfg.hostName }),
      }),
    );
    if (cfg.httpPorts[0] !== undefined) {
      this.heartbeaters.push(
        await this.client.addServiceAndRegister('router-http', `${ip}:${cfg.httpPorts[0]}`, { onError }),
      );
    }
    // Joins the issuer election once this router serves (it must answer its own challenges).
    await this.acme?.start();
  }

  async close(): Promise<void> {
    await this.acme?.close();
    await Promise.all(this.heartbeaters.map((h) => h.close()));
    this.sync.stop();
    this.backends.close();
    const closing = this.api.close();
    // /events streams would otherwise hold the close until their clients go away.
    this.api.server.closeAllConnections();
    await closing;
    await this.client.close();
  }
}

function backendJSON(b: Backend): EventBackend {
  const o: EventBackend = { service: b.service, addr: b.addr };
  if (b.app) o.app = b.app;
  if (b.jobId) o.job_id = b.jobId;
  return o;
}

/** The address other hosts reach this router on. */
export function advertisedIp(listenIp: string): string {
  if (listenIp && listenIp !== '0.0.0.0') return listenIp;
  return process.env.EXTERNAL_IP || '127.0.0.1';
}

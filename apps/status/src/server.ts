import { DiscoverdClient, type Heartbeater } from '@flynn-edge/discoverd-client';
import {
  createHttpServer,
  createMetrics,
  type HttpServer,
  type Logger,
  metricsMeta,
} from '@flynn-edge/service-kit';
import {
  type Check,
  clientDiscovery,
  createStatusMetrics,
  discoverdCheck,
  discoverdLeaderCheck,
  flynnHostCheck,
  hostRouterCheck,
  logaggregatorCheck,
  routerCheck,
  StatusService,
} from '@flynn-edge/status';

// The status process: a StatusService (checks, cache, rules from @flynn-edge/status) behind
// fastify, plus /livez, /readyz and /metrics, registered in discoverd as `status-web`.

export const STATUS_SERVICE = 'status-web';
export const COMPONENTS = ['discoverd', 'flynn-host', 'logaggregator', 'router'] as const;
export type Component = (typeof COMPONENTS)[number];

export interface StatusServerOptions {
  /** Listen host and port. */
  host: string;
  port: number;
  /** discoverd servers (host:port or URLs). */
  discoverd: readonly string[];
  authKey?: string;
  hostId?: string;
  /** Address registered in discoverd (host:port); undefined: do not register. */
  advertise?: string;
  /** Components reported but not counted. */
  optional?: readonly string[];
  /** Components not checked at all. */
  disabled?: readonly string[];
  version?: string;
  timeoutMs?: number;
  ttlMs?: number;
  raftMaxLag?: number;
  minFreeRatio?: number;
  minFreeBytes?: number;
  canaryApp?: string;
  clusterKey?: string;
  logger?: Logger;
}

export class StatusServer {
  readonly app: HttpServer;
  readonly service: StatusService;
  readonly client: DiscoverdClient;
  private heartbeater: Heartbeater | undefined;
  private firstRound: Promise<unknown> | undefined;

  constructor(readonly opts: StatusServerOptions) {
    this.client = new DiscoverdClient({
      servers: opts.discoverd,
      clusterKey: opts.clusterKey,
      requestTimeoutMs: opts.timeoutMs ?? 2000,
    });
    const discovery = clientDiscovery(this.client, opts.timeoutMs ?? 2000);
    const headers: Record<string, string> = opts.clusterKey
      ? { authorization: `Bearer ${opts.clusterKey}` }
      : {};
    const optional = new Set(opts.optional ?? []);
    const disabled = new Set(opts.disabled ?? []);
    const all: Record<Component, Check> = {
      discoverd: discoverdCheck({ discovery, maxLag: opts.raftMaxLag, headers }),
      'flynn-host': flynnHostCheck({
        discovery,
        minFreeRatio: opts.minFreeRatio,
        minFreeBytes: opts.minFreeBytes,
        headers,
      }),
      logaggregator: logaggregatorCheck({ discovery, canaryApp: opts.canaryApp, headers }),
      router: routerCheck({ discovery, headers }),
    };
    const checks = COMPONENTS.filter((c) => !disabled.has(c)).map((c) => ({
      ...all[c],
      optional: optional.has(c),
    }));

    const metrics = createMetrics('status');
    const statusMetrics = createStatusMetrics(metrics);
    this.service = new StatusService({
      checks,
      hostChecks: (hostId) => [
        discoverdLeaderCheck({ discovery, headers }),
        hostRouterCheck({ discovery, hostId, headers }),
      ],
      hostId: opts.hostId,
      authKey: opts.authKey,
      version: opts.version,
      ttlMs: opts.ttlMs,
      timeoutMs: opts.timeoutMs,
      observer: statusMetrics,
      onResponse: statusMetrics.onResponse,
    });

    this.app = createHttpServer({
      component: 'status',
      logger: opts.logger,
      metrics,
      version: opts.version,
      routes: { status: false, metrics: false },
    });
    const svc = this.service;
    this.app.get('/livez', async (_req, reply) => reply.code(200).send(''));
    this.app.get('/readyz', async (_req, reply) => reply.code((await this.ready()) ? 200 : 503).send(''));
    this.app.get('/metrics', async (request, reply) => {
      // Same key rule as the status: Prometheus scrapes from inside the cluster.
      const decision = svc.auth.check({
        peer: request.raw.socket.remoteAddress,
        forwardedFor: request.headers['x-forwarded-for'],
        authorization: request.headers.authorization,
        url: request.url,
      });
      if (!decision.ok) return reply.code(401).send('');
      return reply.header('content-type', metrics.contentType).send(await metrics.text());
    });
    // Every other path and method answers the status, as in Flynn. Bodies are ignored.
    this.app.register(async (sub) => {
      sub.removeAllContentTypeParsers();
      sub.addContentTypeParser('*', (_req, payload, done) => {
        payload.resume();
        payload.on('end', () => done(null, undefined));
        payload.on('error', (err) => done(err, undefined));
      });
      sub.route({
        method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
        url: '*',
        handler: async (request, reply) => {
          const r = await svc.handle({
            method: request.method,
            url: request.url,
            headers: request.headers,
            peer: request.raw.socket.remoteAddress,
          });
          if (r.auth && !r.auth.ok) {
            request.log.debug(
              { client: r.auth.client.address, source: r.auth.client.source },
              'status: key required',
            );
          }
          return reply.code(r.status).headers(r.headers).send(r.body);
        },
      });
    });
  }

  /** Ready: discoverd answers and a first round has completed. */
  async ready(): Promise<boolean> {
    if (!this.service.hasResult) return false;
    try {
      await this.client.send('GET', '/ping', { retryDeadlineMs: 0, timeoutMs: 1000 });
      return true;
    } catch {
      return false;
    }
  }

  /** The listening address (after start). */
  get address(): string {
    const a = this.app.server.address();
    return a && typeof a === 'object' ? `${a.address}:${a.port}` : '';
  }

  async start(): Promise<void> {
    await this.app.listen({ host: this.opts.host, port: this.opts.port });
    this.firstRound = this.service.clusterStatus().catch(() => {});
    if (this.opts.advertise) {
      // /metrics is served on the same listener; HOST_ID names this job's host.
      const meta = metricsMeta(this.opts.advertise, { hostId: this.opts.hostId, env: {} });
      const log = this.app.log;
      this.heartbeater = await this.client.addServiceAndRegister(STATUS_SERVICE, this.opts.advertise, {
        meta,
        onError: (err) => log.warn({ err: err.message }, 'heartbeat failed'),
      });
    }
  }

  async close(): Promise<void> {
    await this.heartbeater?.close();
    await this.firstRound;
    await this.app.close();
    await this.client.close();
  }
}

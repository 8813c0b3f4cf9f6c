import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DiscoverdClient, type Heartbeater } from '@flynn-edge/discoverd-client';
import { normalizeServer, PeerTrust } from '@flynn-edge/discoverd-client/servers';
import {
  createHttpServer,
  createMetrics,
  errors,
  type FastifyReply,
  type FastifyRequest,
  type HttpServer,
  isHttpError,
  type Logger,
  type Metrics,
  metricsMeta,
  secretKeyHook,
  sendError,
  sendNotFound,
} from '@flynn-edge/service-kit';
import { answerHeaders, type Exchange, exchange, upstreamHeaders } from './forward.js';
import { type Destination, parseDestination, SELF_SERVICE } from './paths.js';

// The controller gateway: the one door from outside into the cluster. The routers send
// controller.<domain> here (service `controller`); every request must present the cluster key,
// whatever its path, and is then forwarded to discoverd, to one host's API or to one registered
// instance of a service. Nothing else is reachable: an address that is not a registered instance
// of the named service is refused, so this is not an open proxy.

export const SERVICE_NAME = 'controller';
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
/** discoverd request bodies are small JSON; they are buffered to be re-sent after a redirect. */
const DISCOVERD_BODY_LIMIT = 1024 * 1024;
const MAX_REDIRECTS = 10;

export interface GatewayOptions {
  host: string;
  port: number;
  /** discoverd servers (host:port or URLs). */
  discoverd: readonly string[];
  clusterKey: string;
  /** Registered in discoverd as `controller` (host:port); undefined: not registered. */
  advertise?: string;
  /** A second listener serving /metrics and /.well-known/status without the key (inside only). */
  metrics?: { host: string; port: number; advertise?: string };
  hostId?: string;
  version?: string;
  /** Connect and answer-head timeout of one upstream request. */
  timeoutMs?: number;
  logger?: Logger;
}

type DestinationLabel = 'discoverd' | 'host' | 'service' | 'none';

export class ControllerGateway {
  readonly app: HttpServer;
  readonly metricsApp: HttpServer | undefined;
  readonly metrics: Metrics;
  readonly client: DiscoverdClient;
  private readonly servers: string[];
  private readonly trust: PeerTrust;
  /** The discoverd server that answered last: asked first next time. */
  private lastGood: string | undefined;
  private readonly open = new Set<Exchange>();
  private heartbeater: Heartbeater | undefined;
  private readonly timeoutMs: number;

  constructor(readonly opts: GatewayOptions) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.servers = [...new Set(opts.discoverd.map(normalizeServer))];
    this.trust = new PeerTrust(this.servers);
    this.client = new DiscoverdClient({
      servers: this.servers,
      clusterKey: opts.clusterKey,
      requestTimeoutMs: this.timeoutMs,
    });
    this.metrics = createMetrics('controller');
    const forwarded = this.metrics.counter(
      'flynn_controller_requests_total',
      'Requests by destination (none: refused or unknown path) and answer status.',
      ['destination', 'status'],
    );
    const withMetrics = opts.metrics !== undefined;
    this.app = createHttpServer({
      component: 'controller',
      logger: opts.logger,
      metrics: this.metrics,
      version: opts.version,
      // Both stay behind the key here; a -metrics-addr listener serves them to Prometheus.
      routes: { status: !withMetrics, metrics: !withMetrics },
    });
    this.app.addHook(
      'onRequest',
      secretKeyHook({
        key: opts.clusterKey,
        realm: 'controller',
        missing: 'the cluster key is required',
        wrong: 'invalid cluster key',
      }),
    );
    this.app.addHook('onResponse', (request, reply, done) => {
      const dest = request.raw.url ? parseDestination(request.raw.url) : undefined;
      const label: DestinationLabel = reply.statusCode === 401 || !dest ? 'none' : dest.kind;
      forwarded.inc({ destination: label, status: String(reply.statusCode) });
      done();
    });
    this.app.addHook('preClose', (done) => {
      // Open streams (watches, log -f) would keep close() waiting forever.
      for (const ex of this.open) ex.abort();
      done();
    });
    this.app.register(async (sub) => {
      // Bodies are not parsed: they are forwarded as they arrive (or buffered for discoverd).
      sub.removeAllContentTypeParsers();
      sub.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
      sub.route({ method: [...METHODS], url: '/*', handler: (req, reply) => this.handle(req, reply) });
    });
    this.metricsApp = withMetrics
      ? createHttpServer({
          component: 'controller',
          logger: opts.logger,
          metrics: this.metrics,
          version: opts.version,
        })
      : undefined;
  }

  /** `host:port` the gateway listens on (once started). */
  get address(): string {
    const a = this.app.server.address() as AddressInfo;
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  async start(): Promise<void> {
    await this.app.listen({ host: this.opts.host, port: this.opts.port });
    const m = this.opts.metrics;
    if (this.metricsApp && m) await this.metricsApp.listen({ host: m.host, port: m.port });
    if (this.opts.advertise) {
      const meta = m?.advertise ? metricsMeta(m.advertise, { hostId: this.opts.hostId }) : {};
      this.heartbeater = await this.client.addServiceAndRegister(SERVICE_NAME, this.opts.advertise, {
        meta,
        onError: (err: Error) => this.app.log.warn({ err: err.message }, 'heartbeat failed'),
      });
    }
  }

  async close(): Promise<void> {
    // Unregister first, so the routers stop sending requests here.
    await this.heartbeater?.close();
    await this.app.close();
    await this.metricsApp?.close();
    await this.client.close();
  }

  private async handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const dest = parseDestination(request.raw.url ?? '/');
    if (!dest) return sendNotFound(reply);
    let ex: Exchange;
    try {
      ex =
        dest.kind === 'discoverd'
          ? await this.toDiscoverd(request, dest.path)
          : await this.toInstance(request, dest);
    } catch (err) {
      return sendError(reply, err);
    }
    this.relay(request, reply, ex);
    return undefined;
  }

  /**
   * Sends the upstream answer on, its body piped as it arrives (SSE and NDJSON streams included).
   * The head goes out at once: a watch may say nothing for minutes, and the client must know it
   * is connected. The reply is hijacked for that (fastify writes the head with the first chunk);
   * its onResponse hooks still run when the response finishes.
   */
  private relay(request: FastifyRequest, reply: FastifyReply, ex: Exchange): void {
    const { res } = ex;
    this.open.add(ex);
    res.once('close', () => this.open.delete(ex));
    reply.hijack();
    const out = reply.raw;
    out.once('close', () => {
      if (!res.complete) ex.abort();
    });
    out.writeHead(res.statusCode ?? 502, answerHeaders(res.headers));
    if (request.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) {
      res.resume();
      out.end();
      return;
    }
    out.flushHeaders();
    res.on('error', () => out.destroy());
    res.on('aborted', () => out.destroy());
    res.pipe(out);
  }

  /** discoverd: each server in turn until one answers; 307s followed to the leader, key and body re-sent. */
  private async toDiscoverd(request: FastifyRequest, path: string): Promise<Exchange> {
    const body = await readBody(request.raw, DISCOVERD_BODY_LIMIT);
    const headers = upstreamHeaders(request.headers, this.opts.clusterKey, request.raw.socket.remoteAddress);
    const order = this.lastGood
      ? [this.lastGood, ...this.servers.filter((s) => s !== this.lastGood)]
      : this.servers;
    let lastError: unknown;
    for (const server of order) {
      let url = `${server}${path}`;
      try {
        for (let hops = 0; ; hops++) {
          const ex = await exchange(request.method, url, headers, body, this.timeoutMs);
          this.trust.observe(url, headerValue(ex.res.headers['discoverd-peers']));
          const location = headerValue(ex.res.headers.location);
          if (ex.res.statusCode !== 307 || !location) {
            this.lastGood = server;
            return ex;
          }
          ex.res.resume();
          const next = this.trust.redirect(url, location);
          if ('error' in next || !next.keepKey || hops >= MAX_REDIRECTS) {
            // Only discoverd peers get the key, and only they are reached through the gateway.
            throw errors.serviceUnavailable(`discoverd redirected to ${location}, which is not a known peer`);
          }
          url = next.url;
        }
      } catch (err) {
        if (isHttpError(err)) throw err;
        lastError = err;
        request.log.debug({ server, err: (err as Error).message }, 'discoverd server failed');
      }
    }
    throw errors.serviceUnavailable(
      `no discoverd server answered: ${(lastError as Error)?.message ?? 'none configured'}`,
    );
  }

  /** A host's API or one instance of a service: only addresses registered in discoverd. */
  private async toInstance(
    request: FastifyRequest,
    dest: Exclude<Destination, { kind: 'discoverd' }>,
  ): Promise<Exchange> {
    let addr: string;
    if (dest.kind === 'host') {
      const hosts = await this.lookup('flynn-host');
      const host = hosts.find((i) => i.meta?.id === dest.hostId);
      if (!host) throw errors.notFound(`no host ${JSON.stringify(dest.hostId)} is registered`);
      addr = host.addr;
    } else {
      if (dest.service === SELF_SERVICE)
        throw errors.notFound('the controller is not reachable through itself');
      const instances = await this.lookup(dest.service);
      if (!instances.some((i) => i.addr === dest.addr)) {
        throw errors.notFound(`${dest.addr} is not a registered instance of ${JSON.stringify(dest.service)}`);
      }
      addr = dest.addr;
    }
    const headers = upstreamHeaders(request.headers, this.opts.clusterKey, request.raw.socket.remoteAddress);
    const hasBody =
      request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined;
    try {
      return await exchange(
        request.method,
        `http://${addr}${dest.path}`,
        headers,
        hasBody ? request.raw : undefined,
        this.timeoutMs,
      );
    } catch (err) {
      throw errors.serviceUnavailable(`${addr}: ${(err as Error).message}`);
    }
  }

  private async lookup(service: string): Promise<{ addr: string; meta?: Record<string, string> }[]> {
    try {
      return await this.client.instances(service);
    } catch (err) {
      throw errors.serviceUnavailable(`discoverd: ${(err as Error).message}`);
    }
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The whole request body, or undefined when there is none; past `limit` a 400 request_body_too_big. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        // Drained, not kept: the 400 goes out on the same connection.
        req.removeAllListeners('data');
        req.resume();
        reject(errors.bodyTooBig());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

import * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChallengeTable } from '@flynn-edge/acme';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { RouteState, ServiceBackends } from '@flynn-edge/router-binding';
import { ACME_CHALLENGE_PATH, type Route } from '@flynn-edge/router-core';
import { createProxyMetrics, HttpProxy, readProxyProtocolV1 } from '@flynn-edge/router-proxy';
import { RouteSync } from '@flynn-edge/router-store';
import { TcpRouteProxy } from '@flynn-edge/router-tcp';
import { FLYNN_EDGE_VERSION, type Logger } from '@flynn-edge/service-kit';
import { SniContextCache } from '@flynn-edge/tls';
import type { Registry } from 'prom-client';
import type { RouterConfig } from './config.js';
import { TlsTerminator } from './tls-listener.js';

// The data path of one process: the store watch feeding the route table, backend watches, the
// HTTP/HTTPS proxy and the TCP routes. In cluster mode every worker runs one; with -workers 0 the
// primary runs it itself. Listening sockets opened here are shared through the cluster primary.

const START_SYNC_WAIT_MS = 30_000;

/** The TLS socket shares its raw socket's peer address and port. */
function peerKey(s: { remoteAddress?: string; remotePort?: number }): string {
  return `${s.remoteAddress}:${s.remotePort}`;
}

/** An HTTPS connection in its handshake: the handshake and first head share the header timeout. */
interface Handshake {
  acceptedAt: number;
  guard: NodeJS.Timeout;
}

export interface DataPlaneStatus {
  pid: number;
  /** The flynn-edge release this process runs (a SIGHUP after an update moves workers on). */
  version: string;
  /** The route table has been loaded from the store at least once. */
  synced: boolean;
  routes: number;
  /** Store revision the route table reflects. */
  revision: number;
  /** When the store watch last showed a sign of life (ms since epoch), 0 if never. */
  watchAliveAt: number;
  connections: number;
}

export interface DataPlaneOptions {
  config: RouterConfig;
  /** The default certificate (configured, or generated once by the primary). */
  defaultCert: { certPem: string; keyPem: string };
  errorPage?: Buffer;
  log: Logger;
  registry: Registry;
}

export class DataPlane {
  readonly client: DiscoverdClient;
  readonly state: RouteState;
  readonly proxy: HttpProxy;
  readonly tcp: TcpRouteProxy;
  /** http-01 tokens from the store, answered before route matching. */
  readonly challenges: ChallengeTable;
  private readonly sync: RouteSync;
  private readonly backends: ServiceBackends;
  private readonly servers: net.Server[] = [];
  private readonly tls = new Map<number, TlsTerminator>();
  private readonly handshakes = new Map<string, Handshake>();
  private synced = false;
  private readonly cfg: RouterConfig;
  private readonly log: Logger;

  constructor(private readonly opts: DataPlaneOptions) {
    const cfg = opts.config;
    this.cfg = cfg;
    this.log = opts.log;
    this.client = new DiscoverdClient({ servers: cfg.discoverd, clusterKey: cfg.clusterKey || undefined });
    this.backends = new ServiceBackends(this.client, {}, opts.log);
    this.tcp = new TcpRouteProxy({
      host: cfg.tcpIp,
      range: cfg.tcpRange,
      logger: opts.log,
      metrics: opts.registry,
    });
    const defaultPorts = [cfg.httpPorts[0], cfg.httpsPorts[0]].filter((p): p is number => p !== undefined);
    this.state = new RouteState({ defaultPorts, backends: this.backends, tcp: this.tcp, log: opts.log });
    this.challenges = new ChallengeTable(this.client.kv, {
      log: (msg, err) => opts.log.warn({ err: (err as Error)?.message ?? String(err) }, msg),
    });
    const challenges = this.challenges;
    this.proxy = new HttpProxy({
      resolver: this.state,
      localResponder: {
        prefix: ACME_CHALLENGE_PATH,
        answer: (host, target) => challenges.answer(host, target),
      },
      cookieKey: Buffer.from(cfg.cookieKey, 'base64'),
      error503Page: opts.errorPage,
      proxyProtocol: cfg.proxyProtocol,
      hostName: cfg.hostName,
      maxConnections: cfg.maxConnections,
      timeouts: {
        idleMs: cfg.idleTimeoutMs,
        headerMs: cfg.headerTimeoutMs,
        responseHeaderMs: cfg.responseHeaderTimeoutMs,
      },
      logger: opts.log,
      accessLog: cfg.accessLog ? (entry) => opts.log.info(entry, 'request complete') : undefined,
      metrics: createProxyMetrics(opts.registry),
    });
    this.sync = new RouteSync(
      this.client.kv,
      {
        set: (r: Route) => this.state.set(r),
        remove: (r: Route) => this.state.remove(r),
        synced: () => {
          this.synced = true;
        },
      },
      {
        log: (msg, err) => opts.log.warn({ err: (err as Error)?.message ?? String(err) }, msg),
        // A cheap store read every 2 s proves the watch's connection end to end (status relies on it).
        probeIntervalMs: 2000,
      },
    );
  }

  /** Loads the routes, then listens. Resolves once serving. */
  async start(): Promise<void> {
    await this.tcp.start();
    await this.challenges.start();
    await this.sync.start();
    // Serving before the routes are loaded would answer 404 for every route: wait a while for
    // discoverd, but a router that cannot reach it still comes up (and reports unhealthy).
    const deadline = Date.now() + START_SYNC_WAIT_MS;
    while (!this.synced && Date.now() < deadline) await sleep(50);
    if (!this.synced) this.log.error('route table not loaded from discoverd yet; serving anyway');
    // Nor before each route's backends are known (their own watches): a new worker replacing an
    // old one (SIGHUP) would answer 503 for a route whose backends are all up.
    const cold = () => this.backends.services().filter((c) => !c.synced);
    while (cold().length > 0 && Date.now() < deadline) await sleep(20);
    if (cold().length > 0)
      this.log.warn({ services: cold().map((c) => c.service) }, 'backends not loaded yet; serving anyway');
    for (const port of this.cfg.httpPorts) this.servers.push(await this.listen(port, 'http'));
    for (const port of this.cfg.httpsPorts) {
      const sni = new SniContextCache({
        lookup: this.state.sniLookup(port),
        defaultContext: this.opts.defaultCert,
        minVersion: this.cfg.legacyTls ? 'TLSv1' : 'TLSv1.2',
        maxContexts: this.cfg.maxTlsContexts,
      });
      this.tls.set(
        port,
        new TlsTerminator({
          sni,
          onSecure: (s, clientAddress) => {
            const info = {
              listenerPort: port,
              scheme: 'https' as const,
              clientAddress,
              acceptedAt: this.handshakeDone(s),
            };
            if (s.alpnProtocol === 'h2') this.proxy.handleHttp2(s, info);
            else this.proxy.handleConnection(s, info);
          },
        }),
      );
      this.servers.push(await this.listen(port, 'https'));
    }
  }

  private listen(port: number, scheme: 'http' | 'https'): Promise<net.Server> {
    const info = { listenerPort: port, scheme } as const;
    const onConnection =
      scheme === 'http'
        ? (sock: net.Socket) => this.proxy.handleConnection(sock, info)
        : (sock: net.Socket) => this.acceptTls(sock, port);
    // allowHalfOpen: a client's FIN must not end the response still on its way (the proxy wants it).
    const server = net.createServer({ noDelay: true, allowHalfOpen: true }, onConnection);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.cfg.listenIp, port, backlog: 4096 }, () => {
        server.removeListener('error', reject);
        server.on('error', (err) => this.log.error({ port, err: err.message }, 'listener error'));
        resolve(server);
      });
    });
  }

  private acceptTls(raw: net.Socket, port: number): void {
    const tlsTerm = this.tls.get(port);
    if (!tlsTerm) {
      raw.destroy();
      return;
    }
    this.guardHandshake(raw);
    if (!this.cfg.proxyProtocol) {
      tlsTerm.accept(raw);
      return;
    }
    raw.on('error', () => raw.destroy());
    readProxyProtocolV1(raw, this.cfg.headerTimeoutMs).then(
      ({ source, rest }) => {
        if (rest.length > 0) raw.unshift(rest);
        tlsTerm.accept(raw, source?.address);
      },
      () => raw.destroy(),
    );
  }

  /** A raw HTTPS socket that has not finished its handshake within the header timeout is closed. */
  private guardHandshake(raw: net.Socket): void {
    const key = peerKey(raw);
    const h: Handshake = {
      acceptedAt: Date.now(),
      guard: setTimeout(() => raw.destroy(), this.cfg.headerTimeoutMs),
    };
    this.handshakes.set(key, h);
    raw.once('close', () => {
      clearTimeout(h.guard);
      if (this.handshakes.get(key) === h) this.handshakes.delete(key);
    });
  }

  /** Ends the handshake guard of a secured socket; returns when its raw socket was accepted. */
  private handshakeDone(s: net.Socket): number | undefined {
    const key = peerKey(s);
    const h = this.handshakes.get(key);
    if (h === undefined) return undefined;
    this.handshakes.delete(key);
    clearTimeout(h.guard);
    return h.acceptedAt;
  }

  /** Take `addr` out of rotation and resolve when this process has no request in flight to it. */
  async drain(service: string, addr: string): Promise<void> {
    this.backends.get(service)?.withhold(addr);
    await this.proxy.whenIdle(addr);
  }

  status(): DataPlaneStatus {
    return {
      pid: process.pid,
      version: FLYNN_EDGE_VERSION,
      synced: this.synced,
      routes: this.state.size,
      revision: this.sync.revision,
      watchAliveAt: this.sync.lastAliveAt,
      connections: this.proxy.openConnections,
    };
  }

  /** Stop accepting, finish requests in flight, close idle keep-alive connections, release watches. */
  async close(graceMs = 30_000): Promise<void> {
    // server.close() calls back only once every connection is gone, so start it, then close them.
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    // Websocket tunnels would hold the close forever: they get the grace period, then end.
    await this.proxy.close(graceMs);
    await closed;
    this.sync.stop();
    this.challenges.stop();
    // Spliced TCP connections get a grace period to finish on their own.
    const deadline = Date.now() + graceMs;
    while (this.tcp.activeConnections() > 0 && Date.now() < deadline) await sleep(100);
    await this.tcp.close();
    this.backends.close();
    await this.client.close();
  }
}

import { request } from 'node:http';
import { connect } from 'node:net';
import { configureAcmeHttp, ISSUER_SERVICE, Issuer, IssuerElection } from '@flynn-edge/acme';
import type { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { ACME_CHALLENGE_PATH, type Route } from '@flynn-edge/router-core';
import type { RouteStore } from '@flynn-edge/router-store';
import type { Logger, Metrics } from '@flynn-edge/service-kit';
import type { AcmeConfig } from './config.js';

// The control plane's part of managed certificates: every router joins the `router-acme`
// election and runs an Issuer that orders only while this router leads (its orders in flight
// are aborted when it steps down). It plans from this router's synced route view. The issuer
// checks that this router answers a challenge before telling the ACME server to look.

const LOCAL_WAIT_MS = 10_000;

export interface AcmeIssuerOptions {
  config: AcmeConfig;
  client: DiscoverdClient;
  store: RouteStore;
  metrics: Metrics;
  log: Logger;
  /**
   * The routes as this router's sync sees them (the plan and the metrics read them); undefined
   * before the first listing (the issuer then lists the store).
   */
  routes(): Route[] | undefined;
  /** This router's API address (its instance in the election). */
  addr: string;
  /** Where this router serves plain HTTP, if it does. */
  http?: { host: string; port: number };
}

export class AcmeIssuer {
  readonly election: IssuerElection;
  readonly issuer: Issuer;

  constructor(private readonly opts: AcmeIssuerOptions) {
    const cfg = opts.config;
    const log = opts.log;
    configureAcmeHttp({ caPem: cfg.caPem, retries: cfg.httpRetries });
    this.election = new IssuerElection({
      client: opts.client,
      addr: opts.addr,
      onChange: (leader) => {
        log.info(
          { leader },
          leader ? 'acme: this router is the issuer' : 'acme: this router is not the issuer',
        );
        if (leader) this.issuer.kick();
        else this.issuer.stepDown();
      },
      onError: (err) => log.warn({ err: err.message }, 'acme: election'),
    });
    this.issuer = new Issuer({
      kv: opts.client.kv,
      store: opts.store,
      account: { directoryUrl: cfg.directoryUrl, contact: cfg.contact, termsAgreed: cfg.termsAgreed },
      isLeader: () => this.election.isLeader,
      id: () => this.election.id,
      liveIssuers: async () => new Set((await opts.client.instances(ISSUER_SERVICE)).map((i) => i.id)),
      maxInFlight: cfg.maxInFlight,
      timing: cfg.timing,
      awaitLocal: opts.http ? (domain, token, ka) => this.awaitLocal(domain, token, ka) : undefined,
      metrics: opts.metrics,
      routesView: opts.routes,
      // RouteStore compares only the status in `expect` until review finding 6's store side
      // lands; then set true (the issuer stops its own pre-write read).
      log,
    });
  }

  async start(): Promise<void> {
    this.issuer.start();
    await this.election.start();
  }

  /** A route changed: a new or updated managed certificate is looked at now, not at the next poll. */
  routeChanged(r: Route): void {
    if (r.type === 'http' && r.managed_certificate && this.election.isLeader) this.issuer.kick();
  }

  async close(): Promise<void> {
    await this.issuer.close();
    await this.election.close();
  }

  /** Polls this router's HTTP port until it answers the token (or gives up and lets ACME try). */
  private async awaitLocal(domain: string, token: string, keyAuth: string): Promise<void> {
    const http = this.opts.http!;
    const deadline = Date.now() + LOCAL_WAIT_MS;
    while (Date.now() < deadline) {
      const path = `${ACME_CHALLENGE_PATH}${token}`;
      if ((await getBody(http.host, http.port, domain, path, this.opts.config.proxyProtocol)) === keyAuth)
        return;
      await new Promise((r) => setTimeout(r, 25));
    }
    this.opts.log.warn(
      { domain, token },
      'acme: this router does not serve the challenge yet; asking anyway',
    );
  }
}

/** GET of `path` on this router; with PROXY_PROTOCOL on, the connection starts with a PROXY line. */
function getBody(
  host: string,
  port: number,
  hostHeader: string,
  path: string,
  proxyProtocol: boolean,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port,
        path,
        headers: { host: hostHeader },
        timeout: 2000,
        agent: false,
        ...(proxyProtocol
          ? {
              createConnection: () => {
                const s = connect(port, host);
                s.write('PROXY UNKNOWN\r\n');
                return s;
              },
            }
          : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}
